/**
 * Overview cards: one per sensor with its latest values and units, state (ok / failing / offline /
 * recovering / stopped, simulated), the age of its last reading, a stale marker when it stopped arriving,
 * and a sparkline of its first numeric field over the last minute. Text is refreshed at most 4 times a second
 * and sparklines once a second, whatever the data rate. Fields show their catalogue label (the id in the
 * tooltip); values go through format.js, the same rule as the charts. Each card's "Chart" button selects the
 * sensor and scrolls its charts into view (one tap on a phone, where the charts sit far below the cards).
 */

import { formatValue } from "./format.js";

const CARD_REFRESH_MS = 250;
const SPARK_REFRESH_MS = 1000;
const SPARK_SPAN_MS = 60e3;
const SPARK_MIN_SPAN_MS = 10e3;
const STALE_DEFAULT_MS = 30e3;
export function formatAge(ms) {
  if (ms < 0 || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms ago`;
  if (ms < 60e3) return `${(ms / 1000).toFixed(1)} s ago`;
  if (ms < 3600e3) return `${Math.floor(ms / 60e3)} min ago`;
  return `${(ms / 3600e3).toFixed(1)} h ago`;
}

export class Cards {
  /**
   * @param {HTMLElement} root container of the cards.
   * @param {(id: string) => void} onSelect a card's name was clicked: chart that sensor.
   * @param {(id: string) => void} [onChart] a card's Chart button was clicked: chart it and show the charts.
   */
  constructor(root, onSelect, onChart = onSelect) {
    this.root = root;
    this.onSelect = onSelect;
    this.onChart = onChart;
    this.items = new Map();
    this.lastText = 0;
    this.lastSpark = 0;
  }

  build(sensors, rings, changed) {
    if (!changed && this.items.size) {
      for (const s of sensors) {
        const it = this.items.get(s.id);
        if (it) it.info = s;
      }
      return;
    }
    this.root.replaceChildren();
    this.items.clear();
    for (const s of sensors) this.root.appendChild(this._card(s, rings.get(s.id)));
  }

  _card(s, ring) {
    const el = document.createElement("article");
    el.className = "card";
    el.dataset.sensor = s.id;
    const head = document.createElement("header");
    const title = document.createElement("button");
    title.type = "button";
    title.className = "card-title";
    title.textContent = s.id;
    title.title = "Show the charts of this sensor";
    title.addEventListener("click", () => this.onSelect(s.id));
    const state = document.createElement("span");
    state.className = "badge state";
    const chart = document.createElement("button");
    chart.type = "button";
    chart.className = "chart-link";
    chart.textContent = "Chart";
    chart.setAttribute("aria-label", `Chart of ${s.id}`);
    chart.title = "Show the charts of this sensor";
    chart.addEventListener("click", () => this.onChart(s.id));
    head.append(title, state);
    if (s.sim) {
      const sim = document.createElement("span");
      sim.className = "badge sim";
      sim.textContent = "simulated";
      head.append(sim);
    }
    const model = document.createElement("p");
    model.className = "model";
    const rate = s.rate_hz ? ` · ${+s.rate_hz.toPrecision(3)} Hz` : "";
    model.textContent = `${s.model || s.driver}${rate}${s.description ? ` · ${s.description}` : ""}`;
    const dl = document.createElement("dl");
    dl.className = "values";
    const dds = new Map();
    for (const f of s.fields) {
      const row = document.createElement("div");
      const dt = document.createElement("dt");
      dt.textContent = f.label || f.name;
      dt.title = f.name;
      const dd = document.createElement("dd");
      dd.dataset.field = f.name;
      dd.textContent = "–";
      row.append(dt, dd);
      dl.append(row);
      dds.set(f.name, dd);
    }
    const canvas = document.createElement("canvas");
    canvas.className = "spark";
    canvas.setAttribute("aria-hidden", "true");
    const foot = document.createElement("footer");
    foot.className = "card-foot";
    el.append(head, model, dl, canvas, foot);
    const numeric = s.fields.filter((f) => f.kind !== "str" && f.kind !== "bool").map((f) => f.name);
    const sparkField = numeric.find((n) => n !== "n") ?? numeric[0] ?? null;
    const age = document.createElement("span");
    age.className = "age";
    age.textContent = "no reading yet";
    foot.replaceChildren(age, chart);
    const item = { info: s, el, state, dds, canvas, foot: age, ring, sparkField, values: null, tMs: null, dirty: false,
      stale: false, n: 0, firstT: null, agg: 0 };
    this.items.set(s.id, item);
    this.setState(s.id, s.state, s.error);
    return el;
  }

  setState(id, state, error) {
    const it = this.items.get(id);
    if (!it) return;
    it.el.dataset.state = state;
    it.state.textContent = state;
    it.state.title = error ?? "";
  }

  latest(id, values, tMs, flags, aggN = 0) {
    const it = this.items.get(id);
    if (!it) return;
    it.values = it.values ? Object.assign(it.values, values) : { ...values };
    if (it.firstT === null) it.firstT = tMs;
    it.n += aggN || 1;
    it.tMs = tMs;
    it.agg = aggN;
    it.dirty = true;
  }

  /** Mean interval between readings since the first one (for streaming sensors with interval_s == 0). */
  measuredIntervalMs(id) {
    const it = this.items.get(id);
    return it && it.n > 1 ? (it.tMs - it.firstT) / (it.n - 1) : 0;
  }

  markSelected(id) {
    for (const [sid, it] of this.items) it.el.classList.toggle("selected", sid === id);
  }

  frame(now, nowMs) {
    if (now - this.lastText >= CARD_REFRESH_MS) {
      this.lastText = now;
      for (const it of this.items.values()) {
        if (!it.dirty) continue;
        it.dirty = false;
        const fields = new Map(it.info.fields.map((f) => [f.name, f]));
        for (const [name, dd] of it.dds) {
          const f = fields.get(name);
          if (it.values && name in it.values) dd.textContent = formatValue(it.values[name], f.unit, f.kind);
        }
      }
    }
    if (now - this.lastSpark >= SPARK_REFRESH_MS) {
      this.lastSpark = now;
      for (const it of this.items.values()) this._spark(it, nowMs);
    }
  }

  /** Once a second: ages and stale markers. `onStale(id)` is called when a sensor goes stale. */
  second(nowMs, onStale) {
    for (const [id, it] of this.items) {
      if (it.tMs === null) continue;
      const age = nowMs - it.tMs;
      const s = it.info;
      const interval = s.interval_s > 0 ? s.interval_s * 1000 : this.measuredIntervalMs(id);
      const staleAfter = interval > 0 ? Math.max(3 * interval + 1000, 3000) : STALE_DEFAULT_MS;
      const stale = age > staleAfter;
      if (stale && !it.stale) onStale(id);
      it.stale = stale;
      it.el.classList.toggle("stale", stale);
      it.foot.textContent = stale ? `stale: last reading ${formatAge(age)}` : formatAge(age);
    }
  }

  _spark(it, nowMs) {
    const c = it.canvas;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (!w || !h || !it.ring || !it.sparkField) return;
    const dpr = globalThis.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    // Up to the last minute; a young sensor's line still spans the card instead of hugging its right edge.
    const span = Math.min(SPARK_SPAN_MS, Math.max(SPARK_MIN_SPAN_MS, nowMs - it.ring.oldestT));
    const env = it.ring.envelope(it.sparkField, nowMs, span, w);
    let lo = Infinity;
    let hi = -Infinity;
    for (const e of env) {
      if (!e) continue;
      if (e[1] < lo) lo = e[1];
      if (e[2] > hi) hi = e[2];
    }
    if (!(hi >= lo)) return;
    const pad = hi === lo ? 1 : (hi - lo) * 0.1;
    const y = (v) => h - ((v - lo + pad) / (hi - lo + 2 * pad)) * h;
    ctx.strokeStyle = getComputedStyle(c).color;
    ctx.lineWidth = 1;
    ctx.beginPath();
    let pen = false;
    for (const e of env) {
      if (!e) {
        pen = false;
        continue;
      }
      const x = e[0] + 0.5;
      if (!pen) ctx.moveTo(x, y(e[1]));
      else ctx.lineTo(x, y(e[1]));
      if (e[2] !== e[1]) ctx.lineTo(x, y(e[2]));
      pen = true;
    }
    ctx.stroke();
  }
}
