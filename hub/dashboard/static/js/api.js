// Talking to the hub: JSON requests (the login cookie rides along) and the live stream.
export class Unauthorized extends Error {}

export async function getJSON(path) {
  const r = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (r.status === 401) throw new Unauthorized();
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
  return r.json();
}

export async function postJSON(path, body) {
  const r = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (r.status === 401) throw new Unauthorized();
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

// Opens the event stream and keeps it open: reconnects with a growing, jittered delay,
// reports live/not live, and treats a stream silent for 2.5 heartbeats as dead.
export class LiveStream {
  constructor(url, handlers, onLive) {
    this.url = url;
    this.handlers = handlers;
    this.onLive = onLive;
    this.attempt = 0;
    this.heartbeat = 5;
    this.lastSeen = 0;
    this.source = null;
    setInterval(() => this.watch(), 1000);
  }

  connect() {
    const es = new EventSource(this.url);
    this.source = es;
    const seen = () => { this.lastSeen = Date.now(); };
    es.addEventListener("snapshot", (ev) => {
      seen();
      const data = JSON.parse(ev.data);
      this.heartbeat = data.heartbeat_s || 5;
      this.attempt = 0;
      this.onLive(true, data.now);
      this.handlers.snapshot(data);
    });
    es.addEventListener("heartbeat", (ev) => { seen(); this.onLive(true, JSON.parse(ev.data).now); });
    for (const kind of ["zone", "line", "sensor", "alert", "log"]) {
      es.addEventListener(kind, (ev) => { seen(); this.handlers[kind](JSON.parse(ev.data)); });
    }
    es.onerror = () => this.lost();
  }

  lost() {
    if (this.source) { this.source.close(); this.source = null; }
    this.onLive(false);
    const delay = Math.min(10000, 1000 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.retry(), delay);
  }

  async retry() {
    try {
      await getJSON("api/v1/site");  // a revoked token sends the user to the login form
    } catch (err) {
      if (err instanceof Unauthorized) { location.reload(); return; }
    }
    this.connect();
  }

  watch() {
    if (this.source && this.lastSeen && Date.now() - this.lastSeen > this.heartbeat * 2500) {
      this.lost();
    }
  }
}
