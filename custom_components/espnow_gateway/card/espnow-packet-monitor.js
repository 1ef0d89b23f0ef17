// ESP-NOW packet monitor: a Lovelace card for the integration's raw-packet stream.
// Served by the integration (frontend.py); plain ES modules, no build step.
//
//   type: custom:espnow-packet-monitor
//   title: Packets          # optional
//   entry_id: 01J…          # optional: one gateway (default: all)
//   max_rate: 50            # packets/s the card asks for; the server drops the rest
//   rows: 25                # packets shown
//   sources: [AA:BB:CC:DD:EE:FF]  # optional filters, changeable on the card
//   min_rssi: -80
//   kinds: [bthome, json]
//   show_filters: true
//   show_peers: true

import { KINDS, PacketLog, PeerStats, formatHex, normalizeConfig, parseMacs, preview, subscribeMessage } from "./packets.js";
import { PacketStream } from "./stream.js";

const CARD = "espnow-packet-monitor";
const EDITOR = `${CARD}-editor`;
const VERSION = new URL(import.meta.url).pathname.split("/").at(-2);
const STATES = {
  idle: "Idle",
  connecting: "Connecting…",
  live: "Live",
  paused: "Paused",
  hidden: "Paused while hidden",
  disconnected: "Disconnected: waiting for Home Assistant",
  waiting: "Waiting for the integration to load…",
  retrying: "Reconnecting…",
  unauthorized: "Administrators only",
  error: "Error",
};
const KIND_LABELS = { bthome: "BTHome", json: "JSON", raw: "Raw" };

const STYLE = `
  :host { display: block; }
  ha-card { overflow: hidden; }
  .wrap { container-type: inline-size; padding: 12px 16px 16px; color: var(--primary-text-color); }
  .head { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
  .title { font-size: var(--ha-font-size-xl, 20px); flex: 1 1 auto; margin: 0; font-weight: var(--ha-font-weight-normal, 400); }
  .state { display: inline-flex; align-items: center; gap: 6px; font-size: 0.9em; color: var(--secondary-text-color); }
  .dot { width: 10px; height: 10px; border-radius: 50%; background: var(--disabled-text-color, #999); }
  [data-state="live"] .dot { background: var(--success-color, #43a047); }
  [data-state="waiting"] .dot, [data-state="retrying"] .dot, [data-state="connecting"] .dot,
  [data-throttled="true"] .dot { background: var(--warning-color, #ffa600); }
  [data-state="error"] .dot, [data-state="disconnected"] .dot, [data-state="unauthorized"] .dot { background: var(--error-color, #db4437); }
  button { font: inherit; color: var(--primary-color); background: none; border: 1px solid var(--primary-color);
    border-radius: 18px; padding: 4px 14px; cursor: pointer; min-height: 32px; }
  button:focus-visible, input:focus-visible { outline: 2px solid var(--primary-color); outline-offset: 1px; }
  .figures { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 8px 0; font-size: 0.9em; color: var(--secondary-text-color); }
  .figures b { color: var(--primary-text-color); font-weight: 500; }
  .dropped[data-count="0"] b { color: var(--primary-text-color); }
  .dropped b { color: var(--warning-color, #ffa600); }
  .throttled { color: var(--warning-color, #ffa600); }
  form { display: flex; flex-wrap: wrap; gap: 8px 12px; align-items: end; margin: 8px 0; }
  label { display: flex; flex-direction: column; font-size: 0.8em; color: var(--secondary-text-color); gap: 2px; }
  label.check { flex-direction: row; align-items: center; gap: 4px; font-size: 0.9em; color: var(--primary-text-color); }
  input[type=text], input[type=number] { font: inherit; color: var(--primary-text-color); background: var(--secondary-background-color, transparent);
    border: 1px solid var(--divider-color); border-radius: 4px; padding: 4px 6px; min-height: 28px; }
  input[name=sources] { width: 19ch; }
  input[name=min_rssi] { width: 7ch; }
  .message { margin: 8px 0; padding: 8px 12px; border-radius: 4px; border-left: 4px solid var(--error-color, #db4437);
    background: var(--secondary-background-color, transparent); }
  .message.info { border-left-color: var(--info-color, var(--primary-color)); }
  [hidden], .denied :is(.figures, .filters, .peers, .packets, .empty) { display: none !important; }
  table { width: 100%; border-collapse: collapse; font-size: 0.85em; font-variant-numeric: tabular-nums; }
  th { text-align: left; font-weight: 500; color: var(--secondary-text-color); border-bottom: 1px solid var(--divider-color); padding: 4px 6px; }
  td { padding: 3px 6px; border-bottom: 1px solid var(--divider-color); vertical-align: top; }
  td.num, th.num { text-align: right; }
  .mono, .hex { font-family: var(--ha-font-family-code, var(--code-font-family, monospace)); }
  .hex { word-break: break-all; }
  .preview { color: var(--secondary-text-color); font-size: 0.95em; }
  .kind { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 0.9em; background: var(--secondary-background-color, transparent);
    border: 1px solid var(--divider-color); }
  details { margin: 8px 0; }
  summary { cursor: pointer; color: var(--secondary-text-color); margin-bottom: 4px; }
  .empty { color: var(--secondary-text-color); padding: 12px 6px; }
  input { box-sizing: border-box; }
  @container (max-width: 480px) {
    .wide { display: none; }
    input[name=sources] { width: 100%; }
    label.sources { flex: 1 1 100%; }
    /* One packet per block: time, source and RSSI, then its payload across. */
    .packets thead { display: none; }
    .packets tr { display: grid; grid-template-columns: auto 1fr auto; column-gap: 8px;
      border-bottom: 1px solid var(--divider-color); padding: 4px 0; }
    .packets td { border: none; padding: 1px 4px; }
    .packets td.payload { grid-column: 1 / -1; }
  }
`;

const TEMPLATE = `
  <ha-card>
    <div class="wrap">
      <div class="head" data-state="idle">
        <h2 class="title"></h2>
        <span class="state" role="status"><span class="dot"></span><span class="state-text"></span></span>
        <button type="button" class="pause">Pause</button>
      </div>
      <div class="message" hidden></div>
      <div class="figures">
        <span>Shown: <b class="shown-rate">0</b>/s (asked for <span class="asked"></span>/s)</span>
        <span class="dropped" data-count="0" title="Matching packets the server did not send: over the card's rate, or while it was throttled">Dropped: <b class="dropped-count">0</b></span>
        <span class="throttled" hidden>Throttled by the server</span>
      </div>
      <form class="filters" novalidate>
        <label class="sources">MAC addresses<input type="text" name="sources" autocomplete="off" spellcheck="false" placeholder="all"></label>
        <label>Min RSSI<input type="number" name="min_rssi" min="-128" max="0" step="1" placeholder="dBm"></label>
        <span class="kinds"></span>
      </form>
      <details class="peers" open>
        <summary>Peers (<span class="peer-count">0</span>)</summary>
        <table><thead><tr><th>Source</th><th class="wide">Kind</th><th class="num">Packets/s</th><th class="num">RSSI</th><th class="num wide">Mean</th><th class="num">Packets</th></tr></thead><tbody class="peer-rows"></tbody></table>
      </details>
      <table class="packets"><thead><tr><th>Time</th><th>Source</th><th class="wide">Kind</th><th class="num">RSSI</th><th class="num wide">Ch</th><th class="num wide">Seq</th><th>Payload</th></tr></thead>
        <tbody class="packet-rows"></tbody></table>
      <div class="empty">No packets yet.</div>
    </div>
  </ha-card>
`;

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

class EspNowPacketMonitor extends HTMLElement {
  static async getConfigElement() {
    await import("./editor.js"); // the same version as the card
    return document.createElement(EDITOR);
  }

  static getStubConfig() {
    return { title: "ESP-NOW packets" };
  }

  constructor() {
    super();
    this._config = undefined;
    this._hass = undefined;
    this._filters = { sources: [], min_rssi: undefined, kinds: [] };
    this._paused = false;
    this._dropped = 0; // every "dropped" the server reported, across subscriptions
    this._throttled = false;
    this._frame = 0;
    this._dirty = false;
    this._shownTimes = [];
    this._stream = new PacketStream({
      onBatch: (event) => this._batch(event),
      onStatus: (event) => this._status(event),
      onState: (state, error) => this._state(state, error),
    });
    this._onVisibility = () => this._sync();
  }

  setConfig(config) {
    const normalized = normalizeConfig(config); // throws: Home Assistant shows the error
    const filtersChanged =
      !this._config ||
      JSON.stringify([normalized.sources, normalized.min_rssi, normalized.kinds]) !==
        JSON.stringify([this._config.sources, this._config.min_rssi, this._config.kinds]);
    this._config = normalized;
    if (filtersChanged) {
      this._filters = { sources: normalized.sources, min_rssi: normalized.min_rssi, kinds: normalized.kinds };
    }
    this._log = new PacketLog(normalized.rows);
    this._peers ??= new PeerStats();
    this._render();
    this._sync();
  }

  set hass(hass) {
    const first = !this._hass;
    this._hass = hass;
    if (first || hass.connection !== this._stream.connection) this._sync();
  }

  get hass() {
    return this._hass;
  }

  getCardSize() {
    return 4 + Math.ceil((this._config?.rows ?? 25) / 2);
  }

  getGridOptions() {
    return { columns: 12, min_columns: 6, rows: "auto" };
  }

  connectedCallback() {
    document.addEventListener("visibilitychange", this._onVisibility);
    this._sync();
  }

  disconnectedCallback() {
    document.removeEventListener("visibilitychange", this._onVisibility);
    this._stream.detach();
    cancelAnimationFrame(this._frame);
    this._frame = 0;
  }

  // ---- subscription ------------------------------------------------------------------

  get _admin() {
    return this._hass?.user?.is_admin === true;
  }

  _sync() {
    if (!this._config || !this._hass) return;
    this._render();
    if (!this.isConnected || !this._admin) {
      this._stream.detach();
      return;
    }
    this._stream.attach(this._hass.connection);
    this._stream.setMessage(subscribeMessage(this._config, this._filters));
    if (this._paused) this._stream.stop("paused");
    else if (document.visibilityState === "hidden") this._stream.stop("hidden");
    else this._stream.start();
  }

  _batch(event) {
    const now = Date.now();
    this._count(event);
    if (event.packets.length) {
      this._log.add(event.packets, now);
      this._peers.add(event.packets, now);
      for (let i = 0; i < event.packets.length; i++) this._shownTimes.push(now);
    }
    this._schedule();
  }

  _status(event) {
    this._count(event);
    this._schedule();
  }

  _count(event) {
    this._dropped += event.dropped ?? 0;
    this._throttled = event.throttled === true;
  }

  _state(state, error) {
    this._error = state === "error" ? (error?.message ?? String(error?.code ?? error)) : undefined;
    if (state !== "live") this._throttled = false;
    this._schedule();
  }

  _schedule() {
    this._dirty = true;
    if (this._frame) return;
    // Render at most once a frame, then acknowledge: a slow device acknowledges later,
    // and the server sends less (its window) instead of piling up messages.
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      if (this._dirty) this._update();
      this._stream.ack();
    });
  }

  // ---- rendering -------------------------------------------------------------------

  _render() {
    if (!this._config) return;
    if (!this.shadowRoot) {
      const root = this.attachShadow({ mode: "open" });
      root.innerHTML = `<style>${STYLE}</style>${TEMPLATE}`;
      this._bind(root);
    }
    const root = this.shadowRoot;
    const title = this._config.title ?? "ESP-NOW packets";
    root.querySelector(".title").textContent = title;
    root.querySelector(".asked").textContent = String(this._config.max_rate);
    root.querySelector(".filters").hidden = !this._config.show_filters;
    root.querySelector(".peers").hidden = !this._config.show_peers;
    const form = root.querySelector(".filters");
    if (form.contains(root.activeElement) === false) {
      form.sources.value = this._filters.sources.join(", ");
      form.min_rssi.value = this._filters.min_rssi ?? "";
    }
    for (const box of root.querySelectorAll("input[name=kind]")) {
      box.checked = !this._filters.kinds.length || this._filters.kinds.includes(box.value);
    }
    this._update();
  }

  _bind(root) {
    root.querySelector(".pause").addEventListener("click", () => {
      this._paused = !this._paused;
      this._sync();
    });
    const kinds = root.querySelector(".kinds");
    for (const kind of KINDS) {
      const label = document.createElement("label");
      label.className = "check";
      const box = document.createElement("input");
      Object.assign(box, { type: "checkbox", name: "kind", value: kind, checked: true });
      label.append(box, KIND_LABELS[kind]);
      kinds.append(label);
    }
    const form = root.querySelector(".filters");
    form.addEventListener("submit", (event) => event.preventDefault());
    form.addEventListener("change", () => this._applyFilters(form));
  }

  _applyFilters(form) {
    let sources;
    this._filterError = undefined;
    try {
      sources = parseMacs(form.sources.value);
    } catch (error) {
      this._filterError = error.message;
    }
    const rssi = form.min_rssi.value === "" ? undefined : Math.round(Number(form.min_rssi.value));
    if (rssi !== undefined && !(rssi >= -128 && rssi <= 0)) {
      this._filterError = "Min RSSI: from -128 to 0 dBm";
    }
    const checked = [...form.querySelectorAll("input[name=kind]:checked")].map((box) => box.value);
    if (!checked.length) this._filterError = "Choose at least one kind of payload";
    if (this._filterError) {
      this._schedule();
      return;
    }
    this._filters = { sources, min_rssi: rssi, kinds: checked.length === KINDS.length ? [] : checked };
    this._log.clear();
    this._peers.clear();
    this._shownTimes = [];
    this._sync();
  }

  _message(text, info = false) {
    const box = this.shadowRoot.querySelector(".message");
    box.hidden = !text;
    box.classList.toggle("info", info);
    box.textContent = text ?? "";
  }

  _update() {
    this._dirty = false;
    const root = this.shadowRoot;
    if (!root || !this._config) return;
    const now = Date.now();
    const state = this._admin || !this._hass ? this._stream.state : "unauthorized";
    const head = root.querySelector(".head");
    head.dataset.state = state;
    head.dataset.throttled = String(this._throttled);
    root.querySelector(".state-text").textContent = STATES[state] ?? state;
    const pause = root.querySelector(".pause");
    pause.textContent = this._paused ? "Resume" : "Pause";
    pause.hidden = state === "unauthorized";
    root.querySelector(".wrap").classList.toggle("denied", state === "unauthorized");
    if (state === "unauthorized") {
      this._message("The packet monitor shows raw radio packets, which can carry secrets: only administrators can open it.", true);
    } else if (this._error) {
      this._message(`The packet stream failed: ${this._error}`);
    } else if (this._filterError) {
      this._message(this._filterError);
    } else if (state === "waiting") {
      this._message("Waiting for the ESP-NOW Gateway integration to load…", true);
    } else {
      this._message(undefined);
    }
    // Figures
    while (this._shownTimes.length && this._shownTimes[0] < now - 10_000) this._shownTimes.shift();
    root.querySelector(".shown-rate").textContent = (this._shownTimes.length / 10).toFixed(1);
    const dropped = root.querySelector(".dropped");
    dropped.dataset.count = String(this._dropped);
    root.querySelector(".dropped-count").textContent = this._dropped.toLocaleString();
    root.querySelector(".throttled").hidden = !this._throttled;
    this.dataset.state = state;
    this.dataset.dropped = String(this._dropped);
    this.dataset.subscription = String(this._stream.subscription ?? "");
    this.dataset.version = VERSION;
    // Peers
    if (this._config.show_peers) {
      const rows = this._peers.rows(now);
      root.querySelector(".peer-count").textContent = String(rows.length);
      root.querySelector(".peer-rows").replaceChildren(
        ...rows.map((peer) => {
          const tr = document.createElement("tr");
          tr.append(
            cell(peer.src, "mono"),
            cell(KIND_LABELS[peer.kind] ?? peer.kind, "wide"),
            cell(peer.rate.toFixed(1), "num"),
            cell(peer.rssi === undefined ? "" : `${peer.rssi} dBm`, "num"),
            cell(peer.meanRssi === undefined ? "" : peer.meanRssi.toFixed(0), "num wide"),
            cell(String(peer.total), "num"),
          );
          return tr;
        }),
      );
    }
    // Packets
    const language = this._hass?.locale?.language;
    const format = new Intl.DateTimeFormat(language, {
      hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3, hour12: false,
    });
    const items = this._log?.items ?? [];
    root.querySelector(".empty").hidden = items.length > 0;
    root.querySelector(".packet-rows").replaceChildren(
      ...items.map((packet) => {
        const tr = document.createElement("tr");
        tr.dataset.src = packet.src;
        tr.dataset.rssi = String(packet.rssi);
        tr.dataset.kind = packet.kind;
        const payload = cell("", "payload");
        const hex = document.createElement("div");
        hex.className = "hex";
        hex.textContent = formatHex(packet.payload);
        payload.append(hex);
        const text = preview(packet.kind, packet.payload);
        if (text) {
          const line = document.createElement("div");
          line.className = "preview";
          line.textContent = text;
          payload.append(line);
        }
        const kind = cell("", "wide");
        const badge = document.createElement("span");
        badge.className = "kind";
        badge.textContent = KIND_LABELS[packet.kind] ?? packet.kind;
        kind.append(badge);
        tr.append(
          cell(format.format(packet.time), "mono"),
          cell(packet.src, "mono"),
          kind,
          cell(String(packet.rssi), "num"),
          cell(String(packet.channel), "num wide"),
          cell(String(packet.seq), "num wide"),
          payload,
        );
        return tr;
      }),
    );
  }
}

if (!customElements.get(CARD)) {
  customElements.define(CARD, EspNowPacketMonitor);
  window.customCards = window.customCards || [];
  window.customCards.push({
    type: CARD,
    name: "ESP-NOW packet monitor",
    description: "Live raw packets of the ESP-NOW gateways, with per-peer rates and RSSI (administrators).",
    preview: false,
    documentationURL: "https://github.com/espnow-gateway/ha-espnow-gateway/blob/main/docs/websocket.md#packet-monitor-card",
  });
}
