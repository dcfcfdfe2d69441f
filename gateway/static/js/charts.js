/**
 * uPlot charts: one per numeric field of the selected sensor, cursor-synchronised.
 *
 * Live mode follows the newest data over the selected window. Dragging selects a range (zoom), the wheel zooms
 * around the pointer, shift+wheel / arrow keys / the toolbar pan; any of these pauses live following, and
 * "Live" (or double-click, or Escape) resumes it. Data keeps being recorded while paused.
 * Each chart element carries `data-sensor`, `data-field`, `data-points` and `data-gaps` (drawn breaks) for tests
 * and the curious. Titles use the field's catalogue label; legend values go through format.js (as the cards).
 */

/* global uPlot */

import { formatTicks, formatValue } from "./format.js";

const SYNC_KEY = "sensorcast";

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** Width of the y axis from its longest tick label, so 101 325 Pa is not clipped and 0.5 wastes no room. */
function yAxisSize(u, values, axisIdx, cycleNum) {
  const axis = u.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  let size = axis.ticks.size + axis.gap;
  const longest = (values ?? []).reduce((acc, v) => (v.length > acc.length ? v : acc), "");
  if (longest) {
    u.ctx.font = axis.font[0];
    size += u.ctx.measureText(longest).width / (globalThis.devicePixelRatio || 1);
  }
  return Math.ceil(size);
}

export class ChartPanel {
  /**
   * @param {HTMLElement} root container for the charts.
   * @param {{onUserRange: Function}} hooks called when the user zooms/pans (the dashboard pauses live mode).
   */
  constructor(root, hooks) {
    this.root = root;
    this.hooks = hooks;
    this.charts = []; // {field, unit, u, el, ranged}
    this.sensor = null;
    this.ring = null;
    this.programmatic = false;
    this.lastDrawMs = 0;
    this.drawCostMs = 0;
    this._observer = new ResizeObserver(() => this._resize());
    this._observer.observe(root);
  }

  /** Show the charts of `sensor` (catalogue entry) backed by `ring`. */
  show(sensor, ring) {
    this.destroy();
    this.sensor = sensor;
    this.ring = ring;
    if (!sensor || !ring) return;
    const specs = new Map(sensor.fields.map((f) => [f.name, f]));
    for (const field of ring.fields) this.charts.push(this._make(field, specs.get(field) ?? {}, !!ring.lo));
  }

  destroy() {
    for (const c of this.charts) {
      c.u.destroy();
      c.el.remove();
    }
    this.charts = [];
  }

  _width() {
    return Math.max(240, Math.floor(this.root.clientWidth - 4));
  }

  /** Plot width in device pixels: what a window must be divided into to decide on aggregation. */
  pixelWidth() {
    return Math.round(this._width() * (globalThis.devicePixelRatio || 1));
  }

  _make(field, spec, ranged) {
    const unit = spec.unit || "";
    const label = spec.label || field;
    const el = document.createElement("figure");
    el.className = "chart";
    el.tabIndex = 0;
    el.dataset.sensor = this.sensor.id;
    el.dataset.field = field;
    el.dataset.points = "0";
    el.dataset.gaps = "0";
    el.setAttribute("aria-label", `${this.sensor.id} ${label} chart. Arrow keys pan, + and - zoom, Escape: live`);
    el.title = `${this.sensor.id}.${field}`;
    this.root.appendChild(el);
    const line = cssVar("--accent", "#2563eb");
    const band = cssVar("--band", "rgba(37,99,235,0.18)");
    const axis = cssVar("--muted", "#666");
    const grid = cssVar("--grid", "rgba(128,128,128,0.15)");
    const fmt = (u, v) => formatValue(v, unit, spec.kind);
    const series = [{}, { label, stroke: line, width: 1.5, value: fmt, spanGaps: false }];
    if (ranged) {
      series.push({ label: "min", stroke: band, width: 0.5, value: fmt, points: { show: false } });
      series.push({ label: "max", stroke: band, width: 0.5, value: fmt, points: { show: false } });
    }
    const opts = {
      width: this._width(),
      height: 180,
      title: `${this.sensor.id} · ${label}${unit ? ` (${unit})` : ""}`,
      series,
      bands: ranged ? [{ series: [3, 2], fill: band }] : [],
      scales: { x: { time: true } },
      axes: [
        { stroke: axis, grid: { stroke: grid } },
        { stroke: axis, grid: { stroke: grid }, size: yAxisSize, values: (u, splits) => formatTicks(splits, unit) },
      ],
      cursor: {
        sync: { key: SYNC_KEY },
        drag: { x: true, y: false, setScale: true },
        bind: { dblclick: () => () => { this.hooks.onLive(); return null; } },
      },
      legend: { live: true },
      hooks: {
        setScale: [
          (u, key) => {
            if (key === "x" && !this.programmatic) this.hooks.onUserRange(u.scales.x.min * 1000, u.scales.x.max * 1000);
          },
        ],
      },
    };
    const u = new uPlot(opts, [[], [], ...(ranged ? [[], []] : [])], el);
    u.over.addEventListener("wheel", (ev) => this._wheel(ev, u), { passive: false });
    el.addEventListener("keydown", (ev) => this._key(ev));
    return { field, unit, u, el, ranged };
  }

  _wheel(ev, u) {
    ev.preventDefault();
    const { min, max } = u.scales.x;
    const span = max - min;
    if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
      const d = (ev.deltaX || ev.deltaY) > 0 ? 0.1 : -0.1;
      this.hooks.onUserRange((min + d * span) * 1000, (max + d * span) * 1000);
      return;
    }
    const at = u.posToVal(ev.offsetX, "x");
    const f = ev.deltaY > 0 ? 1.25 : 0.8;
    this.hooks.onUserRange((at - (at - min) * f) * 1000, (at + (max - at) * f) * 1000);
  }

  _key(ev) {
    const actions = { ArrowLeft: ["pan", -0.25], ArrowRight: ["pan", 0.25], "+": ["zoom", 0.5], "=": ["zoom", 0.5],
      "-": ["zoom", 2], Escape: ["live"] };
    const a = actions[ev.key];
    if (!a) return;
    ev.preventDefault();
    if (a[0] === "live") this.hooks.onLive();
    else this.hooks[a[0] === "pan" ? "onPan" : "onZoom"](a[1]);
  }

  _resize() {
    const w = this._width();
    for (const c of this.charts) c.u.setSize({ width: w, height: 180 });
    this.hooks.onResize?.();
  }

  /** Current x range of the charts in ms, or null. */
  range() {
    const u = this.charts[0]?.u;
    return u && u.scales.x.min != null ? [u.scales.x.min * 1000, u.scales.x.max * 1000] : null;
  }

  /** Redraw every chart over [t0Ms, t1Ms] from the ring. */
  draw(t0Ms, t1Ms) {
    if (!this.ring || !this.charts.length) return;
    if (!!this.ring.lo !== this.charts[0].ranged) this.show(this.sensor, this.ring); // agg data arrived
    const start = performance.now();
    this.programmatic = true;
    try {
      for (const c of this.charts) {
        const s = this.ring.slice(c.field, t0Ms, t1Ms);
        const x = s.x.map((t) => t / 1000);
        const data = c.ranged ? [x, s.v, s.lo ?? s.v.map(() => null), s.hi ?? s.v.map(() => null)] : [x, s.v];
        c.u.batch(() => {
          c.u.setData(data, false);
          c.u.setScale("x", { min: t0Ms / 1000, max: t1Ms / 1000 });
        });
        c.el.dataset.points = String(s.points);
        c.el.dataset.gaps = String(s.gaps);
      }
    } finally {
      this.programmatic = false;
    }
    this.drawCostMs = performance.now() - start;
    this.lastDrawMs = start;
  }
}
