// The side panels: one zone in detail, the open alerts with their actions, the measures log.
import { t, num, time, age, ageShort, levelName } from "./i18n.js";
import { colourOf, escapeHtml as esc } from "./map.js";

const $ = (id) => document.getElementById(id);
const LEVEL_CLASSES = ["lv-green", "lv-yellow", "lv-orange", "lv-red", "lv-unknown"];

export function levelChip(el, level, colour) {
  el.classList.remove(...LEVEL_CLASSES);
  el.textContent = levelName(level);
  const cls = `lv-${level}`;
  if (LEVEL_CLASSES.includes(cls)) { el.classList.add(cls); el.style.background = ""; }
  else { el.style.background = colourOf(colour); }
}

function kpi(label, value, sub = "", warn = false) {
  return `<div class="kpi${warn ? " warn" : ""}"><div class="k">${esc(label)}</div>` +
    `<div class="v">${value}</div><div class="s">${esc(sub)}</div></div>`;
}

function problemText(p) {
  const [kind, who] = p.split(":");
  const label = t("problem_" + kind);
  return who ? `${label} (${who})` : label;
}

export function renderZone(z, sensors, skew) {
  $("zone-title").textContent = z.name || z.id;
  levelChip($("zone-level"), z.fresh ? z.level : "unknown", z.colour);
  $("zone-body").hidden = false;
  const measures = $("zone-measures");
  measures.textContent = z.fresh && z.measures ? z.measures : "";
  measures.style.borderLeftColor = colourOf(z.fresh ? z.colour : "grey");
  const dataAge = z.data_at ? (Date.now() + skew - Date.parse(z.data_at)) / 1000 : null;
  const cards = [];
  // a coarsened view: "< k" for a suppressed count; withheld figures are simply absent
  const count = (field, value) => ((z.suppressed || []).includes(field)
    ? esc(t("below", { k: z.suppressed_below })) : num(value));
  if ("occupancy" in z) {
    const cap = z.counts_interval
      ? t("per_interval", { n: Math.round((Date.parse(z.counts_interval.to) - Date.parse(z.counts_interval.from)) / 60000), t: time(z.counts_interval.to) })
      : z.capacity ? t("of_capacity", { cap: num(z.capacity) }) : t("persons");
    cards.push(kpi(t("occupancy"), `<span data-count="occupancy">${count("occupancy", z.occupancy)}</span>`, cap));
    if ("density" in z) cards.push(kpi(t("density"), z.density === null ? t("none") : `${num(z.density, 2)}`, "p/m²"));
    if ("capacity_use" in z) cards.push(kpi(t("capacity_use"), z.capacity_use === null
      ? t("none") : `${num(z.capacity_use * 100)}%`, "", z.capacity_use >= 0.85));
    if ("net_inflow_per_min" in z) cards.push(kpi(t("inflow"), z.net_inflow_per_min === null ? t("none")
      : `${z.net_inflow_per_min > 0 ? "+" : ""}${num(z.net_inflow_per_min, 1)}`, t("per_min")));
    if ("time_to_capacity_min" in z) cards.push(kpi(t("ttc"), z.time_to_capacity_min === null
      ? t("none") : z.time_to_capacity_min === 0 ? t("full_now") : `${num(z.time_to_capacity_min)} ${t("min")}`, "", z.time_to_capacity_min !== null && z.time_to_capacity_min < 15));
    cards.push(kpi(t("usual"), z.usual ? count("usual_p50", z.usual.p50) : t("none"),
      z.usual ? `${num(z.usual.p10)}–${num(z.usual.p90)} · ${z.usual.weeks} ${t("weeks")}` : ""));
  }
  cards.push(kpi(t("method"), z.method ? esc(t("m_" + z.method)) : t("none")));
  cards.push(kpi(t("freshness"), `<span data-age-short="${esc(z.data_at || "")}">${esc(ageShort(dataAge))}</span>`, t("ago_word")));
  if ("next_level_in_min" in z) {
    cards.push(kpi(t("next_level"), z.next_level_in_min === null ? t("none") : `${num(z.next_level_in_min)} ${t("min")}`));
  }
  $("zone-kpis").innerHTML = cards.join("");
  const list = $("zone-sensors");
  const mine = sensors.filter((s) => s.zone === z.id);
  const problems = (z.problems || []).filter((p) => !p.includes(":"));
  list.innerHTML = mine.length || problems.length
    ? mine.map((s) => `<li data-sensor="${esc(s.id)}"><span class="health h-${esc(s.health)}"></span>` +
        `<span>${esc(s.name)}</span><span class="muted">${esc(t("h_" + s.health))}` +
        `${s.problems.length ? " · " + esc(s.problems.map((p) => t("problem_" + p)).join(", ")) : ""}</span>` +
        `<span class="age">${s.last_seen ? `<span data-age="${esc(s.last_seen)}"></span>` : ""}</span></li>`).join("") +
      problems.map((p) => `<li><span class="health h-problem"></span>${esc(problemText(p))}</li>`).join("")
    : `<li class="muted">${esc(t("no_sensors"))}</li>`;
}

export function ruleText(rule) {
  if (rule.startsWith("level-")) return t("r_level", { level: levelName(rule.slice(6)) });
  const key = "r_" + rule.replace(/-/g, "_");
  return t(key) !== key ? t(key) : rule;
}

export function ruleLabel(a, zones) {
  const zone = zones.get(a.zone);
  const where = a.line ? `${a.line}` : (zone && zone.name) || a.zone;
  return `${where} — ${ruleText(a.rule)}`;
}

const STATE_ORDER = { firing: 0, acknowledged: 1, resolved: 2, closed: 3 };
const rank = (a) => STATE_ORDER[a.state] + (a.inhibited || a.silenced ? 4 : 0);

export function renderAlerts(alerts, zones, view, act) {
  const list = $("alerts");
  const open = [...alerts.values()].filter((a) => a.state !== "closed")
    .sort((a, b) => (rank(a) - rank(b)) || (b.since > a.since ? 1 : -1));
  const count = $("alert-count");
  const firing = open.filter((a) => a.state === "firing" && !a.inhibited && !a.silenced).length;
  count.textContent = String(open.length);
  count.classList.toggle("hot", firing > 0);
  if (!open.length) { list.innerHTML = `<li class="empty">${esc(t("no_alerts"))}</li>`; return; }
  list.innerHTML = "";
  for (const a of open) {
    const li = document.createElement("li");
    const sev = a.rule.startsWith("level-") ? a.rule.slice(6) : a.severity;
    li.className = `alert st-${a.state} sev-${sev}${a.inhibited || a.silenced ? " muted-alert" : ""}`;
    li.dataset.alert = a.id;
    const meta = [t("since", { t: time(a.fired_at || a.since) })];
    if (a.acked_at) meta.push(`${t("s_acknowledged")} ${time(a.acked_at)}${a.acked_by ? " " + t("by", { who: a.acked_by }) : ""}`);
    if (a.silenced) meta.push(t("silenced"));
    if (a.inhibited) meta.push(t("inhibited"));
    if (a.escalated) meta.push(t("escalated"));
    li.innerHTML = `<div class="alert-top"><span class="alert-title">${esc(ruleLabel(a, zones))}</span>` +
      `<span class="state">${esc(t("s_" + a.state))}</span></div>` +
      (a.value !== undefined && a.value !== null && a.threshold !== null && a.threshold !== undefined
        ? `<div class="alert-meta">${esc(t("value_of", { v: num(a.value, 2), th: num(a.threshold, 2) }))}</div>` : "") +
      (a.ack_note ? `<div class="alert-meta">“${esc(a.ack_note)}”</div>` : "") +
      `<div class="alert-meta">${esc(meta.join(" · "))}</div>`;
    const buttons = document.createElement("div");
    buttons.className = "alert-actions";
    const add = (action, label, cls) => {
      const b = document.createElement("button");
      b.className = `btn ${cls}`; b.textContent = t(label); b.dataset.action = action;
      b.addEventListener("click", () => act(action, a));
      buttons.append(b);
    };
    if (view.actions.includes("acknowledge") && a.state === "firing") add("acknowledge", "acknowledge", "btn-primary");
    if (view.actions.includes("log_measure")) add("log_measure", "add_measure", "");
    if (view.actions.includes("silence") && !a.silenced) add("silence", "silence", "btn-quiet");
    if (buttons.children.length) li.append(buttons);
    list.append(li);
  }
}

export function renderLog(records, zones) {
  const list = $("log");
  if (!records.length) { list.innerHTML = `<li class="empty">${esc(t("no_log"))}</li>`; return; }
  list.innerHTML = [...records].reverse().slice(0, 100).map((r) => {
    const zone = zones.get(r.zone);
    const where = r.subject ? ((zone && r.subject === r.zone && zone.name) || r.subject) : "";
    const what = t("ev_" + r.event);
    const rule = r.rule ? ` · ${esc(ruleText(r.rule))}` : "";
    return `<li class="ev-${esc(r.event)}"><span class="when">${esc(time(r.at))}</span>` +
      `<strong>${esc(what)}</strong> ${esc(where)}${rule}` +
      (r.by ? ` <span class="muted">${esc(t("by", { who: r.by }))}</span>` : "") +
      (r.note ? `<span class="note">${esc(r.note)}</span>` : "") + "</li>";
  }).join("");
}
