// Dutch (default) and English labels. t(key, vars) looks a label up in the current language.
const LABELS = {
  nl: {
    connecting: "Verbinden…", live: "Live", not_live: "Niet live",
    not_live_hint: "de verbinding met de hub is weg; de getoonde gegevens zijn verouderd. Opnieuw verbinden…",
    language: "Taal", logout: "Afmelden", pick_zone: "Kies een zone", trend: "Verloop",
    source_store: "uit opslag", source_memory: "uit geheugen",
    source_store_hint: "gelezen uit de opgeslagen gegevens van de hub",
    source_memory_hint: "alleen wat de hub sinds de start in het geheugen heeft (geen opslag ingesteld)",
    sensors: "Sensoren", alerts: "Meldingen", log: "Logboek maatregelen", minutes: "Minuten",
    cancel: "Annuleren", confirm: "Bevestigen", no_alerts: "Geen open meldingen",
    no_log: "Nog niets vastgelegd", no_sensors: "Geen sensoren zichtbaar",
    occupancy: "Aanwezig", density: "Dichtheid", capacity_use: "Capaciteit",
    inflow: "Instroom", ttc: "Vol over", full_now: "vol", method: "Methode", freshness: "Gemeten", ago_word: "geleden",
    usual: "Normaal", weeks: "wk", next_level: "Volgend niv.", persons: "personen", per_min: "/min",
    of_capacity: "van {cap}", min: "min", ago: "{s} geleden", none: "—",
    m_counted: "geteld", m_flow: "in/uit-balans", m_devices: "apparaten (schatting)",
    l_green: "groen", l_yellow: "geel", l_orange: "oranje", l_red: "rood", l_unknown: "onbekend",
    s_firing: "actief", s_acknowledged: "bevestigd", s_resolved: "opgelost", s_closed: "gesloten",
    acknowledge: "Bevestigen", add_measure: "Maatregel", silence: "Dempen",
    ack_title: "Melding bevestigen", measure_title: "Maatregel vastleggen", silence_title: "Meldingen dempen",
    note: "Notitie (optioneel)", measure_text: "Welke maatregel is genomen?", reason: "Reden",
    by: "door {who}", inhibited: "onderdrukt door hoger niveau", value_of: "waarde {v} (grens {th})", since: "sinds {t}", silenced: "gedempt", escalated: "opgeschaald",
    hist_occ: "aanwezig", hist_band: "normaal (p10–p90)", hist_median: "mediaan", hist_fc: "verwachting",
    no_history: "Geen verloop zichtbaar voor deze weergave", levels_only: "alleen niveaus",
    delayed: "{d} vertraagd", delayed_hint: "u ziet de situatie van {d} geleden; acties zijn hier niet mogelijk",
    rounded: "afgerond op {n}", per_interval: "per {n} min, t/m {t}", below: "< {k}",
    ev_fired: "melding", ev_reopened: "opnieuw actief", ev_escalated: "opgeschaald",
    ev_acknowledged: "bevestigd", ev_resolved: "opgelost", ev_closed: "gesloten",
    ev_closed_by: "gesloten", ev_silenced: "gedempt", ev_unsilenced: "demping opgeheven",
    ev_silence_expired: "demping verlopen", ev_measure: "maatregel", ev_daily_reset: "dagreset",
    r_level: "niveau {level}", r_time_to_capacity: "bijna vol", r_busier_than_usual: "drukker dan normaal",
    r_too_quiet: "stiller dan normaal", r_sensor_silent: "sensor stil", r_counter_reset: "teller gereset",
    r_implausible_jump: "onwaarschijnlijke sprong", failed: "Niet gelukt: {msg}",
    problem_counter_reset: "teller gereset", problem_implausible_jump: "onwaarschijnlijke sprong",
    problem_sensor_silent: "stil", problem_sequence_gaps: "berichten gemist", problem_suspect: "verdacht",
    h_ok: "in orde", h_problem: "probleem", h_silent: "stil", h_unknown: "onbekend",
  },
  en: {
    connecting: "Connecting…", live: "Live", not_live: "Not live",
    not_live_hint: "the connection to the hub is lost; the data shown is out of date. Reconnecting…",
    language: "Language", logout: "Sign out", pick_zone: "Pick a zone", trend: "Trend",
    source_store: "from storage", source_memory: "from memory",
    source_store_hint: "read from the hub's stored data",
    source_memory_hint: "only what the hub holds in memory since it started (no store configured)",
    sensors: "Sensors", alerts: "Alerts", log: "Measures log", minutes: "Minutes",
    cancel: "Cancel", confirm: "Confirm", no_alerts: "No open alerts",
    no_log: "Nothing logged yet", no_sensors: "No sensors visible",
    occupancy: "Occupancy", density: "Density", capacity_use: "Capacity",
    inflow: "Net inflow", ttc: "Full in", full_now: "full", method: "Method", freshness: "Reading", ago_word: "ago",
    usual: "Usual", weeks: "wk", next_level: "Next level", persons: "people", per_min: "/min",
    of_capacity: "of {cap}", min: "min", ago: "{s} ago", none: "—",
    m_counted: "counted", m_flow: "in/out balance", m_devices: "devices (estimate)",
    l_green: "green", l_yellow: "yellow", l_orange: "orange", l_red: "red", l_unknown: "unknown",
    s_firing: "firing", s_acknowledged: "acknowledged", s_resolved: "resolved", s_closed: "closed",
    acknowledge: "Acknowledge", add_measure: "Measure", silence: "Silence",
    ack_title: "Acknowledge alert", measure_title: "Log a measure", silence_title: "Silence alerts",
    note: "Note (optional)", measure_text: "Which measure was taken?", reason: "Reason",
    by: "by {who}", inhibited: "muted by a higher level", value_of: "value {v} (limit {th})", since: "since {t}", silenced: "silenced", escalated: "escalated",
    hist_occ: "occupancy", hist_band: "usual (p10–p90)", hist_median: "median", hist_fc: "forecast",
    no_history: "No trend visible for this view", levels_only: "levels only",
    delayed: "delayed {d}", delayed_hint: "you see the situation as it was {d} ago; actions are not possible here",
    rounded: "rounded to {n}", per_interval: "per {n} min, until {t}", below: "< {k}",
    ev_fired: "alert", ev_reopened: "reopened", ev_escalated: "escalated",
    ev_acknowledged: "acknowledged", ev_resolved: "resolved", ev_closed: "closed",
    ev_closed_by: "closed", ev_silenced: "silenced", ev_unsilenced: "unsilenced",
    ev_silence_expired: "silence expired", ev_measure: "measure", ev_daily_reset: "daily reset",
    r_level: "level {level}", r_time_to_capacity: "nearly full", r_busier_than_usual: "busier than usual",
    r_too_quiet: "quieter than usual", r_sensor_silent: "sensor silent", r_counter_reset: "counter reset",
    r_implausible_jump: "implausible jump", failed: "Failed: {msg}",
    problem_counter_reset: "counter reset", problem_implausible_jump: "implausible jump",
    problem_sensor_silent: "silent", problem_sequence_gaps: "messages missed", problem_suspect: "suspect",
    h_ok: "ok", h_problem: "problem", h_silent: "silent", h_unknown: "unknown",
  },
};

let lang = localStorage.getItem("crowdhub.lang") || "nl";
if (!LABELS[lang]) lang = "nl";

export function getLang() { return lang; }

export function setLang(value) {
  lang = LABELS[value] ? value : "nl";
  localStorage.setItem("crowdhub.lang", lang);
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
}

export function t(key, vars = {}) {
  const text = LABELS[lang][key] ?? LABELS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ""));
}

// a level name in words; custom level names are shown as configured
export function levelName(level) {
  const key = "l_" + level;
  return LABELS[lang][key] ?? level;
}

export function num(value, digits = 0) {
  if (value === null || value === undefined) return t("none");
  return value.toLocaleString(lang === "nl" ? "nl-NL" : "en-GB",
    { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function time(iso, withSeconds = false) {
  if (!iso) return t("none");
  const d = typeof iso === "number" ? new Date(iso * 1000) : new Date(iso);
  return d.toLocaleTimeString(lang === "nl" ? "nl-NL" : "en-GB",
    { hour: "2-digit", minute: "2-digit", second: withSeconds ? "2-digit" : undefined });
}

export function ageShort(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return t("none");
  const s = Math.max(0, Math.round(seconds));
  return s < 90 ? `${s} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

export function age(seconds) {
  const text = ageShort(seconds);
  return text === t("none") ? text : t("ago", { s: text });
}
