// The dashboard page: loads the site, keeps the live stream open and draws everything.
import { getJSON, postJSON, LiveStream, Unauthorized } from "./api.js";
import { t, setLang, getLang, age, ageShort, levelName } from "./i18n.js";
import { SiteMap, colourOf, escapeHtml as esc } from "./map.js";
import { TrendChart } from "./chart.js";
import { renderZone, renderAlerts, renderLog, levelChip, ruleLabel } from "./panels.js";

const $ = (id) => document.getElementById(id);
const state = {
  site: null, view: null, map: null, chart: null, selected: null,
  zones: new Map(), lines: new Map(), sensors: new Map(), alerts: new Map(), log: [],
  skew: 0, live: false, chartAt: 0,
};

function setLive(live, serverNow) {
  if (serverNow) state.skew = Date.parse(serverNow) - Date.now();
  state.live = live;
  const el = $("live");
  el.classList.toggle("live-on", live);
  el.classList.toggle("live-off", !live);
  el.dataset.state = live ? "live" : "not-live";
  $("live-text").textContent = live ? t("live") : t("not_live");
  $("not-live-banner").hidden = live;
  document.body.classList.toggle("stale", !live);
}

function renderViewName() {
  const v = state.view;
  const d = v.delay_s >= 90 ? `${Math.round(v.delay_s / 60)} min` : `${Math.round(v.delay_s || 0)} s`;
  const parts = [v.name];
  if (v.levels_only) parts.push(t("levels_only"));
  if (v.coarse && v.coarse.round_to > 1) parts.push(t("rounded", { n: v.coarse.round_to }));
  if (v.delay_s) parts.push(t("delayed", { d }));
  $("view-name").textContent = parts.join(" · ");
  $("delay-banner").hidden = !v.delay_s;
  $("delay-banner").dataset.delay = String(v.delay_s || 0);
  $("delay-text").textContent = t("delayed", { d });
  $("delay-hint").textContent = t("delayed_hint", { d });
}

function renderStrip() {
  const strip = $("zone-strip");
  strip.innerHTML = "";
  for (const z of state.zones.values()) {
    const b = document.createElement("button");
    b.className = "zone-pill" + (z.id === state.selected ? " selected" : "");
    b.dataset.zone = z.id;
    const chip = document.createElement("span");
    chip.className = "chip lvl";
    levelChip(chip, z.fresh ? z.level : "unknown", z.colour);
    b.innerHTML = `<span>${esc(z.name || z.id)}</span>`;
    b.append(chip);
    b.addEventListener("click", () => select(z.id));
    strip.append(b);
  }
}

function renderLegend() {
  const any = [...state.zones.values()].find((z) => z.levels);
  const levels = any ? any.levels : ["green", "yellow", "orange", "red"].map((n) => ({ name: n, colour: n }));
  $("legend").innerHTML = [...levels, { name: "unknown", colour: "grey" }]
    .map((lv) => `<div class="legend-row"><span class="swatch" style="background:${esc(colourOf(lv.colour))}"></span>${esc(levelName(lv.name))}</div>`)
    .join("");
}

function renderSelected() {
  const z = state.zones.get(state.selected);
  if (z) renderZone(z, [...state.sensors.values()], state.skew);
}

async function refreshChart() {
  const z = state.zones.get(state.selected);
  if (!z) return;
  state.chartAt = Date.now();
  if (state.view.levels_only || !state.view.sees.zone_state) {
    state.chart.clear(esc(t("no_history")));
    return;
  }
  try {
    const h = await getJSON(`api/v1/history?zone=${encodeURIComponent(z.id)}&step=60`);
    if (state.selected === z.id) {
      state.chart.show(h);
      const src = $("chart-source");
      src.textContent = h.source === "store" ? t("source_store") : t("source_memory");
      src.title = h.source === "store" ? t("source_store_hint") : t("source_memory_hint");
    }
  } catch (err) {
    if (err instanceof Unauthorized) location.reload();
    else state.chart.clear(esc(String(err.message)));
  }
}

function select(id) {
  state.selected = id;
  state.map.select(id);
  for (const b of document.querySelectorAll(".zone-pill")) b.classList.toggle("selected", b.dataset.zone === id);
  renderSelected();
  refreshChart();
}

function renderAllAlerts() { renderAlerts(state.alerts, state.zones, state.view, act); }

const handlers = {
  snapshot(data) {
    state.zones = new Map(data.zones.map((z) => [z.id, z]));
    state.lines = new Map(data.lines.map((l) => [l.id, l]));
    state.sensors = new Map(data.sensors.map((s) => [s.id, s]));
    state.alerts = new Map(data.alerts.map((a) => [a.id, a]));
    state.log = data.log;
    for (const z of data.zones) state.map.setZone(z);
    for (const l of data.lines) state.map.setLine(l);
    for (const s of data.sensors) state.map.setSensor(s);
    if (!state.selected || !state.zones.has(state.selected)) {
      const worst = [...state.zones.values()].sort((a, b) => (b.level_index ?? -1) - (a.level_index ?? -1))[0];
      if (worst) { select(worst.id); }
    } else renderSelected();
    renderLegend(); renderStrip(); renderAllAlerts(); renderLog(state.log, state.zones);
  },
  zone(z) {
    const old = state.zones.get(z.id);
    state.zones.set(z.id, z);
    state.map.setZone(z);
    if (!old || old.level !== z.level || old.fresh !== z.fresh) renderStrip();
    if (z.id === state.selected) {
      renderSelected();
      if (Date.now() - state.chartAt > 30000) refreshChart();
    }
  },
  line(l) { state.lines.set(l.id, l); state.map.setLine(l); },
  sensor(s) {
    state.sensors.set(s.id, { ...(state.sensors.get(s.id) || {}), ...s });
    state.map.setSensor(s);
    const z = state.zones.get(state.selected);
    if (z && s.zone === z.id) renderSelected();
  },
  alert(a) {
    if (a.state === "closed") state.alerts.delete(a.id); else state.alerts.set(a.id, a);
    renderAllAlerts();
  },
  log(r) {
    state.log.push(r);
    if (state.log.length > 500) state.log.splice(0, state.log.length - 500);
    renderLog(state.log, state.zones);
  },
};

// --- actions: acknowledge, log a measure, silence -------------------------------------
function act(action, alert) {
  const dialog = $("action-dialog");
  const titles = { acknowledge: "ack_title", log_measure: "measure_title", silence: "silence_title" };
  const labels = { acknowledge: "note", log_measure: "measure_text", silence: "reason" };
  $("action-title").textContent = t(titles[action]);
  $("action-subject").textContent = ruleLabel(alert, state.zones);
  $("action-text-label").textContent = t(labels[action]);
  $("action-text").value = "";
  $("action-text").required = action !== "acknowledge";
  $("minutes-row").hidden = action !== "silence";
  $("action-error").hidden = true;
  dialog.dataset.action = action;
  dialog.dataset.alert = alert.id;
  dialog.dataset.subject = alert.subject;
  dialog.showModal();
}

async function submitAction(ev) {
  const dialog = $("action-dialog");
  if (ev.submitter && ev.submitter.value === "cancel") return;
  ev.preventDefault();
  const text = $("action-text").value.trim();
  const { action, alert, subject } = dialog.dataset;
  try {
    if (action === "acknowledge") await postJSON("api/v1/acknowledge", { alert_id: alert, note: text });
    else if (action === "log_measure") await postJSON("api/v1/measure", { subject, text });
    else await postJSON("api/v1/silence", { subject, minutes: Number($("action-minutes").value), reason: text });
    dialog.close();
  } catch (err) {
    if (err instanceof Unauthorized) { location.reload(); return; }
    $("action-error").textContent = t("failed", { msg: err.message });
    $("action-error").hidden = false;
  }
}

function tick() {
  const now = new Date(Date.now() + state.skew);
  $("clock").textContent = now.toLocaleTimeString(getLang() === "nl" ? "nl-NL" : "en-GB");
  for (const el of document.querySelectorAll("[data-age]")) {
    const at = el.dataset.age;
    el.textContent = at ? age((now - Date.parse(at)) / 1000) : t("none");
  }
  for (const el of document.querySelectorAll("[data-age-short]")) {
    const at = el.dataset.ageShort;
    el.textContent = at ? ageShort((now - Date.parse(at)) / 1000) : t("none");
  }
}

async function main() {
  const lang = $("lang");
  lang.value = getLang();
  setLang(getLang());
  lang.addEventListener("change", () => {
    setLang(lang.value);
    setLive(state.live);
    if (state.view) renderViewName();
    renderLegend(); renderStrip(); renderSelected(); renderAllAlerts(); renderLog(state.log, state.zones);
    if (state.chart && state.selected) refreshChart();
  });
  let site;
  try {
    site = await getJSON("api/v1/site");
  } catch (err) {
    if (err instanceof Unauthorized) { location.reload(); return; }
    throw err;
  }
  state.site = site;
  state.view = site.view;
  $("site-name").textContent = site.name;
  renderViewName();
  document.title = `crowdhub · ${site.name}`;
  state.map = new SiteMap($("map"), site, select);
  state.chart = new TrendChart($("chart"), $("chart-legend"));
  state.zones = new Map(site.zones.map((z) => [z.id, { id: z.id, name: z.name, level: "unknown", colour: "grey", fresh: false }]));
  renderLegend(); renderStrip();
  $("action-form").addEventListener("submit", submitAction);
  window.addEventListener("resize", () => { state.map.invalidate(); state.chart.resize(); });
  setInterval(tick, 1000);
  setInterval(() => { if (state.live) refreshChart(); }, 60000);
  tick();
  setLive(false);
  new LiveStream("api/v1/stream", handlers, setLive).connect();
}

main();
