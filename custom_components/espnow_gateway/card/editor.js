// Visual editor of the packet monitor card, built on Home Assistant's own form
// (ha-form with selectors), so that it looks and behaves like the built-in editors.

import { DEFAULTS, LIMITS, normalizeConfig, parseMacs } from "./packets.js";

const EDITOR = "espnow-packet-monitor-editor";
const SCHEMA = [
  { name: "title", selector: { text: {} } },
  { name: "entry_id", selector: { config_entry: { integration: "espnow_gateway" } } },
  {
    type: "grid",
    name: "",
    schema: [
      { name: "max_rate", selector: { number: { min: LIMITS.max_rate[0], max: LIMITS.max_rate[1], step: 1, mode: "box", unit_of_measurement: "packets/s" } } },
      { name: "rows", selector: { number: { min: LIMITS.rows[0], max: LIMITS.rows[1], step: 1, mode: "box" } } },
    ],
  },
  { name: "sources", selector: { text: {} } },
  { name: "min_rssi", selector: { number: { min: LIMITS.min_rssi[0], max: LIMITS.min_rssi[1], step: 1, mode: "box", unit_of_measurement: "dBm" } } },
  {
    name: "kinds",
    selector: {
      select: {
        multiple: true,
        mode: "list",
        options: [
          { value: "bthome", label: "BTHome" },
          { value: "json", label: "JSON" },
          { value: "raw", label: "Raw" },
        ],
      },
    },
  },
  {
    type: "grid",
    name: "",
    schema: [
      { name: "show_filters", selector: { boolean: {} } },
      { name: "show_peers", selector: { boolean: {} } },
    ],
  },
];
const LABELS = {
  title: "Title",
  entry_id: "Gateway (all when empty)",
  max_rate: "Packets per second to show",
  rows: "Packets listed",
  sources: "Only these MAC addresses (comma-separated)",
  min_rssi: "Minimum RSSI",
  kinds: "Only these payloads (all when none)",
  show_filters: "Filters on the card",
  show_peers: "Peer table",
};
const HELPERS = {
  max_rate: "The server drops what is above this rate and the card shows how many.",
};

/** Make sure Home Assistant's ha-form is defined (it loads with built-in editors). */
async function loadHaForm() {
  if (customElements.get("ha-form")) return true;
  try {
    const helpers = await window.loadCardHelpers?.();
    const card = await helpers?.createCardElement({ type: "entity", entity: "sun.sun" });
    await card?.constructor?.getConfigElement?.();
  } catch {
    // fall through: the code editor still works
  }
  return Promise.race([
    customElements.whenDefined("ha-form").then(() => true),
    new Promise((resolve) => setTimeout(() => resolve(false), 5000)),
  ]);
}

class EspNowPacketMonitorEditor extends HTMLElement {
  constructor() {
    super();
    this._config = {};
    this._hass = undefined;
    this._form = undefined;
  }

  setConfig(config) {
    this._config = { ...config };
    this._update();
  }

  set hass(hass) {
    this._hass = hass;
    if (this._form) this._form.hass = hass;
  }

  async connectedCallback() {
    if (this._form || this._loading) return;
    this._loading = true;
    const ready = await loadHaForm();
    this._loading = false;
    if (!ready) {
      this.textContent = "The visual editor is not available here: use the code editor.";
      return;
    }
    const form = document.createElement("ha-form");
    form.schema = SCHEMA;
    form.computeLabel = (item) => LABELS[item.name] ?? item.name;
    form.computeHelper = (item) => HELPERS[item.name];
    form.addEventListener("value-changed", (event) => this._changed(event.detail.value));
    this._form = form;
    this.replaceChildren(form);
    this._update();
  }

  _update() {
    if (!this._form) return;
    const data = { ...DEFAULTS, ...this._config };
    if (Array.isArray(data.sources)) data.sources = data.sources.join(", ");
    this._form.hass = this._hass;
    this._form.data = data;
    this._form.error = this._error;
  }

  _changed(value) {
    const config = { ...value };
    this._error = undefined;
    try {
      config.sources = parseMacs(config.sources ?? "");
    } catch (error) {
      this._error = { sources: error.message };
      this._update();
      return;
    }
    for (const [key, item] of Object.entries(config)) {
      const empty = item === undefined || item === "" || (Array.isArray(item) && !item.length);
      if (empty || (key in DEFAULTS && item === DEFAULTS[key])) delete config[key];
    }
    try {
      normalizeConfig(config);
    } catch (error) {
      // Messages start with the field's name ("max_rate must be …").
      const field = error.message.split(/[ :]/, 1)[0];
      this._error = { [field in LABELS ? field : "base"]: error.message };
      this._update();
      return;
    }
    this._config = config;
    this.dispatchEvent(new CustomEvent("config-changed", { detail: { config }, bubbles: true, composed: true }));
  }
}

if (!customElements.get(EDITOR)) customElements.define(EDITOR, EspNowPacketMonitorEditor);
