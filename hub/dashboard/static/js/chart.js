// A zone's trend: occupancy of the last hours, the normal band (p10-p90) with its median,
// the forecast for the next two hours, and each level's threshold as an occupancy.
import { t, num, time } from "./i18n.js";
import { colourOf } from "./map.js";

/* global uPlot */
export class TrendChart {
  constructor(element, legend) {
    this.element = element;
    this.legend = legend;
    this.plot = null;
  }

  clear(message) {
    if (this.plot) { this.plot.destroy(); this.plot = null; }
    this.element.innerHTML = message ? `<div class="chart-empty">${message}</div>` : "";
    this.legend.innerHTML = "";
  }

  show(h) {
    // one x axis: the history steps, then the forecast quarters
    const xs = [...h.t];
    const occ = [...h.occupancy];
    const lo = [...h.p10], mid = [...h.p50], hi = [...h.p90];
    const fc = h.t.map(() => null);
    let lastOcc = null, lastIdx = -1;
    occ.forEach((v, i) => { if (v !== null) { lastOcc = v; lastIdx = i; } });
    if (lastIdx >= 0 && h.forecast.t.length) fc[lastIdx] = lastOcc;  // the forecast starts at now
    h.forecast.t.forEach((ft, i) => {
      if (ft <= xs[xs.length - 1]) return;
      xs.push(ft); occ.push(null); mid.push(null);
      lo.push(h.forecast.p10[i]); hi.push(h.forecast.p90[i]); fc.push(h.forecast.values[i]);
    });
    const series = [
      {},
      { label: t("hist_band"), stroke: "rgba(120,150,190,0.0)", points: { show: false } },
      { label: t("hist_band"), stroke: "rgba(120,150,190,0.0)", points: { show: false } },
      { label: t("hist_median"), stroke: "#7f93ad", width: 1, dash: [4, 4], points: { show: false } },
      { label: t("hist_fc"), stroke: "#c7a4ff", width: 2, dash: [6, 4], spanGaps: true, points: { show: false } },
      { label: t("hist_occ"), stroke: "#3aa0ff", width: 2.5,
        points: { show: occ.filter((v) => v !== null).length < 20, size: 5, fill: "#3aa0ff" } },
    ];
    const data = [xs, lo, hi, mid, fc, occ];
    const maxData = Math.max(1, ...occ.filter((v) => v !== null), ...hi.filter((v) => v !== null),
      ...fc.filter((v) => v !== null));
    for (const th of h.thresholds || []) {
      if (th.occupancy > maxData * 1.6) continue;  // far above anything seen: leave it off
      series.push({ label: th.level, stroke: colourOf(th.colour), width: 1, dash: [2, 3], points: { show: false } });
      data.push(xs.map(() => th.occupancy));
    }
    const width = Math.max(240, this.element.clientWidth || 380);
    const opts = {
      width, height: 190,
      padding: [8, 6, 0, 0],
      cursor: { drag: { x: false, y: false } },
      legend: { show: false },
      scales: { x: { time: true } },
      axes: [
        { stroke: "#93a0b0", grid: { stroke: "#263140", width: 1 }, ticks: { stroke: "#263140" },
          values: (u, vals) => vals.map((v) => time(v)) },
        { stroke: "#93a0b0", grid: { stroke: "#263140", width: 1 }, ticks: { stroke: "#263140" }, size: 58,
          values: (u, vals) => vals.map((v) => num(v)) },
      ],
      series,
      bands: [{ series: [2, 1], fill: "rgba(120,150,190,0.22)" }],
    };
    if (this.plot) this.plot.destroy();
    this.element.innerHTML = "";
    this.plot = new uPlot(opts, data, this.element);
    this.legend.innerHTML =
      `<span><i style="background:#3aa0ff"></i>${t("hist_occ")}</span>` +
      `<span><i style="background:rgba(120,150,190,.5);height:8px"></i>${t("hist_band")}</span>` +
      `<span><i style="background:#c7a4ff"></i>${t("hist_fc")}</span>`;
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: Math.max(240, this.element.clientWidth), height: 190 });
  }
}
