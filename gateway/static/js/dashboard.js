/**
 * The sensorcast dashboard: overview cards, charts of the selected sensor, connection honesty, controls.
 * Built on the reusable client in sensorcast-client.js; see docs/dashboard.md.
 */

import { SensorcastClient } from "./sensorcast-client.js";
import { DEFAULT_CAPACITY, SeriesRing } from "./store.js";
import { ChartPanel } from "./charts.js";
import { Controls } from "./controls.js";
import { Cards } from "./cards.js";
import { EventsPanel } from "./events.js";

const TOKEN_KEY = "sensorcast.token";
const THEME_KEY = "sensorcast.theme";
const WINDOWS = [
  ["1 min", 60e3], ["10 min", 600e3], ["1 h", 3600e3], ["6 h", 6 * 3600e3], ["24 h", 24 * 3600e3],
  ["7 d", 7 * 86400e3], ["30 d", 30 * 86400e3],
];
const HISTORY_ON_LOAD_MS = 3600e3; // a page (re)load shows at least the last hour from the gateway's store
const AGG = ["min", "max", "mean", "last"];
const MAX_BUCKET_MS = 1000; // cards and the live edge stay fresh even on wide windows
const $ = (sel) => document.querySelector(sel);

class Dashboard {
  constructor() {
    this.capacity = Number(globalThis.SENSORCAST_POINTS) || DEFAULT_CAPACITY;
    this.client = new SensorcastClient({ token: sessionStorage.getItem(TOKEN_KEY), history: true });
    this.catalogue = new Map();
    this.rings = new Map();
    this.selected = null;
    this.windowMs = WINDOWS[0][1];
    this.paused = false;
    this.view = null; // [t0, t1] ms while paused/zoomed
    this.viewDirty = true;
    this.aggMode = new Map(); // sensor -> bucket ms (server-side aggregation active)
    this.breakBefore = new Map(); // sensor -> seq of the first reading after a loss
    this.subsKey = "";
    this.offsetMs = 0; // gateway clock - browser clock
    this.rttMs = null;
    this.delays = [];
    this.gapCount = 0;
    this.aggReadings = 0; // readings the gateway folded into agg buckets for this page
    this.historyFrom = new Map(); // sensor -> oldest ms already asked of the gateway's history
    this.historyPoints = 0;
    this.resumed = false;
    this.historyChain = Promise.resolve();
    this.lossCount = 0;
    this.prevStats = { t: performance.now(), messages: 0, readings: 0, agg: 0 };
    this.cards = new Cards($("#cards"), (id) => this.select(id), (id) => this.showChart(id));
    this.charts = new ChartPanel($("#charts"), {
      onUserRange: (t0, t1) => this.setView(t0, t1),
      onPan: (f) => this.pan(f),
      onZoom: (f) => this.zoom(f),
      onLive: () => this.live(),
      onResize: () => this.updateSubscription(),
    });
    this.controls = new Controls($("#controls"), this.client);
    this.alerts = new EventsPanel($("#alerts"), this.client, $("#cards"));
    this.bindUi();
    this.bindClient();
    this.lastChart = 0;
    this.chartVersion = -1;
    this.lastSecond = performance.now();
    requestAnimationFrame((t) => this.frame(t));
    this.client.connect();
  }

  // -- client events ---------------------------------------------------------------------------------------

  bindClient() {
    const c = this.client;
    c.on("state", (s) => this.showConnection(s));
    c.on("hello", (h) => this.onHello(h));
    c.on("readings", ({ readings, backfill }) => this.onReadings(readings, backfill));
    c.on("agg", ({ entries }) => this.onAgg(entries));
    c.on("status", (st) => this.onStatus(st));
    c.on("event", (e) => this.alerts.onEvent(e));
    c.on("fleet", (f) => this.onFleet(f));
    c.on("gap", (g) => this.onGap(g));
    c.on("resumed", () => {
      this.resumed = true;
      this.queueHistory(() => this.loadHistory(this.selected, Math.max(this.windowMs, HISTORY_ON_LOAD_MS)));
      this.queueHistory(() => this.fillHoles(this.selected));
    });
    c.on("loss", ({ sensor, before, coalesced }) => {
      this.lossCount += 1;
      this.breakBefore.set(sensor, before); // drawn right before that reading, in onReadings
      if (!coalesced) this.note(`missed readings of ${sensor}`);
    });
    c.on("latency", ({ rttMs, offsetMs }) => {
      this.rttMs = rttMs;
      this.offsetMs = offsetMs;
    });
    c.on("autherror", ({ code }) => this.askToken(code));
    c.on("role", () => this.onRole(c.hello));
  }

  onHello(h) {
    $("#auth").hidden = true;
    $("#csv").hidden = !h.caps?.includes("history");
    this.resumed = false; // until the ring backfill is in, history must wait (it goes before the oldest point)
    this.historyFrom.clear();
    $("#gw").textContent = h.gw;
    $("#role").textContent = h.role ?? "read-only";
    $("#signout").hidden = !sessionStorage.getItem(TOKEN_KEY);
    $("#clock").hidden = h.clock_synced !== false;
    const ids = h.sensors.map((s) => s.id).join(",");
    const changed = ids !== [...this.catalogue.keys()].join(",");
    this.catalogue = new Map(h.sensors.map((s) => [s.id, s]));
    for (const s of h.sensors) {
      const numeric = s.fields.filter((f) => f.kind !== "str").map((f) => f.name);
      const ring = this.rings.get(s.id);
      if (!ring || ring.fields.join() !== numeric.join()) this.rings.set(s.id, new SeriesRing(numeric, this.capacity));
    }
    this.cards.build(h.sensors, this.rings, changed);
    for (const s of h.sensors) this.cards.setState(s.id, s.state, s.error);
    this.controls.build(h);
    this.alerts.build(h);
    for (const a of h.actuators ?? []) this.controls.update(a.id, a.value);
    const sel = $("#sensor-select");
    if (changed || !sel.options.length) {
      sel.replaceChildren(...h.sensors.map((s) => new Option(s.id, s.id)));
    }
    if (!this.selected || !this.catalogue.has(this.selected)) this.select(h.sensors[0]?.id ?? null);
    else this.updateSubscription(true);
  }

  /** A gateway reload changed this token's role: the controls and the badge follow, the rest stays. */
  onRole(h) {
    $("#role").textContent = h.role ?? "read-only";
    this.controls.build(h);
    this.alerts.build(h);
    for (const a of h.actuators ?? []) this.controls.update(a.id, a.value);
  }

  /** The gateway list of a fleet (docs/fleet.md); a changed catalogue re-renders like a new hello. */
  onFleet(f) {
    $("#fleet").hidden = false;
    const now = Date.now();
    const cell = (text) => Object.assign(document.createElement("td"), { textContent: text });
    $("#fleet-rows").replaceChildren(
      ...f.gateways.map((g) => {
        const tr = document.createElement("tr");
        tr.dataset.gateway = g.id;
        tr.dataset.online = String(g.online);
        const ago = g.last_seen ? `${Math.max(0, Math.round((now - Number(g.last_seen) / 1e6) / 1000))} s ago` : "–";
        const clock = g.clock_synced === null ? "–" : g.clock_synced ? "synced" : "not synced";
        tr.append(
          cell(g.id),
          cell(g.online ? "online" : "offline"),
          cell(ago),
          cell(g.boot.slice(0, 8)),
          cell(`${g.rate_hz.toFixed(1)}/s`),
          cell(clock),
          cell(`${g.gaps} (${g.gaps_open})`),
        );
        return tr;
      }),
    );
    if (f.sensors && this.client.hello) this.onHello({ ...this.client.hello, sensors: f.sensors, actuators: f.actuators });
  }

  onReadings(readings, backfill) {
    let last = null;
    for (const r of readings) {
      const [seq, , tsNs, sensor, values, flags] = r;
      const tMs = Number(tsNs) / 1e6;
      const ring = this.rings.get(sensor);
      if (!ring) {
        if ("value" in values) this.controls.update(sensor, values.value);
        continue;
      }
      if (this.breakBefore.get(sensor) === seq) {
        this.breakBefore.delete(sensor);
        ring.pushGap(tMs - 0.001);
      }
      ring.push(tMs, values);
      this.cards.latest(sensor, values, tMs, flags);
      last = tMs;
    }
    if (last !== null && !backfill) {
      const delay = Date.now() + this.offsetMs - last;
      if (this.delays.length < 1000) this.delays.push(delay);
    }
  }

  onAgg(entries) {
    for (const [sensor, t0, t1, n, fields] of entries) {
      const ring = this.rings.get(sensor);
      if (!ring) continue;
      const tMs = (Number(t0) + Number(t1)) / 2e6;
      ring.pushAgg(tMs, fields);
      const last = Object.fromEntries(Object.entries(fields).map(([k, a]) => [k, a[3]]));
      this.cards.latest(sensor, last, Number(t1) / 1e6, 0, n);
      this.aggReadings += n;
      if (this.delays.length < 1000) this.delays.push(Date.now() + this.offsetMs - Number(t1) / 1e6);
    }
  }

  onStatus(st) {
    for (const [id, s] of Object.entries(st.sensors ?? {})) {
      this.cards.setState(id, s.state, s.error);
      if (s.state !== "ok" && s.state !== "recovering") this.rings.get(id)?.pushGap(-Infinity);
    }
    for (const [id, a] of Object.entries(st.actuators ?? {})) this.controls.update(id, a.value);
    if (st.drop) this.note(`gateway dropped ${st.drop.n} readings for this page (${st.drop.reason})`);
  }

  onGap(g) {
    if (g.initial) return; // history older than the gateway's ring: nothing was lost by this page
    this.gapCount += 1;
    for (const ring of this.rings.values()) ring.pushGap(-Infinity);
    const span = g.to == null ? `after #${g.from - 1}` : `#${g.from}–#${g.to}`;
    this.note(g.reason === "boot" ? "gateway restarted: readings while it was down are lost (gap drawn)"
      : `readings ${span} are no longer in the gateway's memory (gap drawn)`);
  }

  // -- stored history (gateways with the "history" capability) -----------------------------------------------

  hasHistory() {
    return !!this.client.hello?.caps?.includes("history");
  }

  /** Run `fn` after the history requests before it (the gateway answers one at a time per connection). */
  queueHistory(fn) {
    this.historyChain = this.historyChain.then(fn).catch((err) => console.warn("sensorcast: history", err));
  }

  /** `id`'s stored history between `fromMs` and `toMs` as ring points ({t, mean, lo, hi}), about one per pixel. */
  async fetchHistory(id, fields, fromMs, toMs) {
    const res = await this.client.history({
      sensor: id, fields, fromMs, toMs, points: Math.min(4000, 2 * this.charts.pixelWidth()),
    });
    const bucketMs = res.bucketNs / 1e6;
    const num = (x) => (typeof x === "number" ? x : typeof x === "boolean" ? +x : NaN);
    const points = [];
    for (const row of res.rows) {
      const t = Number(row[0]) / 1e6 + bucketMs / 2;
      if (bucketMs === 0) {
        const mean = res.fields.map((_, k) => num(row[k + 1]));
        points.push({ t, mean, lo: mean, hi: mean });
      } else {
        const cells = res.fields.map((_, k) => row[k + 1]);
        points.push({
          t,
          mean: cells.map((c) => (c ? num(c[3] ?? c[4]) : NaN)),
          lo: cells.map((c) => (c ? num(c[1] ?? c[3]) : NaN)),
          hi: cells.map((c) => (c ? num(c[2] ?? c[3]) : NaN)),
        });
      }
    }
    return { points, bucketMs, tier: res.tier };
  }

  /** Fetch `spanMs` of `id`'s stored history older than its oldest point (min/max buckets, about one per pixel)
   *  and put it in front of the ring: long windows and page reloads show the past at once. */
  async loadHistory(id, spanMs) {
    const ring = this.rings.get(id);
    if (!id || !ring || !this.resumed || !this.hasHistory() || !ring.fields.length) return;
    const nowMs = Date.now() + this.offsetMs;
    const toMs = Number.isFinite(ring.oldestT) ? ring.oldestT : nowMs;
    const fromMs = nowMs - spanMs;
    if (toMs - fromMs < 1000 || (this.historyFrom.get(id) ?? Infinity) <= fromMs) return;
    this.historyFrom.set(id, fromMs);
    let got;
    try {
      got = await this.fetchHistory(id, ring.fields, fromMs, toMs);
    } catch (err) {
      this.historyFrom.delete(id);
      this.note(`history of ${id} not available: ${err.message}`);
      return;
    }
    const { points, bucketMs, tier } = got;
    const older = (pt) => (bucketMs ? pt.t + bucketMs / 2 <= ring.oldestT : pt.t < ring.oldestT);
    const n = ring.prependHistory(points.filter(older));
    this.historyPoints += n;
    if (n) {
      this.viewDirty = true;
      $("#history-note").textContent = `${n} points from the gateway's history (${tier}${
        bucketMs ? `, ${bucketMs >= 1000 ? `${(bucketMs / 1000).toFixed(1)} s` : `${bucketMs.toFixed(0)} ms`} buckets, min/max band` : ""})`;
    }
  }

  /** Fill the holes of `id`'s ring within the window (a gateway restart, readings the ring no longer had)
   *  from the gateway's history, by time; what the gateway never recorded stays a break. */
  async fillHoles(id) {
    const ring = this.rings.get(id);
    if (!id || !ring || !this.hasHistory() || !ring.fields.length) return;
    const nowMs = Date.now() + this.offsetMs;
    for (const [tBefore, tAfter] of ring.holes()) {
      // A hole with nothing after it yet is left alone: its end (the new boot's first reading) is not known.
      if (tAfter < nowMs - this.windowMs || !Number.isFinite(tAfter)) continue;
      let got;
      try {
        got = await this.fetchHistory(id, ring.fields, tBefore + 0.001, Math.min(tAfter, nowMs));
      } catch {
        return;
      }
      const s = this.catalogue.get(id);
      const stepMs = Math.max(got.bucketMs, (s?.interval_s ?? 0) * 1000);
      const half = got.bucketMs / 2; // only whole buckets inside the hole (never one holding a ring reading)
      const after = got.points.filter((pt) => pt.t - half > tBefore && pt.t + half <= tAfter);
      const n = ring.fillHole(tBefore, tAfter, after, 1.5 * stepMs); // more than a reading missing: a break
      if (n) {
        this.viewDirty = true;
        this.note(`${n} points of ${id} filled in from the gateway's history`);
      }
    }
  }

  /** Download the chart's sensor and window as CSV (the token goes in a header, never in the URL). */
  async downloadCsv() {
    const id = this.selected;
    if (!id || !this.hasHistory()) return;
    const now = Date.now() + this.offsetMs; // read once: two reads a millisecond apart made a 1 h window "wider"
    const [t0, t1] = this.paused && this.view ? this.view : [now - this.windowMs, now];
    const spanS = (t1 - t0) / 1000;
    const q = new URLSearchParams({ sensor: id, from: (t0 / 1000).toFixed(3), to: (t1 / 1000).toFixed(3), format: "csv" });
    if (spanS > 3600) q.set("points", "2000");
    const token = sessionStorage.getItem(TOKEN_KEY);
    const resp = await fetch(`/api/history?${q}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (!resp.ok) {
      this.note(`CSV download refused: ${resp.status} ${(await resp.text()).trim()}`);
      return;
    }
    const url = URL.createObjectURL(await resp.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `${id}-${new Date(t0).toISOString().slice(0, 19).replace(/:/g, "")}.csv`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // -- subscription: server-side aggregation for windows wider than the screen ------------------------------

  /** Bucket length for the selected sensor, or 0 when every reading fits on screen. */
  bucketMs() {
    const s = this.catalogue.get(this.selected);
    if (!s || !this.client.hello?.caps?.includes("agg")) return 0;
    const span = this.paused && this.view ? this.view[1] - this.view[0] : this.windowMs;
    const perPixel = span / this.charts.pixelWidth();
    const intervalMs = s.interval_s > 0 ? s.interval_s * 1000 : this.cards.measuredIntervalMs(s.id);
    if (!intervalMs || perPixel < 2 * intervalMs) return 0;
    return Math.max(10, Math.min(MAX_BUCKET_MS, Math.round(perPixel)));
  }

  updateSubscription(force = false) {
    const bucket = this.bucketMs();
    const entries = bucket ? [{ path: this.selected, period: bucket, agg: AGG }, { path: "*" }] : [{ path: "*" }];
    const key = JSON.stringify(entries);
    if (key === this.subsKey && !force) return;
    const before = this.aggMode;
    this.aggMode = new Map(bucket ? [[this.selected, bucket]] : []);
    for (const id of new Set([...before.keys(), ...this.aggMode.keys()])) this.client.resetChain(id);
    this.subsKey = key;
    $("#mode").textContent = bucket
      ? `gateway aggregates ${this.selected} into ${bucket} ms buckets (min/max band, mean line)`
      : "every reading";
    this.client.subscribe(entries).catch((err) => this.note(`subscription refused: ${err.message}`));
  }

  // -- view ------------------------------------------------------------------------------------------------

  select(id) {
    this.selected = id;
    $("#sensor-select").value = id ?? "";
    this.cards.markSelected(id);
    this.charts.show(this.catalogue.get(id), this.rings.get(id));
    this.viewDirty = true;
    this.updateSubscription();
    this.queueHistory(() => this.loadHistory(id, Math.max(this.windowMs, HISTORY_ON_LOAD_MS)));
  }

  /** Chart `id` and bring its charts into view (a card's Chart button: one tap on a phone). */
  showChart(id) {
    this.select(id);
    const smooth = !matchMedia("(prefers-reduced-motion: reduce)").matches;
    $("#chart-section").scrollIntoView({ block: "start", behavior: smooth ? "smooth" : "instant" });
    this.charts.charts[0]?.el.focus({ preventScroll: true }); // keyboard users land on the chart too
  }

  /** Back from the charts to the selected sensor's card. */
  showCard() {
    const card = document.querySelector(`.card[data-sensor="${CSS.escape(this.selected ?? "")}"]`);
    if (!card) return;
    const smooth = !matchMedia("(prefers-reduced-motion: reduce)").matches;
    card.scrollIntoView({ block: "center", behavior: smooth ? "smooth" : "instant" });
    card.querySelector(".chart-link")?.focus({ preventScroll: true });
  }

  setWindow(ms) {
    this.windowMs = ms;
    this.queueHistory(() => this.loadHistory(this.selected, ms));
    for (const b of document.querySelectorAll("#windows button")) {
      b.setAttribute("aria-pressed", String(Number(b.dataset.ms) === ms));
    }
    this.live();
  }

  setView(t0, t1) {
    if (!(t1 > t0)) return;
    this.paused = true;
    this.view = [t0, t1];
    this.viewDirty = true;
    this.showPause();
    this.updateSubscription();
  }

  /** The live window [now - window, now], with now read once. */
  liveWindow() {
    const now = Date.now();
    return [now - this.windowMs, now];
  }

  pan(f) {
    const [t0, t1] = this.view ?? this.charts.range() ?? this.liveWindow();
    const d = (t1 - t0) * f;
    this.setView(t0 + d, t1 + d);
  }

  zoom(f) {
    const [t0, t1] = this.view ?? this.charts.range() ?? this.liveWindow();
    const mid = (t0 + t1) / 2;
    const half = ((t1 - t0) * f) / 2;
    this.setView(mid - half, mid + half);
  }

  live() {
    this.paused = false;
    this.view = null;
    this.viewDirty = true;
    this.showPause();
    this.updateSubscription();
  }

  showPause() {
    const b = $("#pause");
    b.setAttribute("aria-pressed", String(this.paused));
    b.textContent = this.paused ? "▶ Live" : "❚❚ Pause";
    $("#chart-section").dataset.paused = String(this.paused);
  }

  // -- frame loop ------------------------------------------------------------------------------------------

  frame(now) {
    this.cards.frame(now, Date.now() + this.offsetMs);
    if (now - this.lastSecond >= 1000) this.second(now);
    this.maybeDrawCharts(now);
    requestAnimationFrame((t) => this.frame(t));
  }

  maybeDrawCharts(now) {
    const ring = this.rings.get(this.selected);
    if (!ring) return;
    const nowMs = Date.now() + this.offsetMs;
    if (this.paused) {
      if (!this.viewDirty) return;
    } else {
      const slideMs = this.windowMs / this.charts.pixelWidth();
      const minGap = Math.max(1000 / 30, 3 * this.charts.drawCostMs, Math.min(slideMs, 1000));
      if (now - this.lastChart < minGap) return;
      if (ring.version === this.chartVersion && now - this.lastChart < Math.max(minGap, slideMs)) return;
    }
    const [t0, t1] = this.paused && this.view ? this.view : [nowMs - this.windowMs, nowMs];
    this.charts.draw(t0, t1);
    this.chartVersion = ring.version;
    this.lastChart = now;
    this.viewDirty = false;
  }

  second(now) {
    const c = this.client;
    const dt = (now - this.prevStats.t) / 1000;
    const mps = (c.stats.messages - this.prevStats.messages) / dt;
    const rps = (c.stats.readings - this.prevStats.readings) / dt;
    const aps = (this.aggReadings - this.prevStats.agg) / dt;
    this.prevStats = { t: now, messages: c.stats.messages, readings: c.stats.readings, agg: this.aggReadings };
    $("#rates").textContent = `${mps.toFixed(0)} msg/s · ${rps.toFixed(0)} readings/s${
      aps ? ` (+${aps.toFixed(0)}/s aggregated by the gateway)` : ""}`;
    const d = this.delays.sort((a, b) => a - b);
    const p50 = d.length ? d[Math.floor(d.length / 2)] : null;
    this.delays = [];
    $("#latency").textContent = `RTT ${this.rttMs == null ? "–" : this.rttMs.toFixed(1)} ms · delay ${
      p50 == null ? "–" : Math.max(0, p50).toFixed(0)} ms`;
    $("#drops").textContent = `dropped ${c.stats.dropped} · gaps ${this.gapCount + this.lossCount}`;
    $("#drops").dataset.gaps = String(this.gapCount + this.lossCount);
    this.lastSecond = now;
    this.updateLongWindows();
    this.cards.second(Date.now() + this.offsetMs, (id) => this.rings.get(id)?.pushGap(-Infinity));
  }

  updateLongWindows() {
    let oldest = Infinity;
    for (const r of this.rings.values()) oldest = Math.min(oldest, r.oldestT);
    const heldMs = Date.now() - oldest;
    for (const b of document.querySelectorAll("#windows button")) {
      const i = WINDOWS.findIndex(([, ms]) => ms === Number(b.dataset.ms));
      b.disabled = !this.hasHistory() && i > 2 && !(heldMs > WINDOWS[i - 1][1]);
    }
  }

  // -- chrome ----------------------------------------------------------------------------------------------

  showConnection({ state, retryInMs, attempt }) {
    const el = $("#conn");
    el.dataset.state = state;
    const text = {
      connecting: "connecting…", open: "connected", closed: "closed", unauthorized: "token required",
      reconnecting: retryInMs != null ? `reconnecting (attempt ${attempt}, in ${(retryInMs / 1000).toFixed(1)} s)`
        : "reconnecting…",
    }[state] ?? state;
    el.textContent = text;
    document.body.dataset.conn = state;
  }

  note(text) {
    const el = $("#notes");
    const li = document.createElement("li");
    li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
    el.prepend(li);
    while (el.children.length > 5) el.lastChild.remove();
  }

  askToken(code) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("#auth").hidden = false;
    $("#auth-msg").textContent = code === "auth_failed"
      ? "The gateway refused this token (invalid token). Check it and try again."
      : code === "auth_revoked"
        ? "This token was revoked on the gateway. Enter a current one."
        : "This gateway requires an access token.";
    $("#auth-msg").dataset.code = code;
    $("#token").value = "";
    $("#token").focus();
  }

  bindUi() {
    $("#auth-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const tok = $("#token").value.trim();
      if (!tok) return;
      sessionStorage.setItem(TOKEN_KEY, tok);
      $("#auth-msg").textContent = "checking…";
      this.client.setToken(tok);
    });
    $("#signout").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      this.client.setToken(null);
      this.client.connect();
    });
    $("#sensor-select").addEventListener("change", (ev) => this.select(ev.target.value));
    $("#back-to-card").addEventListener("click", () => this.showCard());
    const wins = $("#windows");
    for (const [label, ms] of WINDOWS) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.dataset.ms = String(ms);
      b.setAttribute("aria-pressed", String(ms === this.windowMs));
      b.addEventListener("click", () => this.setWindow(ms));
      wins.appendChild(b);
    }
    $("#pause").addEventListener("click", () => {
      if (this.paused) this.live();
      else this.setView(...(this.charts.range() ?? this.liveWindow()));
    });
    $("#csv").addEventListener("click", () => this.downloadCsv());
    $("#pan-left").addEventListener("click", () => this.pan(-0.25));
    $("#pan-right").addEventListener("click", () => this.pan(0.25));
    $("#zoom-in").addEventListener("click", () => this.zoom(0.5));
    $("#zoom-out").addEventListener("click", () => this.zoom(2));
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      if (document.documentElement.dataset.theme === "auto") this.applyTheme("auto"); // recolour the charts
    });
    const theme = localStorage.getItem(THEME_KEY) ?? "auto";
    this.applyTheme(theme);
    $("#theme").addEventListener("click", () => {
      const next = { auto: "light", light: "dark", dark: "auto" }[document.documentElement.dataset.theme];
      this.applyTheme(next);
    });
  }

  applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem(THEME_KEY, theme);
    $("#theme").textContent = `Theme: ${theme}`;
    if (this.selected) this.charts.show(this.catalogue.get(this.selected), this.rings.get(this.selected));
    this.viewDirty = true;
  }
}

globalThis.sensorcast = { dashboard: new Dashboard() };
