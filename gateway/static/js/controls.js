/**
 * Operator controls for the outputs declared in config (hello.actuators): a switch per `switch` output, a
 * slider per `number` output. A command shows "pending" until the gateway's `result` arrives, then
 * "confirmed" (with the value actually applied) or "rejected" (with the gateway's reason, and the control
 * goes back to the last confirmed value). Only shown to the operator role.
 */

export class Controls {
  /**
   * @param {HTMLElement} root section that holds the controls.
   * @param {import("./sensorcast-client.js").SensorcastClient} client
   */
  constructor(root, client) {
    this.root = root;
    this.client = client;
    this.items = new Map(); // id -> {info, el, input, status, value}
  }

  /** Rebuild from a hello frame: controls for operators, a note for everyone else. */
  build(hello) {
    const list = this.root.querySelector(".controls-list");
    const note = this.root.querySelector(".controls-note");
    list.replaceChildren();
    this.items.clear();
    const acts = hello.actuators ?? [];
    this.root.hidden = acts.length === 0;
    if (hello.role !== "operator") {
      note.textContent = `${acts.length} output${acts.length === 1 ? "" : "s"}: controls need an operator token.`;
      return;
    }
    note.textContent = "";
    for (const info of acts) list.appendChild(this._item(info));
  }

  _item(info) {
    const el = document.createElement("div");
    el.className = "control";
    el.dataset.target = info.id;
    const label = document.createElement("label");
    label.textContent = info.id + (info.sim ? " (simulated)" : "");
    const status = document.createElement("span");
    status.className = "cmd-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    let input;
    if (info.kind === "switch") {
      input = document.createElement("button");
      input.type = "button";
      input.className = "switch";
      input.setAttribute("role", "switch");
      input.id = `ctl-${info.id}`;
      input.addEventListener("click", () => {
        const want = input.getAttribute("aria-checked") !== "true";
        this._send(info.id, want);
      });
    } else {
      input = document.createElement("input");
      input.type = "range";
      input.id = `ctl-${info.id}`;
      input.min = String(info.min);
      input.max = String(info.max);
      input.step = String((info.max - info.min) / 100 || 1);
      input.addEventListener("change", () => this._send(info.id, Number(input.value)));
      input.addEventListener("input", () => {
        item.out.textContent = this._fmt(info, Number(input.value));
      });
    }
    label.htmlFor = input.id;
    const out = document.createElement("output");
    out.htmlFor = input.id;
    el.append(label, input, out, status);
    const item = { info, el, input, out, status, value: info.value };
    this.items.set(info.id, item);
    this._show(item, info.value);
    return el;
  }

  _fmt(info, value) {
    if (value == null) return "unknown";
    if (info.kind === "switch") return value ? "on" : "off";
    return `${+Number(value).toPrecision(4)}${info.unit ? ` ${info.unit}` : ""}`;
  }

  _show(item, value) {
    item.value = value;
    if (item.info.kind === "switch") {
      item.input.setAttribute("aria-checked", value ? "true" : "false");
      item.input.textContent = value ? "On" : "Off";
    } else if (value != null) {
      item.input.value = String(value);
    }
    item.out.textContent = this._fmt(item.info, value);
  }

  async _send(target, value) {
    const item = this.items.get(target);
    if (!item) return;
    item.el.dataset.cmd = "pending";
    item.status.textContent = "pending…";
    if (item.info.kind === "switch") item.input.setAttribute("aria-checked", value ? "true" : "false");
    let res;
    try {
      res = await this.client.command(target, value);
    } catch (err) {
      res = { ok: false, error: err.message };
    }
    if (res.ok) {
      item.el.dataset.cmd = "confirmed";
      item.status.textContent = "confirmed";
      this._show(item, res.value);
    } else {
      item.el.dataset.cmd = "rejected";
      item.status.textContent = `rejected: ${res.error ?? res.msg ?? "unknown reason"}`;
      this._show(item, item.value);
    }
  }

  /** An output's state changed (a reading of sensor `id`, or status.actuators). */
  update(id, value) {
    const item = this.items.get(id);
    if (item && item.el.dataset.cmd !== "pending") this._show(item, value);
  }
}
