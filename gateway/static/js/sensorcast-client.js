/**
 * sensorcast-client.js: a small, reusable browser client for the sensorcast WebSocket protocol v1
 * (docs/protocol.md). The dashboard is built on it; use it for your own pages too.
 *
 * It needs a MessagePack codec: load `/static/vendor/msgpack/msgpack.min.js` first (it defines
 * `globalThis.MessagePack`) or pass `{codec: {encode, decode}}`.
 *
 *   <script src="/static/vendor/msgpack/msgpack.min.js"></script>
 *   <script type="module">
 *     import { SensorcastClient } from "/static/js/sensorcast-client.js";
 *     const client = new SensorcastClient({ token: sessionStorage.getItem("sensorcast.token") });
 *     client.on("hello", (hello) => console.log("sensors", hello.sensors));
 *     client.on("readings", ({ readings }) => {
 *       for (const [seq, prev, tsNs, sensor, values, flags] of readings) console.log(sensor, values);
 *     });
 *     client.on("state", ({ state }) => console.log("connection", state));
 *     client.connect();
 *     await client.subscribe([{ path: "env.*" }, { path: "imu", period: 1000, agg: ["min", "max"] }]);
 *     const result = await client.command("relay1", true);   // {ok, value} or {ok: false, error}
 *   </script>
 *
 * What it does for you:
 * - Authentication: the token (if any) rides in the WebSocket handshake as the subprotocol `bearer.<token>`
 *   (next to `sensorcast.v1`; the gateway never echoes it), never in the URL. It is checked before the
 *   connection waits anywhere, so peers flooding the gateway's pre-auth budget from the same address cannot
 *   crowd a token holder out. A token that is not a valid subprotocol name goes as the first message instead.
 * - A reload on the gateway may revoke the token (`error auth_revoked`, close 4401: reconnecting stops, like a
 *   refused token) or change its role (`status.role`: `hello.role` is updated and a `role` event fires).
 * - Reconnects with exponential backoff and jitter, then re-subscribes and sends `resume` with the last
 *   (boot, seq) it delivered. Live frames that arrive while the backfill is in flight are held back, so
 *   `readings` events always come in seq order without duplicates. A hole that cannot be filled comes as a
 *   `gap` event (`reason: "ring"` or `"boot"`).
 * - Loss detection: for each sensor followed at full rate, a reading whose `prev` is not the last seq seen
 *   for that sensor yields a `loss` event. `status.drop` notices yield `drop` events.
 * - Latency: a `ping` every `pingIntervalMs`; `latency` events carry the round trip and the estimated offset
 *   between the gateway's clock and this browser's.
 *
 * Events (`client.on(type, fn)` returns an unsubscribe function):
 *   state    {state: "connecting"|"open"|"reconnecting"|"unauthorized"|"closed", attempt, retryInMs, code, reason}
 *   hello    the hello frame (catalogue: sensors, actuators, role, boot, caps, limits)
 *   readings {readings: [[seq, prev, ts_ns, sensor, values, flags], ...], backfill: bool}
 *   agg      {period, entries: [[sensor, t0_ns, t1_ns, n, {field: [min, max, mean, last]}], ...]}
 *   status   the status frame (sensor states, actuator values, drop)
 *   event    a local rule fired, cleared or was acknowledged (the `event` frame)
 *   fleet    the gateway list of a `sensorcast fleet` (the `fleet` frame; never sent by a gateway)
 *   drop     {n, from, to, reason}
 *   gap      {boot, from, to, reason, initial}   (initial: hole before the first connection's history)
 *   loss     {sensor, after, before, coalesced}  (readings of `sensor` between seqs `after` and `before` missed)
 *   latency  {rttMs, offsetMs}
 *   autherror {code, msg}                          (wrong, missing or revoked token; reconnecting stops until connect())
 *   role     {role}                                (a gateway reload changed this token's role; hello.role follows)
 *   error    any error frame
 */

export const PROTOCOL_VERSION = 1;
export const FLAG_CLOCK_SYNCED = 1;
export const FLAG_SIMULATED = 2;
export const FLAG_COALESCED = 4;
export const FLAG_RESENT = 8;

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 15000, factor: 2, jitter: 0.3 };
/** RFC 7230 token characters: what a WebSocket subprotocol name (and so `bearer.<token>`) may contain. */
const SUBPROTOCOL_SAFE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const AUTH_CODES = new Set(["auth_failed", "auth_required", "auth_revoked"]);
/** Close code of a session whose token a gateway reload revoked (after `error auth_revoked`). */
export const CLOSE_REVOKED = 4401;
const REQUEST_TIMEOUT_MS = 10000;

/** The WebSocket URL of the gateway that served this page (same host and port, `wss:` under https). */
export function defaultUrl(loc = globalThis.location) {
  return `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/`;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): exponential, capped, with +-jitter so that many
 * browsers do not reconnect in lockstep after a gateway restart.
 */
export function backoffDelayMs(attempt, { initialMs, maxMs, factor, jitter } = DEFAULT_BACKOFF, rand = Math.random) {
  const base = Math.min(maxMs, initialMs * factor ** attempt);
  return Math.max(0, Math.round(base * (1 + jitter * (2 * rand() - 1))));
}

export class SensorcastClient {
  /**
   * @param {object} [options]
   * @param {string} [options.url] WebSocket URL (default: the page's own host, path `/`).
   * @param {string|null} [options.token] access token (sent as the `bearer.<token>` subprotocol).
   * @param {Array<object>} [options.subscribe] subscription entries (default everything at full rate).
   * @param {boolean} [options.history] on the first connection, backfill what the gateway's ring holds.
   * @param {object} [options.backoff] {initialMs, maxMs, factor, jitter}.
   * @param {number} [options.pingIntervalMs] latency probe interval (0 disables; default 2000).
   * @param {{encode: Function, decode: Function}} [options.codec] MessagePack codec.
   * @param {Function} [options.WebSocket] WebSocket constructor (for Node or tests).
   */
  constructor(options = {}) {
    this.url = options.url ?? defaultUrl();
    this.token = options.token ?? null;
    this.subscription = options.subscribe ?? [{ path: "*" }];
    this.backfillOnConnect = options.history ?? false; // the option keeps its name; history() is the query
    this.backoff = { ...DEFAULT_BACKOFF, ...(options.backoff ?? {}) };
    this.pingIntervalMs = options.pingIntervalMs ?? 2000;
    this.codec = options.codec ?? globalThis.MessagePack;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (!this.codec) throw new Error("sensorcast-client: load vendor/msgpack/msgpack.min.js or pass {codec}");
    this.state = "idle";
    this.hello = null;
    this.boot = null;
    this.lastSeq = 0;
    this.attempt = 0;
    this.stats = { messages: 0, readings: 0, bytes: 0, dropped: 0, lost: 0, connects: 0 };
    this._chain = new Map();
    this._listeners = new Map();
    this._pending = new Map();
    this._historyRows = new Map();
    this._nextId = 1;
    this._ws = null;
    this._timer = null;
    this._pinger = null;
    this._resumeRef = null;
    this._initialResume = null;
    this._inHello = false;
    this._held = [];
    this._lastRx = 0;
    this._wanted = false;
  }

  /** Register `fn` for events of `type`; returns a function that removes it. */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this._listeners.get(type)?.delete(fn);
  }

  _emit(type, detail) {
    const set = this._listeners.get(type);
    if (!set) return;
    for (const fn of set) {
      try {
        fn(detail);
      } catch (err) {
        console.error(`sensorcast-client: ${type} listener failed`, err);
      }
    }
  }

  _setState(state, extra = {}) {
    this.state = state;
    this._emit("state", { state, attempt: this.attempt, ...extra });
  }

  /** Open the connection (and keep it open: reconnects until close() or a refused token). */
  connect() {
    this._wanted = true;
    clearTimeout(this._timer);
    this._open();
  }

  /** Close for good (no reconnect). */
  close() {
    this._wanted = false;
    clearTimeout(this._timer);
    this._teardown(1000, "client closed");
    this._setState("closed");
  }

  /** Replace the token (e.g. after the user typed one) and reconnect with it. */
  setToken(token) {
    this.token = token || null;
    this.attempt = 0;
    if (this._wanted || this.state === "unauthorized") this.connect();
  }

  /** Forget the `prev` chain of `sensor` (call after changing how it is subscribed, e.g. to or from agg). */
  resetChain(sensor) {
    this._chain.delete(sensor);
  }

  /**
   * Set the subscription (kept across reconnects). Resolves with the ack, rejects with the error frame.
   * @param {Array<object>} entries [{path, policy, period, minPeriod, agg}]
   */
  subscribe(entries, { replace = true } = {}) {
    this.subscription = replace ? [...entries] : [...this.subscription, ...entries];
    // Not connected, or called from a hello listener: the subscription goes out right after hello anyway.
    if (this.state !== "open" || this._inHello) return Promise.resolve(null);
    return this._request({ t: "subscribe", replace, subscribe: entries });
  }

  /** Remove entries by exact path (`"*"` removes everything). */
  unsubscribe(paths) {
    const drop = new Set(paths);
    this.subscription = drop.has("*") ? [] : this.subscription.filter((e) => !drop.has(e.path));
    if (this.state !== "open") return Promise.resolve(null);
    return this._request({ t: "unsubscribe", unsubscribe: paths.map((path) => ({ path })) });
  }

  /** Drive actuator `target` to `value`; resolves with the `result` frame ({ok, value} or {ok: false, error}). */
  command(target, value) {
    if (this.state !== "open") return Promise.resolve({ t: "result", target, ok: false, error: "not connected" });
    return this._request({ t: "command", target, value }, true);
  }

  /** Acknowledge rule `rule`'s active event (operator role); resolves with the `ack` or `error` frame. */
  ackEvent(rule) {
    if (this.state !== "open") return Promise.resolve({ t: "error", code: "closed", msg: "not connected" });
    return this._request({ t: "ack_event", rule }, true);
  }

  /**
   * Ask for stored history (the gateway lists `history` in hello.caps). Resolves once every page arrived.
   *
   * @param {object} q
   * @param {string} q.sensor sensor id.
   * @param {string[]} [q.fields] fields (default: all).
   * @param {number} q.fromMs start, ms since the epoch.
   * @param {number} q.toMs end (exclusive), ms since the epoch.
   * @param {number} [q.points] about this many min/max buckets (the gateway picks the tier), or
   * @param {number} [q.periodMs] buckets of this length; neither: raw rows.
   * @returns {Promise<{sensor: string, tier: string, bucketNs: number, fields: string[], rows: Array, next: ?number}>}
   *   rows: raw `[t_ns, v1, v2...]`, or buckets `[t_ns, [n, min, max, mean, last] | null per field]`.
   */
  history({ sensor, fields = [], fromMs, toMs, points, periodMs }) {
    // ns as float64 (exact to ~256 ns, which a history range does not need): the gateway accepts integral floats.
    const msg = { t: "history", sensor, fields, from: Math.round(fromMs) * 1e6, to: Math.round(toMs) * 1e6 };
    if (points !== undefined) msg.points = points;
    if (periodMs !== undefined) msg.period = periodMs;
    return this._request(msg).then((f) => ({
      sensor: f.sensor,
      tier: f.tier,
      bucketNs: Number(f.bucket_ns),
      fields: f.fields,
      rows: f.rows,
      next: f.next === null || f.next === undefined ? null : Number(f.next),
    }));
  }

  /** Measure the round trip; resolves with {rttMs, offsetMs}. */
  async ping() {
    const t0 = performance.now();
    const sentMs = Date.now();
    const pong = await this._request({ t: "ping", ts: sentMs });
    const rttMs = performance.now() - t0;
    const offsetMs = Number(pong.ts) / 1e6 - (sentMs + rttMs / 2);
    const out = { rttMs, offsetMs };
    this._emit("latency", out);
    return out;
  }

  _request(msg, resolveErrors = false) {
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new Error(`${msg.t}: no reply within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this._pending.set(id, { resolve, reject, timer, resolveErrors });
      this._send({ ...msg, id });
    });
  }

  _send(msg) {
    if (this._ws && this._ws.readyState === 1) this._ws.send(this.codec.encode(msg));
  }

  _open() {
    this._teardown(1000, "reconnecting");
    this._setState(this.stats.connects === 0 && this.attempt === 0 ? "connecting" : "reconnecting");
    const sep = this.url.includes("?") ? "&" : "?";
    const bearer = !!this.token && SUBPROTOCOL_SAFE.test(this.token);
    const protocols = bearer ? ["sensorcast.v1", `bearer.${this.token}`] : ["sensorcast.v1"];
    let ws;
    try {
      ws = new this.WebSocket(`${this.url}${sep}subscribe=none`, protocols);
    } catch (err) {
      this._scheduleReconnect(0, String(err));
      return;
    }
    ws.binaryType = "arraybuffer";
    this._ws = ws;
    ws.onopen = () => {
      this._lastRx = performance.now();
      // Token in the handshake: the gateway answers with hello (or auth_failed) unasked. Otherwise the first
      // message: the token, or a ping (which a gateway that needs a token answers with auth_required).
      if (bearer) return;
      if (this.token) this._send({ t: "auth", id: 0, token: this.token });
      else this._send({ t: "ping", id: 0, ts: Date.now() });
    };
    ws.onmessage = (ev) => this._onFrame(ev.data);
    ws.onclose = (ev) => {
      if (this._ws !== ws) return;
      this._ws = null;
      this._onClosed(ev.code, ev.reason);
    };
    ws.onerror = () => {};
  }

  _teardown(code, reason) {
    clearInterval(this._pinger);
    this._pinger = null;
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(code, reason);
      } catch {
        /* already closing */
      }
    }
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new Error("connection closed"));
    }
    this._pending.clear();
    this._historyRows.clear();
    this._resumeRef = null;
    this._held = [];
  }

  _onClosed(code, reason) {
    clearInterval(this._pinger);
    this._pinger = null;
    for (const [, p] of this._pending) {
      clearTimeout(p.timer);
      p.reject(new Error("connection closed"));
    }
    this._pending.clear();
    this._historyRows.clear();
    this._resumeRef = null;
    this._held = [];
    if (code === CLOSE_REVOKED && this.state !== "unauthorized") this._unauthorized("auth_revoked", reason);
    if (this.state === "unauthorized" || !this._wanted) return;
    this._scheduleReconnect(code, reason);
  }

  _unauthorized(code, msg) {
    this._wanted = false;
    this._setState("unauthorized", { code, reason: msg });
    this._emit("autherror", { code, msg });
  }

  _scheduleReconnect(code, reason) {
    const delay = backoffDelayMs(this.attempt, this.backoff);
    this.attempt += 1;
    this._setState("reconnecting", { retryInMs: delay, code, reason });
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._open(), delay);
  }

  _onFrame(data) {
    this._lastRx = performance.now();
    this.stats.messages += 1;
    this.stats.bytes += data.byteLength ?? data.length ?? 0;
    let msg;
    try {
      msg = typeof data === "string" ? JSON.parse(data) : this.codec.decode(new Uint8Array(data));
    } catch (err) {
      console.warn("sensorcast-client: undecodable frame", err);
      return;
    }
    switch (msg.t) {
      case "hello":
        return this._onHello(msg);
      case "data":
        if (msg.backfill || this._resumeRef === null) return this._deliver(msg.r, !!msg.backfill);
        this._held.push(msg.r);
        return;
      case "agg":
        return this._emit("agg", { period: msg.period, entries: msg.a });
      case "history": {
        // Pages of one reply share its ref; the request settles with all rows once the last page (done) came.
        const rows = this._historyRows.get(msg.ref) ?? [];
        for (const r of msg.rows) rows.push(r);
        if (!msg.done) {
          this._historyRows.set(msg.ref, rows);
          return;
        }
        this._historyRows.delete(msg.ref);
        return this._settle({ ...msg, rows }, false);
      }
      case "status":
        if (msg.actuators && this.hello?.actuators) {
          // hello stays the latest known state (a role change rebuilds controls from it)
          const acts = this.hello.actuators.map((a) => (a.id in msg.actuators ? { ...a, value: msg.actuators[a.id].value } : a));
          this.hello = { ...this.hello, actuators: acts };
        }
        if (msg.role && this.hello) {
          this.hello = { ...this.hello, role: msg.role };
          this._emit("role", { role: msg.role });
        }
        if (msg.drop) {
          this.stats.dropped += msg.drop.n;
          this._emit("drop", msg.drop);
        }
        return this._emit("status", msg);
      case "event":
        return this._emit("event", msg);
      case "fleet":
        return this._emit("fleet", msg);
      case "gap":
        if (msg.reason === "boot") this._chain.clear();
        return this._emit("gap", { ...msg, initial: this._initialResume === msg.ref });
      case "error":
        if (AUTH_CODES.has(msg.code)) this._unauthorized(msg.code, msg.msg);
        this._emit("error", msg);
        return this._settle(msg, true);
      default:
        if (msg.t === "ack" && msg.ref === this._resumeRef && msg.ref !== null) this._endResume();
        return this._settle(msg, false);
    }
  }

  _settle(msg, isError) {
    const p = this._pending.get(msg.ref);
    if (!p) return;
    this._pending.delete(msg.ref);
    clearTimeout(p.timer);
    if (msg.ref === this._resumeRef) this._endResume();
    if (isError && !p.resolveErrors) p.reject(Object.assign(new Error(msg.msg), { frame: msg }));
    else p.resolve(msg);
  }

  _onHello(hello) {
    if (hello.v !== PROTOCOL_VERSION) console.warn(`sensorcast-client: protocol v${hello.v}, expected v1`);
    const oldBoot = this.boot;
    const oldSeq = this.lastSeq;
    this.hello = hello;
    this.boot = hello.boot;
    this.attempt = 0;
    this.stats.connects += 1;
    if (oldBoot !== hello.boot) this.lastSeq = 0;
    this._setState("open");
    this._inHello = true;
    try {
      this._emit("hello", hello);
    } finally {
      this._inHello = false;
    }
    if (this.subscription.length) {
      this._request({ t: "subscribe", replace: true, subscribe: this.subscription }).catch((err) => {
        console.warn("sensorcast-client: subscribe refused", err.message);
      });
    }
    this._initialResume = null;
    if (oldBoot !== null) {
      this._resume(oldBoot, oldSeq);
    } else if (this.backfillOnConnect && hello.caps?.includes("resume")) {
      this._initialResume = this._resume(hello.boot, 0);
    }
    if (this.pingIntervalMs > 0) {
      this._pinger = setInterval(() => this._probe(), this.pingIntervalMs);
      this._probe();
    }
  }

  _resume(boot, seq) {
    const id = this._nextId;
    this._resumeRef = id;
    this._held = [];
    this._request({ t: "resume", boot, seq }).catch(() => {});
    return id;
  }

  _endResume() {
    this._resumeRef = null;
    const held = this._held;
    this._held = [];
    for (const r of held) this._deliver(r, false);
    this._emit("resumed", {}); // the backfill is in: older points (stored history) may now go before it
  }

  _probe() {
    // A connection that stays silent for three probe intervals is dead (laptop sleep, Wi-Fi switch): drop it.
    if (performance.now() - this._lastRx > Math.max(3 * this.pingIntervalMs, 10000)) {
      const ws = this._ws;
      this._teardown(4000, "no reply");
      if (ws && this._wanted) this._scheduleReconnect(4000, "no reply from the gateway");
      return;
    }
    this.ping().catch(() => {});
  }

  _deliver(readings, backfill) {
    const out = [];
    for (const r of readings) {
      const seq = r[0];
      const flags = r[5];
      if (seq <= this.lastSeq && !(flags & FLAG_RESENT)) continue; // already delivered (resume overlap)
      if (!(flags & FLAG_RESENT)) {
        const sensor = r[3];
        const known = this._chain.get(sensor);
        if (known !== undefined && r[1] !== known) {
          this.stats.lost += 1;
          this._emit("loss", { sensor, after: known, before: seq, coalesced: !!(flags & FLAG_COALESCED) });
        }
        this._chain.set(sensor, seq);
        if (seq > this.lastSeq) this.lastSeq = seq;
      }
      out.push(r);
    }
    if (!out.length) return;
    this.stats.readings += out.length;
    this._emit("readings", { readings: out, backfill });
  }
}
