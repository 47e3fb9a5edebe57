"""Alerts with a lifecycle, silences and inhibition: one alert per (rule, zone or line).

Each tick the model hands :meth:`AlertBook.evaluate` one :class:`Condition` per
(rule, subject). An alert then moves::

    (none) --true--> pending --true for pending_s--> firing --ack--> acknowledged
    firing/acknowledged --false for hold_s--> resolved --close_after_s--> closed
    resolved --true--> firing (the same alert, reopened)
    acknowledged --severity above the acknowledged one--> firing (escalated: notify again)

A condition that is *unknown* (``active=None``: the zone is stale) freezes the alert.
Muted alerts (silenced, or inhibited by another firing alert of the same subject) go
through the same lifecycle but are not notified while muted; once an alert was
notified, its acknowledgement, resolution and closing are always notified.
Every transition and operator action is appended to the :class:`~hub.zones.log.AlertLog`.
"""

from __future__ import annotations

__all__ = ["AlertBook", "AlertRecord", "Condition", "Silence"]

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from hub.zones.config import AlertRule
from hub.zones.log import AlertLog

OPEN_STATES = ("pending", "firing", "acknowledged", "resolved")


@dataclass(frozen=True)
class Condition:
    """A rule's verdict on one subject at one tick."""

    active: bool | None
    rank: int = 0
    severity: str = "warning"
    value: float | None = None
    threshold: float | None = None
    summary: str = ""
    floor: int = 0
    """Level rules: the index of the rule's level in the subject's level set."""


@dataclass
class AlertRecord:
    """One alert (times: POSIX seconds)."""

    alert_id: str
    rule: str
    subject: str
    state: str
    since: float
    severity: str = "warning"
    rank: int = 0
    value: float | None = None
    threshold: float | None = None
    summary: str = ""
    fired_at: float | None = None
    acked_at: float | None = None
    acked_by: str | None = None
    ack_note: str = ""
    acked_rank: int = 0
    clear_since: float | None = None
    resolved_at: float | None = None
    closed_at: float | None = None
    escalated: bool = False
    silenced: bool = False
    inhibited: bool = False
    notified: list[Any] | None = None  # [state, rank] last notified
    floor: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.subject)

    @property
    def active(self) -> bool:
        """Firing or acknowledged (the states that mute others)."""
        return self.state in ("firing", "acknowledged")


@dataclass(frozen=True)
class Silence:
    """Mutes notifications of matching alerts until ``until`` (POSIX seconds)."""

    silence_id: str
    until: float
    reason: str
    by: str
    created: float
    rule: str | None = None
    subject: str | None = None

    def matches(self, a: AlertRecord) -> bool:
        return (self.rule is None or self.rule == a.rule) and (
            self.subject is None or self.subject == a.subject
        )


@dataclass
class AlertBook:
    """Every open alert, the silences, and the log of what happened."""

    log: AlertLog = field(default_factory=AlertLog)
    open: dict[tuple[str, str], AlertRecord] = field(default_factory=dict)
    closed: list[AlertRecord] = field(default_factory=list)
    silences: dict[str, Silence] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    keep_closed: int = 200
    outbox: list[AlertRecord] = field(default_factory=list)
    """Notifications of operator actions, sent with the next evaluation."""

    # --- lifecycle ----------------------------------------------------------------------

    def evaluate(
        self,
        now: float,
        rules: dict[str, AlertRule],
        conditions: dict[tuple[str, str], Condition],
        subjects: set[str] | frozenset[str] = frozenset(),
    ) -> list[AlertRecord]:
        """Advance every alert; returns the alerts to notify now.

        An alert whose rule or subject (when ``subjects`` is given) is no longer
        configured is closed.
        """
        for key, cond in conditions.items():
            a = self.open.get(key)
            if cond.active and a is None:
                a = self._new(key, now)
            if a is not None:
                self._step(a, rules[key[0]], cond, now)
        for key in [k for k in self.open if k not in conditions]:
            rule = rules.get(key[0])
            a = self.open[key]
            gone = rule is None or bool(subjects and key[1] not in subjects)
            if gone or a.state == "pending":
                self._close(a, now, "rule or subject removed" if gone else "")
            else:
                assert rule is not None
                self._step(a, rule, Condition(active=False), now)
        self._expire_silences(now)
        self._mute(rules)
        queued, self.outbox = self.outbox, []
        return queued + self._notifications()

    def _new(self, key: tuple[str, str], now: float) -> AlertRecord:
        n = self.counters.get("/".join(key), 0) + 1
        self.counters["/".join(key)] = n
        a = AlertRecord(f"{key[0]}/{key[1]}/{n}", key[0], key[1], "pending", since=now)
        self.open[key] = a
        return a

    def _step(self, a: AlertRecord, rule: AlertRule, c: Condition, now: float) -> None:
        if c.active is None:
            return  # unknown (stale): neither fire nor resolve
        if c.active:
            a.value, a.threshold, a.summary, a.floor = c.value, c.threshold, c.summary, c.floor
            a.clear_since = None
            if a.state == "pending" and now - a.since >= rule.pending_s:
                a.state, a.fired_at = "firing", now
                a.severity, a.rank = c.severity, c.rank
                self.log.append(now, "fired", alert=a)
            elif a.state == "resolved":
                a.state, a.resolved_at, a.fired_at = "firing", None, now
                a.severity, a.rank, a.escalated = c.severity, c.rank, False
                self.log.append(now, "reopened", alert=a)
            elif a.state in ("firing", "acknowledged"):
                if a.state == "acknowledged" and c.rank > a.acked_rank:
                    a.state, a.escalated = "firing", True
                    a.severity, a.rank = c.severity, c.rank
                    self.log.append(now, "escalated", alert=a)
                else:
                    a.severity, a.rank = c.severity, c.rank
            return
        if a.state == "pending":
            del self.open[a.key]  # never fired: no trace
        elif a.state in ("firing", "acknowledged"):
            if a.clear_since is None:
                a.clear_since = now
            if now - a.clear_since >= rule.hold_s:
                a.state, a.resolved_at = "resolved", now
                self.log.append(now, "resolved", alert=a)
        elif a.state == "resolved":
            assert a.resolved_at is not None
            if now - a.resolved_at >= rule.close_after_s:
                self._close(a, now, "")

    def _close(self, a: AlertRecord, now: float, note: str) -> None:
        del self.open[a.key]
        if a.state == "pending":
            return
        a.state, a.closed_at = "closed", now
        self.closed.append(a)
        del self.closed[: -self.keep_closed]
        self.log.append(now, "closed", alert=a, note=note)

    # --- operator actions ---------------------------------------------------------------

    def find(self, alert_id: str) -> AlertRecord:
        for a in self.open.values():
            if a.alert_id == alert_id:
                return a
        raise KeyError(f"no open alert {alert_id!r}; open: {', '.join(self.ids()) or '(none)'}")

    def ids(self) -> list[str]:
        return sorted(a.alert_id for a in self.open.values())

    def acknowledge(self, alert_id: str, *, by: str, note: str, now: float) -> AlertRecord:
        a = self.find(alert_id)
        if a.state not in ("firing", "acknowledged"):
            raise ValueError(
                f"alert {alert_id!r} is {a.state}: only a firing alert is acknowledged"
            )
        a.state, a.acked_at, a.acked_by, a.ack_note = "acknowledged", now, by, note
        a.acked_rank, a.escalated = a.rank, False
        self.log.append(now, "acknowledged", alert=a, by=by, note=note)
        self._queue(a)
        return a

    def _queue(self, a: AlertRecord) -> None:
        """Notify this state even if the alert moves on before the next evaluation."""
        if a.notified is not None:
            a.notified = [a.state, a.rank]
            self.outbox.append(replace(a))

    def close(self, alert_id: str, *, by: str, note: str, now: float) -> AlertRecord:
        a = self.find(alert_id)
        if a.state != "resolved":
            raise ValueError(f"alert {alert_id!r} is {a.state}: only a resolved alert is closed")
        self._close(a, now, note)
        self.log.append(now, "closed_by", alert=a, by=by, note=note)
        self._queue(a)
        return a

    def silence(
        self,
        *,
        until: float,
        reason: str,
        by: str,
        now: float,
        rule: str | None = None,
        subject: str | None = None,
    ) -> Silence:
        if until <= now:
            raise ValueError("a silence must end in the future")
        if not reason.strip():
            raise ValueError("a silence needs a reason")
        n = self.counters.get("silence", 0) + 1
        self.counters["silence"] = n
        s = Silence(f"silence-{n}", until, reason, by, now, rule, subject)
        self.silences[s.silence_id] = s
        self.log.append(now, "silenced", by=by, note=reason, **_match(s))
        return s

    def unsilence(self, silence_id: str, *, by: str, now: float) -> None:
        s = self.silences.pop(silence_id, None)
        if s is None:
            raise KeyError(f"no silence {silence_id!r}")
        self.log.append(now, "unsilenced", by=by, note=s.reason, **_match(s))

    def _expire_silences(self, now: float) -> None:
        for s in [s for s in self.silences.values() if s.until <= now]:
            del self.silences[s.silence_id]
            self.log.append(now, "silence_expired", note=s.reason, **_match(s))

    # --- muting and notifications -------------------------------------------------------

    def _mute(self, rules: dict[str, AlertRule]) -> None:
        firing: dict[str, list[AlertRecord]] = {}
        for a in self.open.values():
            if a.active:
                firing.setdefault(a.subject, []).append(a)
        for a in self.open.values():
            a.silenced = any(s.matches(a) for s in self.silences.values())
            a.inhibited = any(self._inhibits(o, a, rules) for o in firing.get(a.subject, ()))

    @staticmethod
    def _inhibits(o: AlertRecord, a: AlertRecord, rules: dict[str, AlertRule]) -> bool:
        if o is a:
            return False
        ro, ra = rules.get(o.rule), rules.get(a.rule)
        if ro is None or ra is None:
            return False
        if a.rule in ro.inhibits:
            return True
        if ro.kind == "level" and ra.kind == "level":
            # a red alert of a zone mutes its orange one
            return o.floor > a.floor
        # a dead sensor mutes "too quiet"
        return ro.kind == "sensor_silent" and ra.kind == "too_quiet"

    def _notifications(self) -> list[AlertRecord]:
        out = []
        for a in [*self.open.values(), *self.closed[-20:]]:
            if a.state == "pending":
                continue
            if a.state == "firing" and (a.silenced or a.inhibited):
                continue
            if a.state != "firing" and a.notified is None:
                continue  # never notified as firing: its later states are no news
            mark = [a.state, a.rank]
            if a.notified != mark:
                a.notified = mark
                out.append(a)
        return out

    # --- snapshot -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": [asdict(a) for a in self.open.values()],
            "closed": [asdict(a) for a in self.closed[-self.keep_closed :]],
            "silences": [asdict(s) for s in self.silences.values()],
            "counters": dict(self.counters),
            "log_seq": self.log.seq,
        }

    def load(self, data: dict[str, Any]) -> None:
        self.open = {}
        for raw in data.get("open", []):
            a = AlertRecord(**raw)
            self.open[a.key] = a
        self.closed = [AlertRecord(**raw) for raw in data.get("closed", [])]
        self.silences = {s["silence_id"]: Silence(**s) for s in data.get("silences", [])}
        self.counters = {k: int(v) for k, v in data.get("counters", {}).items()}
        self.log.seq = int(data.get("log_seq", 0))


def _match(s: Silence) -> dict[str, Any]:
    return {"silence_id": s.silence_id, "rule": s.rule, "subject": s.subject, "until": s.until}
