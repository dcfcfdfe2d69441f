/**
 * Bounded per-sensor time series for the dashboard.
 *
 * One ring per sensor: a time column (ms since the epoch) and, per numeric field, a value column; min/max
 * columns are added the first time a server-side aggregate (agg bucket) arrives for the sensor. Columns are
 * Float64Arrays that start small and double up to `capacity` points, then wrap (oldest points fall out), so
 * memory is bounded and stays flat once full. A gap marker is a point whose values are all NaN: charts turn
 * it into `null`, which uPlot draws as a break in the line instead of a straight line across missing data.
 */

export const DEFAULT_CAPACITY = 100000;
const INITIAL_CAPACITY = 1024;

export class SeriesRing {
  /**
   * @param {string[]} fields numeric field names (bool fields are stored as 0/1).
   * @param {number} capacity maximum points kept.
   */
  constructor(fields, capacity = DEFAULT_CAPACITY) {
    this.fields = [...fields];
    this.capacity = capacity;
    this._cap = Math.min(INITIAL_CAPACITY, capacity);
    this.t = new Float64Array(this._cap);
    this.v = this.fields.map(() => new Float64Array(this._cap));
    this.lo = null;
    this.hi = null;
    this.head = 0; // physical index of the oldest point
    this.length = 0;
    this.version = 0; // bumped on every change (charts redraw only when it moved)
    this.gaps = 0;
  }

  get newestT() {
    return this.length ? this.t[this._phys(this.length - 1)] : -Infinity;
  }

  get oldestT() {
    return this.length ? this.t[this.head] : Infinity;
  }

  _phys(i) {
    const p = this.head + i;
    return p >= this._cap ? p - this._cap : p;
  }

  _grow() {
    const cap = Math.min(this._cap * 2, this.capacity);
    const move = (col) => {
      const out = new Float64Array(cap);
      for (let i = 0; i < this.length; i++) out[i] = col[this._phys(i)];
      return out;
    };
    this.t = move(this.t);
    this.v = this.v.map(move);
    if (this.lo) {
      this.lo = this.lo.map(move);
      this.hi = this.hi.map(move);
    }
    this.head = 0;
    this._cap = cap;
  }

  _slot(tMs) {
    if (this.length === this._cap && this._cap < this.capacity) this._grow();
    let p;
    if (this.length < this._cap) {
      p = this._phys(this.length);
      this.length += 1;
    } else {
      p = this.head; // full: overwrite the oldest
      this.head = this.head + 1 === this._cap ? 0 : this.head + 1;
    }
    this.t[p] = tMs;
    this.version += 1;
    return p;
  }

  /** Append a reading; readings older than the newest point (late backfill) are ignored. */
  push(tMs, values) {
    if (tMs <= this.newestT) return false;
    const p = this._slot(tMs);
    for (let k = 0; k < this.fields.length; k++) {
      const x = values[this.fields[k]];
      const num = typeof x === "boolean" ? +x : typeof x === "number" ? x : NaN;
      this.v[k][p] = num;
      if (this.lo) {
        this.lo[k][p] = num;
        this.hi[k][p] = num;
      }
    }
    return true;
  }

  /** Append one aggregate bucket {field: [min, max, mean, last]} at time `tMs`. */
  pushAgg(tMs, aggs) {
    if (tMs <= this.newestT) return false;
    if (!this.lo) this._addRange();
    const p = this._slot(tMs);
    for (let k = 0; k < this.fields.length; k++) {
      const a = aggs[this.fields[k]];
      const num = (x) => (typeof x === "number" ? x : typeof x === "boolean" ? +x : NaN);
      const mean = a ? num(a[2] ?? a[3]) : NaN;
      this.v[k][p] = mean;
      this.lo[k][p] = a ? num(a[0] ?? mean) : NaN;
      this.hi[k][p] = a ? num(a[1] ?? mean) : NaN;
    }
    return true;
  }

  /** Every point as `{t, mean, lo, hi}` (one value per field; lo/hi null without a range), oldest first. */
  _points() {
    const out = [];
    for (let i = 0; i < this.length; i++) {
      const p = this._phys(i);
      out.push({
        t: this.t[p],
        mean: this.v.map((c) => c[p]),
        lo: this.lo ? this.lo.map((c) => c[p]) : null,
        hi: this.hi ? this.hi.map((c) => c[p]) : null,
      });
    }
    return out;
  }

  /** Replace the content by `points` (sorted); beyond the capacity the oldest ones do not fit. */
  _rebuild(points) {
    if (!this.lo) this._addRange();
    this.head = 0;
    this.length = 0;
    for (const pt of points.slice(Math.max(0, points.length - this.capacity))) {
      const p = this._slot(pt.t);
      for (let k = 0; k < this.fields.length; k++) {
        this.v[k][p] = pt.mean[k];
        this.lo[k][p] = pt.lo ? pt.lo[k] : pt.mean[k];
        this.hi[k][p] = pt.hi ? pt.hi[k] : pt.mean[k];
      }
    }
  }

  /**
   * Put stored history before the oldest point: `points` are `{t, mean: [...], lo: [...], hi: [...]}` (one
   * value per field, NaN where none), sorted by time, all older than `oldestT`. When the total exceeds the
   * capacity, the oldest history points are the ones that do not fit.
   */
  prependHistory(points) {
    if (!points.length) return 0;
    const kept = Math.min(points.length, Math.max(0, this.capacity - this.length));
    this._rebuild([...points.slice(points.length - kept), ...this._points()]);
    return kept;
  }

  /** The holes: `[tBefore, tAfter]` around each gap marker (tAfter: the next point's time, or Infinity). */
  holes() {
    const out = [];
    for (let i = 1; i < this.length; i++) {
      if (this._isGap(i) && !this._isGap(i - 1)) {
        out.push([this.t[this._phys(i - 1)], i + 1 < this.length ? this.t[this._phys(i + 1)] : Infinity]);
      }
    }
    return out;
  }

  /**
   * Fill the hole after `tBefore` (up to `tAfter`) with history `points` (sorted, same shape as for
   * prependHistory): they replace the hole's gap marker, and a new marker follows them when more than
   * `breakMs` is still missing before `tAfter` (the readings lost while the gateway was down stay a break).
   */
  fillHole(tBefore, tAfter, points, breakMs) {
    const inside = points.filter((pt) => pt.t > tBefore && pt.t < tAfter);
    if (!inside.length) return 0;
    const nan = this.fields.map(() => NaN);
    const out = [];
    for (const pt of this._points()) {
      if (pt.t > tBefore && pt.t < tAfter && pt.mean.every(Number.isNaN)) continue; // the old marker
      out.push(pt);
      if (pt.t === tBefore) {
        out.push(...inside);
        const last = inside[inside.length - 1].t;
        if (tAfter - last > breakMs) out.push({ t: last + 0.001, mean: nan, lo: nan, hi: nan });
      }
    }
    this._rebuild(out);
    return inside.length;
  }

  /** Append a gap marker (drawn as a break) unless the newest point already is one. */
  pushGap(tMs) {
    if (!this.length || this._isGap(this.length - 1)) return false;
    const t = Math.max(tMs, this.newestT + 0.001);
    const p = this._slot(t);
    for (let k = 0; k < this.fields.length; k++) {
      this.v[k][p] = NaN;
      if (this.lo) {
        this.lo[k][p] = NaN;
        this.hi[k][p] = NaN;
      }
    }
    this.gaps += 1;
    return true;
  }

  _isGap(i) {
    const p = this._phys(i);
    return this.v.length > 0 && this.v.every((col) => Number.isNaN(col[p]));
  }

  _addRange() {
    this.lo = this.v.map((col) => col.slice());
    this.hi = this.v.map((col) => col.slice());
  }

  /** First logical index with t >= tMs (binary search; the time column is sorted). */
  indexAt(tMs) {
    let a = 0;
    let b = this.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (this.t[this._phys(m)] < tMs) a = m + 1;
      else b = m;
    }
    return a;
  }

  /**
   * Plain arrays for uPlot covering [t0, t1] (plus one point either side so lines reach the edges).
   * @returns {{x: number[], v: (number|null)[], lo: (number|null)[]|null, hi: (number|null)[]|null,
   *            points: number, gaps: number}}
   */
  slice(field, t0, t1) {
    const k = this.fields.indexOf(field);
    const i0 = Math.max(0, this.indexAt(t0) - 1);
    let j = this.indexAt(t1); // first point at or after t1; the first one strictly after closes the line
    if (j < this.length && this.t[this._phys(j)] === t1) j += 1;
    const i1 = Math.min(this.length, j + 1);
    const n = Math.max(0, i1 - i0);
    const x = new Array(n);
    const v = new Array(n);
    const lo = this.lo ? new Array(n) : null;
    const hi = this.hi ? new Array(n) : null;
    let points = 0;
    let gaps = 0;
    let prevNull = true;
    for (let j = 0; j < n; j++) {
      const p = this._phys(i0 + j);
      x[j] = this.t[p];
      const val = this.v[k][p];
      if (Number.isNaN(val)) {
        v[j] = null;
        if (!prevNull) gaps += 1;
        prevNull = true;
      } else {
        v[j] = val;
        points += 1;
        prevNull = false;
      }
      if (lo) {
        const l = this.lo[k][p];
        const h = this.hi[k][p];
        lo[j] = Number.isNaN(l) ? null : l;
        hi[j] = Number.isNaN(h) ? null : h;
      }
    }
    return { x, v, lo, hi, points, gaps };
  }

  /** Min/max per pixel column of the last `spanMs` for sparklines: [[t, min, max], ...]. */
  envelope(field, tNow, spanMs, columns) {
    const k = this.fields.indexOf(field);
    if (k < 0 || !this.length) return [];
    const t0 = tNow - spanMs;
    const out = [];
    const w = spanMs / columns;
    let col = -1;
    let lo = 0;
    let hi = 0;
    for (let i = this.indexAt(t0); i < this.length; i++) {
      const p = this._phys(i);
      const c = Math.floor((this.t[p] - t0) / w);
      const val = this.v[k][p];
      if (Number.isNaN(val)) {
        if (col >= 0) out.push([col, lo, hi]);
        out.push(null);
        col = -1;
        continue;
      }
      const l = this.lo ? this.lo[k][p] : val;
      const h = this.hi ? this.hi[k][p] : val;
      if (c !== col) {
        if (col >= 0) out.push([col, lo, hi]);
        col = c;
        lo = l;
        hi = h;
      } else {
        if (l < lo) lo = l;
        if (h > hi) hi = h;
      }
    }
    if (col >= 0) out.push([col, lo, hi]);
    return out;
  }
}
