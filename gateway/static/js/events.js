/**
 * The Alerts panel: events of the gateway's local rules (docs/protocol.md, `event`). Active rules come from
 * hello.events (so a page opened late shows them) and live `event` frames; each row shows severity, sensor,
 * field, value and threshold; operators can acknowledge (`ack_event`). Cards of sensors with an active rule are
 * highlighted (data-alert = the worst severity). Cleared events stay in a short recent list; on a gateway with the
 * "history" capability the list is first filled from the stored events of the last day (`GET /api/events`), so a
 * reload or a restart does not empty it.
 */

const RECENT_MAX = 20; // events kept in the list: a glance at what happened (the store keeps the rest)
const STORED_SPAN_S = 86400; // how far back the list looks in the gateway's stored events
const RANK = { info: 1, warning: 2, critical: 3 };

function describe(e) {
  const limit = Array.isArray(e.threshold) ? `${e.threshold[0]}..${e.threshold[1]}` : `${e.threshold}`;
  const value = typeof e.value === "number" ? Number(e.value.toPrecision(6)) : "–";
  const at = new Date(Number(e.ts) / 1e6).toLocaleTimeString();
  return `${e.rule}: ${e.sensor} ${e.field} = ${value} (limit ${limit}) at ${at}`;
}

export class EventsPanel {
  constructor(section, client, cardsRoot) {
    this.section = section;
    this.client = client;
    this.cardsRoot = cardsRoot;
    this.list = section.querySelector(".alerts-active");
    this.recentList = section.querySelector(".alerts-recent");
    this.active = new Map(); // rule id -> its firing event (acked_by set once acknowledged)
    this.recent = [];
    this.operator = false;
  }

  /** Reset from a hello frame. */
  build(hello) {
    this.operator = hello.role === "operator";
    this.active = new Map((hello.events ?? []).map((e) => [e.rule, e]));
    this.section.hidden = !(hello.rules ?? []).length && !this.active.size;
    this.render();
    if (hello.caps?.includes("history")) this.loadStored(this.client.token).catch((err) => console.warn("sensorcast: events", err));
  }

  /** Fill the recent list with the last day's stored events (newest first; the live ones that came meanwhile stay). */
  async loadStored(token) {
    const q = new URLSearchParams({ from: (Date.now() / 1000 - STORED_SPAN_S).toFixed(3), format: "json" });
    const resp = await fetch(`/api/events?${q}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (!resp.ok) return;
    const { events } = await resp.json();
    const seen = new Set(this.recent.map((e) => `${e.rule} ${e.ts} ${e.state}`));
    const stored = events.filter((e) => !seen.has(`${e.rule} ${e.ts} ${e.state}`)).reverse();
    this.recent = [...this.recent, ...stored].sort((a, b) => Number(b.ts) - Number(a.ts)).slice(0, RECENT_MAX);
    if (this.recent.length) this.section.hidden = false;
    this.render();
  }

  /** A live `event` frame. */
  onEvent(e) {
    this.section.hidden = false;
    if (e.state === "active") this.active.set(e.rule, e);
    else {
      this.active.delete(e.rule);
      this.recent.unshift(e);
      this.recent.length = Math.min(this.recent.length, RECENT_MAX);
    }
    this.render();
  }

  render() {
    const rows = [...this.active.values()].map((e) => this.row(e));
    if (!rows.length) {
      const li = document.createElement("li");
      li.className = "alerts-none";
      li.textContent = "No active alerts.";
      rows.push(li);
    }
    this.list.replaceChildren(...rows);
    this.recentList.replaceChildren(
      ...this.recent.map((e) => {
        const li = document.createElement("li");
        li.dataset.rule = e.rule;
        li.dataset.state = e.state;
        const what = e.state !== "active" ? "cleared" : e.acked_by ? "acknowledged" : "fired";
        li.textContent = `${what} ${describe(e)}`;
        return li;
      }),
    );
    this.highlight();
  }

  row(e) {
    const li = document.createElement("li");
    li.dataset.rule = e.rule;
    li.dataset.severity = e.severity;
    li.dataset.state = e.state;
    const badge = document.createElement("span");
    badge.className = "badge severity";
    badge.textContent = e.severity;
    const text = document.createElement("span");
    text.textContent = describe(e);
    li.append(badge, text);
    if (e.acked_by) {
      const who = document.createElement("span");
      who.className = "acked";
      who.textContent = `acknowledged by ${e.acked_by}`;
      li.append(who);
    } else if (this.operator) {
      const ack = document.createElement("button");
      ack.type = "button";
      ack.textContent = "Acknowledge";
      ack.setAttribute("aria-label", `Acknowledge ${e.rule}`);
      ack.addEventListener("click", async () => {
        ack.disabled = true;
        const res = await this.client.ackEvent(e.rule).catch((err) => ({ t: "error", msg: String(err) }));
        if (res?.t === "error") ack.disabled = false;
      });
      li.append(ack);
    }
    return li;
  }

  highlight() {
    const worst = new Map();
    for (const e of this.active.values()) {
      if ((RANK[e.severity] ?? 0) > (RANK[worst.get(e.sensor)] ?? 0)) worst.set(e.sensor, e.severity);
    }
    for (const card of this.cardsRoot.querySelectorAll(".card")) {
      const sev = worst.get(card.dataset.sensor);
      if (sev) card.dataset.alert = sev;
      else delete card.dataset.alert;
    }
  }
}
