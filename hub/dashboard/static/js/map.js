// The site map: zones as filled polygons with a text label, lines with an "in" arrow,
// sensors as markers. A site plan image (pixel coordinates) or WGS84 with an optional
// local tile layer; never a tile server on the internet.
import { levelName } from "./i18n.js";

/* global L */
export const PALETTE = {
  green: "#2f9e55", yellow: "#e8c547", orange: "#f08a3c", red: "#e5484d",
  grey: "#7b8594", gray: "#7b8594", unknown: "#7b8594",
};
export function colourOf(name) { return PALETTE[name] || name || PALETTE.grey; }
const HEALTH = { ok: "#2f9e55", problem: "#f08a3c", silent: "#e5484d", unknown: "#7b8594" };

export class SiteMap {
  constructor(element, site, onSelect) {
    this.site = site;
    this.onSelect = onSelect;
    this.zones = new Map();
    this.lines = new Map();
    this.sensors = new Map();
    const plan = site.mode === "plan" && site.plan;
    this.map = L.map(element, {
      crs: plan ? L.CRS.Simple : L.CRS.EPSG3857,
      zoomSnap: 0.25, minZoom: plan ? -5 : 1, maxZoom: plan ? 4 : 20,
      attributionControl: Boolean(site.tiles), zoomControl: true,
    });
    this.toLatLng = plan ? ([x, y]) => L.latLng(-y, x) : ([lon, lat]) => L.latLng(lat, lon);
    const bounds = [];
    if (plan) {
      const b = L.latLngBounds([-plan.height_px, 0], [0, plan.width_px]);
      L.imageOverlay(plan.url, b, { className: "site-plan" }).addTo(this.map);
      bounds.push(b.getNorthWest(), b.getSouthEast());
    } else if (site.tiles) {
      L.tileLayer(site.tiles, { maxZoom: 20 }).addTo(this.map);
    }
    for (const z of site.zones) {
      if (!z.shape) continue;
      const pts = z.shape.map(this.toLatLng);
      bounds.push(...pts);
      const poly = L.polygon(pts, {
        className: `zone zone-${z.id}`, color: "#dfe6ee", weight: 2, opacity: 0.9,
        fillColor: PALETTE.grey, fillOpacity: 0.5,
      }).addTo(this.map);
      poly.bindTooltip("", { permanent: true, direction: "center", className: "zone-label" });
      poly.on("click", () => this.onSelect(z.id));
      this.zones.set(z.id, { poly, cfg: z });
      this.setZone({ id: z.id, name: z.name, level: "unknown", colour: "grey", fresh: false });
    }
    for (const ln of site.lines) {
      if (!ln.shape) continue;
      const pts = ln.shape.map(this.toLatLng);
      bounds.push(...pts);
      const line = L.polyline(pts, {
        className: `line line-${ln.id}`, color: PALETTE.grey, weight: 6, opacity: 0.95,
      }).addTo(this.map);
      line.bindTooltip(`${ln.id}: ${ln.in_direction || ""}`, { sticky: true });
      this.lines.set(ln.id, { line, cfg: ln, arrow: null });
    }
    for (const s of site.sensors) {
      if (!s.shape) continue;
      const ll = this.toLatLng(s.shape);
      bounds.push(ll);
      const m = L.circleMarker(ll, {
        className: `sensor sensor-${s.id}`, radius: 6, color: "#0f141a", weight: 2,
        fillColor: HEALTH.unknown, fillOpacity: 1,
      }).addTo(this.map);
      m.bindTooltip(s.name, { className: "sensor-tip" });
      this.sensors.set(s.id, { marker: m, cfg: s });
    }
    if (bounds.length) this.map.fitBounds(L.latLngBounds(bounds), { padding: [30, 30] });
    else this.map.setView(plan ? [0, 0] : [52.1, 5.1], plan ? 0 : 7);
    this.map.whenReady(() => this.drawArrows());
    this.map.on("zoomend", () => this.drawArrows());
  }

  // an arrow at the middle of each line, pointing into the line's zone (the "in" side)
  drawArrows() {
    for (const [id, entry] of this.lines) {
      if (entry.arrow) entry.arrow.remove();
      const pts = entry.line.getLatLngs();
      const a = this.map.latLngToLayerPoint(pts[0]);
      const b = this.map.latLngToLayerPoint(pts[pts.length - 1]);
      const mid = a.add(b).divideBy(2);
      let nx = -(b.y - a.y), ny = b.x - a.x;
      const zone = this.zones.get(entry.cfg.zone);
      if (zone) {
        const c = this.map.latLngToLayerPoint(zone.poly.getBounds().getCenter());
        if ((c.x - mid.x) * nx + (c.y - mid.y) * ny < 0) { nx = -nx; ny = -ny; }
      }
      const angle = Math.atan2(ny, nx) * 180 / Math.PI + 90;
      const icon = L.divIcon({
        className: `line-arrow arrow-${id}`, iconSize: [18, 18],
        html: `<span style="display:inline-block;transform:rotate(${angle}deg)">▲</span>`,
      });
      entry.arrow = L.marker(this.map.layerPointToLatLng(mid), { icon, interactive: false })
        .addTo(this.map);
    }
  }

  setZone(z) {
    const entry = this.zones.get(z.id);
    if (!entry) return;
    const level = z.fresh ? z.level : "unknown";
    const fill = z.fresh ? colourOf(z.colour) : PALETTE.grey;
    entry.poly.setStyle({ fillColor: fill, fillOpacity: z.fresh ? 0.55 : 0.35, dashArray: z.fresh ? null : "6 6" });
    const el = entry.poly.getElement();
    if (el) { el.setAttribute("data-level", level); el.setAttribute("data-fill", fill); }
    const name = entry.cfg.name || z.id;
    entry.poly.setTooltipContent(`${escapeHtml(name)}<span class="lvl">${escapeHtml(levelName(level))}</span>`);
  }

  setLine(ln) {
    const entry = this.lines.get(ln.id);
    if (!entry) return;
    entry.line.setStyle({ color: ln.fresh ? colourOf(ln.colour) : PALETTE.grey });
  }

  setSensor(s) {
    const entry = this.sensors.get(s.id);
    if (!entry) return;
    entry.marker.setStyle({ fillColor: HEALTH[s.health] || HEALTH.unknown });
  }

  select(id) {
    for (const [zid, entry] of this.zones) {
      entry.poly.setStyle({ weight: zid === id ? 4 : 2, color: zid === id ? "#3aa0ff" : "#dfe6ee" });
    }
  }

  invalidate() { this.map.invalidateSize(); }
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
