"""``hub zones`` and ``hub alerts``: the crowd picture of a running hub, and acting on it.

* ``hub zones [FILE] [--data-dir DIR] [--json]`` reads ``data_dir/zones.json``, which
  the hub rewrites every second: each zone's level, occupancy, method, freshness and
  open alerts. Exit 1 (after the last known picture) when the hub is not running.
* ``hub alerts [list|ack|close|silence|unsilence|measure|log]`` lists the open alerts
  and acts on them through the hub's control socket (``data_dir/control.sock``).
  An alert is named by its id (``level-red/pier/3``) or by rule and zone
  (``level-red/pier``: there is at most one open alert of a rule per zone).

The config file is read for ``[hub] data_dir`` only (as ``hub status`` does). Exit
status: 0 done, 1 refused or the hub is not running, 2 bad usage.
"""

from __future__ import annotations

import argparse
import getpass
import http.client
import json
import socket
import sys
from pathlib import Path
from typing import Any

from hub.cli.status import find_status_file, liveness
from hub.zones.log import query, read_jsonl, to_csv

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
CONTROL_SOCKET = "control.sock"  # hub.core.zone_control.CONTROL_SOCKET
PICTURE_FILE = "zones.json"


class _Failed(Exception):
    """One line for stderr and exit status 1."""


# -- finding the hub -----------------------------------------------------------------------


def _data_dir(args: argparse.Namespace) -> Path:
    where = find_status_file(args)
    if isinstance(where, str):
        raise _Failed(where)
    return where.parent


def _picture(data_dir: Path) -> tuple[dict[str, Any], str]:
    """The last picture the hub wrote, and why the hub is not running ('' when it is)."""
    path = data_dir / PICTURE_FILE
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _Failed(
            f"hub: no zone picture at {path}: no hub with zones has run with this data_dir "
            "(zones need [[site.zones]] and [zones] enabled)"
        ) from None
    except (OSError, ValueError) as err:
        raise _Failed(f"hub: cannot read {path}: {err}") from None
    alive = liveness(doc)
    return doc, "" if alive.running else alive.reason


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def call(data_dir: Path, action: str, params: dict[str, Any], timeout: float = 10.0) -> Any:
    """Perform ``action`` on the hub whose data dir is ``data_dir``; its JSON reply."""
    path = data_dir / CONTROL_SOCKET
    conn = _UnixConnection(path, timeout)
    try:
        conn.request(
            "POST",
            f"/actions/{action}",
            body=json.dumps(params),
            headers={"Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        body = resp.read()
    except (FileNotFoundError, ConnectionRefusedError):
        raise _Failed(
            f"hub: no running hub at {data_dir} (no control socket {path}); start it with "
            "`hub run FILE`, or give its config file or --data-dir"
        ) from None
    except PermissionError:
        raise _Failed(
            f"hub: permission denied on {path}: run this as the user the hub runs as"
        ) from None
    except (OSError, http.client.HTTPException) as err:
        raise _Failed(f"hub: cannot reach the hub at {path}: {err}") from None
    finally:
        conn.close()
    try:
        reply = json.loads(body)
    except ValueError:
        raise _Failed(f"hub: unexpected reply from {path} (status {resp.status})") from None
    if resp.status != 200:
        raise _Failed(f"hub: {reply.get('error', f'refused (status {resp.status})')}")
    return reply


# -- hub zones -----------------------------------------------------------------------------


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def print_picture(doc: dict[str, Any]) -> None:
    for z in doc.get("zones", []):
        fresh = "fresh" if z["fresh"] else "STALE"
        age = "" if z["age_s"] is None else f" ({z['age_s']:.0f} s old)"
        use = "" if z["capacity_use"] is None else f" {z['capacity_use']:.0%} of capacity"
        print(
            f"zone {z['zone']:<16} {z['level'].upper():<8} occupancy {_num(z['occupancy'], '.0f')}"
            f" ({z['method'] or 'no method'}), {_num(z['density'], '.2f')} p/m²{use}, "
            f"{fresh}{age}"
        )
        if z["problems"]:
            print(f"  problems: {', '.join(z['problems'])}")
        if z["level_index"] > 0 and z["measures"]:
            print(f"  measures: {z['measures']}")
    for ln in doc.get("lines", []):
        print(
            f"line {ln['line']:<16} {ln['level'].upper():<8} in {ln['in_per_m_min']:.1f} / "
            f"out {ln['out_per_m_min']:.1f} p/m/min ({ln['zone']})"
        )
    _print_alerts(doc.get("alerts", []))


def _print_alerts(alerts: list[dict[str, Any]]) -> None:
    if not alerts:
        print("no open alerts")
        return
    for a in alerts:
        flags = [f for f in ("escalated", "silenced", "inhibited") if a.get(f)]
        ack = f" by {a['acknowledged_by']}" if a.get("acknowledged_by") else ""
        print(
            f"alert {a['alert_id']:<28} {a['state']}{ack} {a['severity']} since {a['since']}"
            + (f" [{', '.join(flags)}]" if flags else "")
            + (f": {a['summary']}" if a.get("summary") else "")
        )


def cmd_zones(args: argparse.Namespace) -> int:
    doc, down = _picture(_data_dir(args))
    if args.json:
        print(json.dumps({**doc, "running": not down, "reason": down}, indent=2))
        return EXIT_FAIL if down else EXIT_OK
    if down:
        print(f"hub not running ({down}); last known picture:")
    else:
        print(f"site {doc['site']} as of {doc['time']}")
    print_picture(doc)
    return EXIT_FAIL if down else EXIT_OK


# -- hub alerts ----------------------------------------------------------------------------


def _by(args: argparse.Namespace) -> str:
    return str(args.by or getpass.getuser())


def cmd_alerts(args: argparse.Namespace) -> int:
    action = getattr(args, "action", None) or "list"
    data_dir = _data_dir(args)
    if action == "list":
        doc, down = _picture(data_dir)
        if args.json:
            print(json.dumps(doc.get("alerts", []), indent=2))
        else:
            if down:
                print(f"hub not running ({down}); last known alerts:")
            _print_alerts(doc.get("alerts", []))
        return EXIT_FAIL if down else EXIT_OK
    if action == "log":
        return _log(args, data_dir)
    if action == "ack":
        params = {"alert": args.alert, "by": _by(args), "note": args.note or ""}
        result = call(data_dir, "acknowledge", params)
        said = f"acknowledged {result['alert_id']} ({result['subject']}) by {params['by']}"
    elif action == "close":
        params = {"alert": args.alert, "by": _by(args), "note": args.note or ""}
        result = call(data_dir, "close", params)
        said = f"closed {result['alert_id']}"
    elif action == "silence":
        if not (args.alert or args.rule or args.zone):
            print("hub: give the alert to silence, or --rule and/or --zone", file=sys.stderr)
            return EXIT_USAGE
        params = {
            "alert": args.alert,
            "rule": args.rule,
            "subject": args.zone,
            "duration": args.for_,
            "reason": args.reason,
            "by": _by(args),
        }
        result = call(data_dir, "silence", params)
        what = " ".join(
            f"{k} {result[k]}" for k in ("rule", "subject") if result.get(k) is not None
        )
        said = f"{result['silence_id']}: {what} silenced until {result['until']}"
    elif action == "unsilence":
        result = call(data_dir, "unsilence", {"silence": args.silence, "by": _by(args)})
        said = f"{result['silence_id']} removed"
    else:  # measure
        params = {"subject": args.zone, "text": args.text, "by": _by(args)}
        result = call(data_dir, "log_measure", params)
        said = f"measure logged for {args.zone} (log #{result['seq']})"
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(said)
    return EXIT_OK


def _log(args: argparse.Namespace, data_dir: Path) -> int:
    path = data_dir / "alerts.jsonl"
    try:
        with open(path, encoding="utf-8") as f:
            records = list(read_jsonl(f))
    except FileNotFoundError:
        raise _Failed(f"hub: no alert log at {path} yet") from None
    except OSError as err:
        raise _Failed(f"hub: cannot read {path}: {err}") from None
    records = query(records, subject=args.zone)
    if args.csv:
        sys.stdout.write(to_csv(records))
    elif args.json:
        print(json.dumps(records, indent=2))
    else:
        for r in records:
            who = f" by {r['by']}" if r.get("by") else ""
            what = r.get("alert_id") or r.get("silence_id") or r.get("subject") or ""
            note = f": {r['note']}" if r.get("note") else ""
            print(f"#{r['seq']} {r['at']} {r['event']} {what}{who}{note}")
    return EXIT_OK


def _run(func: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        try:
            code: int = func(args)
            return code
        except _Failed as err:
            print(str(err), file=sys.stderr)
            return EXIT_FAIL

    return wrapped


def _where(p: argparse.ArgumentParser, *, positional: bool = False, sub: bool = False) -> None:
    # an action's options must not reset what was given before the action's name
    kw: dict[str, Any] = {"default": argparse.SUPPRESS} if sub else {}
    if positional:
        p.add_argument("file", nargs="?", help="the config file the hub runs with")
    else:
        p.add_argument(
            "-c", "--config", dest="file", help="the config file the hub runs with", **kw
        )
    p.add_argument("--data-dir", help="the hub's data_dir (instead of the config file)", **kw)
    p.add_argument("--json", action="store_true", help="machine-readable output", **kw)


def add_zones_parsers(sub: Any) -> None:
    z = sub.add_parser(
        "zones",
        help="show each zone's level, occupancy, method, freshness and open alerts",
        description="Read data_dir/zones.json, which a running hub rewrites every second. "
        "Without FILE or --data-dir, look in ./data and ./demo-data. Exit 1 when the hub "
        "is not running.",
    )
    _where(z, positional=True)
    z.set_defaults(func=_run(cmd_zones))

    a = sub.add_parser(
        "alerts",
        help="list, acknowledge, silence alerts and log measures on a running hub",
        description="Without an action: list the open alerts. Actions go to the running "
        "hub through data_dir/control.sock. ALERT is an alert id (level-red/pier/3) or "
        "rule/zone (level-red/pier).",
    )
    _where(a)
    a.set_defaults(func=_run(cmd_alerts), action=None)
    acts = a.add_subparsers(dest="action", metavar="ACTION")

    def action(name: str, help_: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = acts.add_parser(name, help=help_, description=help_)
        _where(p, sub=True)
        return p

    action("list", "list the open alerts (the default)")
    for name, what in (("ack", "acknowledge a firing alert"), ("close", "close a resolved alert")):
        p = action(name, what)
        p.add_argument("alert", help="alert id, or rule/zone")
        p.add_argument("--by", help="who acts (default: your user name)")
        p.add_argument("--note", help="what was done or decided")
    s = action("silence", "mute an alert's notifications (or a rule's, a zone's) for a time")
    s.add_argument("alert", nargs="?", help="alert id, or rule/zone")
    s.add_argument("--rule", help="silence this rule (every zone, unless --zone)")
    s.add_argument("--zone", help="silence this zone or line (every rule, unless --rule)")
    s.add_argument("--for", dest="for_", required=True, metavar="DURATION", help="30m, 2h...")
    s.add_argument("--reason", required=True, help="why (kept in the measures log)")
    s.add_argument("--by", help="who acts (default: your user name)")
    u = action("unsilence", "end a silence early")
    u.add_argument("silence", help="the silence id (silence-3)")
    u.add_argument("--by", help="who acts (default: your user name)")
    m = action("measure", "log a measure taken in the measures log")
    m.add_argument("zone", help="the zone or line")
    m.add_argument("text", help="what was done, e.g. 'closed entrance B'")
    m.add_argument("--by", help="who acts (default: your user name)")
    lg = action("log", "print the alert and measures log (data_dir/alerts.jsonl)")
    lg.add_argument("--zone", help="only this zone or line")
    lg.add_argument("--csv", action="store_true", help="as CSV, for a spreadsheet")
