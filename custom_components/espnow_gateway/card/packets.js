// Packet monitor logic without the DOM: payload previews, the bounded packet log,
// per-peer figures and the card's configuration. Tested with node (tests/frontend).

export const KINDS = ["bthome", "json", "raw"];
export const DEFAULTS = Object.freeze({
  max_rate: 50, // packets per second the card asks for (the server drops the rest)
  rows: 25, // packets shown
  show_peers: true,
  show_filters: true,
});
export const LIMITS = Object.freeze({
  max_rate: [1, 500],
  rows: [5, 200],
  min_rssi: [-128, 0],
  sources: 64,
});
export const MAX_PEERS = 64; // rows of the peer table; the quietest peers leave first
const MAC = /^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/;

// ---- configuration ------------------------------------------------------------------

/** Parse MAC addresses from a list or a comma/space-separated string (upper case). */
export function parseMacs(value) {
  const items = Array.isArray(value) ? value : String(value ?? "").split(/[\s,;]+/);
  const macs = [];
  for (const item of items) {
    const text = String(item).trim().toUpperCase().replaceAll("-", ":");
    if (!text) continue;
    if (!MAC.test(text)) throw new Error(`Not a MAC address: ${item}`);
    if (!macs.includes(text)) macs.push(text);
  }
  if (macs.length > LIMITS.sources) {
    throw new Error(`At most ${LIMITS.sources} MAC addresses`);
  }
  return macs;
}

function number(config, key, integer) {
  const value = config[key];
  if (value === undefined || value === null || value === "") return undefined;
  const parsed = Number(value);
  const [low, high] = LIMITS[key];
  if (!Number.isFinite(parsed) || parsed < low || parsed > high || (integer && !Number.isInteger(parsed))) {
    throw new Error(`${key} must be ${integer ? "an integer " : ""}from ${low} to ${high}`);
  }
  return parsed;
}

/** Validate a card configuration; return it with defaults (throws a readable Error). */
export function normalizeConfig(config) {
  if (!config || typeof config !== "object") throw new Error("Invalid configuration");
  const kinds = config.kinds ?? [];
  if (!Array.isArray(kinds) || kinds.some((kind) => !KINDS.includes(kind))) {
    throw new Error(`kinds: a list of ${KINDS.join(", ")}`);
  }
  if (config.entry_id !== undefined && typeof config.entry_id !== "string") {
    throw new Error("entry_id must be a config entry id");
  }
  return {
    ...config,
    max_rate: number(config, "max_rate", false) ?? DEFAULTS.max_rate,
    rows: number(config, "rows", true) ?? DEFAULTS.rows,
    min_rssi: number(config, "min_rssi", true),
    sources: parseMacs(config.sources ?? []),
    kinds: [...new Set(kinds)],
    show_peers: config.show_peers ?? DEFAULTS.show_peers,
    show_filters: config.show_filters ?? DEFAULTS.show_filters,
  };
}

/** The subscribe_packets command for a configuration and the filters in force. */
export function subscribeMessage(config, filters) {
  const message = {
    type: "espnow_gateway/subscribe_packets",
    max_rate: config.max_rate,
    encoding: "hex",
    policy: "drop_oldest",
  };
  if (config.entry_id) message.entry_id = config.entry_id;
  if (filters.sources.length) message.sources = filters.sources;
  if (filters.min_rssi !== undefined) message.min_rssi = filters.min_rssi;
  if (filters.kinds.length && filters.kinds.length < KINDS.length) message.kinds = filters.kinds;
  return message;
}

// ---- payload previews -----------------------------------------------------------------

export function hexToBytes(hex) {
  const bytes = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
  return bytes;
}

/** Hex in groups of two characters, cut after ``limit`` bytes. */
export function formatHex(hex, limit = 32) {
  const pairs = hex.toUpperCase().match(/../g) ?? [];
  const shown = pairs.slice(0, limit).join(" ");
  return pairs.length > limit ? `${shown} … (${pairs.length} bytes)` : shown;
}

// BTHome v2 objects: id → [bytes, signed, factor, name, unit] (bthome.io/format).
const B = (size, name, unit = "", factor = 1, signed = false) => [size, signed, factor, name, unit];
const BINARY = [
  "battery low", "charging", "CO", "cold", "connectivity", "door", "garage door", "gas",
  "heat", "light", "lock", "moisture", "motion", "moving", "occupancy", "plug", "presence",
  "problem", "running", "safety", "smoke", "sound", "tamper", "vibration", "window",
];
export const BTHOME_OBJECTS = new Map([
  [0x00, B(1, "packet id")], [0x01, B(1, "battery", "%")],
  [0x02, B(2, "temperature", "°C", 0.01, true)], [0x03, B(2, "humidity", "%", 0.01)],
  [0x04, B(3, "pressure", "hPa", 0.01)], [0x05, B(3, "illuminance", "lx", 0.01)],
  [0x06, B(2, "mass", "kg", 0.01)], [0x07, B(2, "mass", "lb", 0.01)],
  [0x08, B(2, "dew point", "°C", 0.01, true)], [0x09, B(1, "count")],
  [0x0a, B(3, "energy", "kWh", 0.001)], [0x0b, B(3, "power", "W", 0.01)],
  [0x0c, B(2, "voltage", "V", 0.001)], [0x0d, B(2, "PM2.5", "µg/m³")],
  [0x0e, B(2, "PM10", "µg/m³")], [0x0f, B(1, "binary")], [0x10, B(1, "power on")],
  [0x11, B(1, "opening")], [0x12, B(2, "CO2", "ppm")], [0x13, B(2, "VOC", "µg/m³")],
  [0x14, B(2, "moisture", "%", 0.01)],
  ...BINARY.map((name, index) => [0x15 + index, B(1, name)]),
  [0x2e, B(1, "humidity", "%")], [0x2f, B(1, "moisture", "%")],
  [0x3a, B(1, "button")], [0x3c, B(2, "dimmer")], [0x3d, B(2, "count")],
  [0x3e, B(4, "count")], [0x3f, B(2, "rotation", "°", 0.1, true)],
  [0x40, B(2, "distance", "mm")], [0x41, B(2, "distance", "m", 0.1)],
  [0x42, B(3, "duration", "s", 0.001)], [0x43, B(2, "current", "A", 0.001)],
  [0x44, B(2, "speed", "m/s", 0.01)], [0x45, B(2, "temperature", "°C", 0.1, true)],
  [0x46, B(1, "UV index", "", 0.1)], [0x47, B(2, "volume", "L", 0.1)],
  [0x48, B(2, "volume", "mL")], [0x49, B(2, "flow", "m³/h", 0.001)],
  [0x4a, B(2, "voltage", "V", 0.1)], [0x4b, B(3, "gas", "m³", 0.001)],
  [0x4c, B(4, "gas", "m³", 0.001)], [0x4d, B(4, "energy", "kWh", 0.001)],
  [0x4e, B(4, "volume", "L", 0.001)], [0x4f, B(4, "water", "L", 0.001)],
  [0x50, B(4, "timestamp")], [0x51, B(2, "acceleration", "m/s²", 0.001)],
  [0x52, B(2, "gyroscope", "°/s", 0.001)], [0x55, B(4, "stored volume", "L", 0.001)],
  [0x56, B(2, "conductivity", "µS/cm")], [0x57, B(1, "temperature", "°C", 1, true)],
  [0x58, B(1, "temperature", "°C", 0.35, true)], [0x59, B(1, "count", "", 1, true)],
  [0x5a, B(2, "count", "", 1, true)], [0x5b, B(4, "count", "", 1, true)],
  [0x5c, B(4, "power", "W", 0.01, true)], [0x5d, B(2, "current", "A", 0.001, true)],
  [0x5e, B(2, "direction", "°", 0.01)], [0x5f, B(2, "precipitation", "mm", 0.1)],
  [0x60, B(1, "channel")], [0x61, B(2, "rotation speed", "rpm")],
  [0xf0, B(2, "device type")], [0xf1, B(4, "firmware")], [0xf2, B(3, "firmware")],
]);
const BUTTON_EVENTS = [
  "none", "press", "double press", "triple press", "long press", "long double press",
  "long triple press",
];

function readInt(bytes, offset, size, signed) {
  let value = 0;
  for (let i = size - 1; i >= 0; i--) value = value * 256 + bytes[offset + i];
  if (signed && value >= 2 ** (8 * size - 1)) value -= 2 ** (8 * size);
  return value;
}

function formatNumber(value, factor) {
  const decimals = factor >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(factor)));
  return Number((value * factor).toFixed(decimals)).toString();
}

/** A one-line preview of BTHome v2 objects (a preview, not the integration's decoder). */
export function bthomePreview(bytes) {
  let offset = bytes[0] === 0xd2 && bytes[1] === 0xfc ? 2 : 0; // service-data UUID
  const info = bytes[offset++];
  if (info === undefined || info >> 5 !== 2) return "not BTHome v2";
  if (info & 0x01) return "BTHome v2, encrypted";
  const parts = [];
  while (offset < bytes.length) {
    const id = bytes[offset];
    const object = BTHOME_OBJECTS.get(id);
    if (object === undefined || offset + 1 + object[0] > bytes.length) {
      parts.push(`object 0x${id.toString(16).padStart(2, "0")}…`);
      break;
    }
    const [size, signed, factor, name, unit] = object;
    const value = readInt(bytes, offset + 1, size, signed);
    offset += 1 + size;
    if (id === 0x00) continue; // the packet id says nothing to a reader
    if (id === 0x3a) parts.push(`button ${BUTTON_EVENTS[value] ?? (value === 0x80 ? "hold" : value)}`);
    else if (id === 0x3c) parts.push(`dimmer ${value & 0xff ? (value & 0xff) === 1 ? "left" : "right" : "none"} ${value >> 8}`);
    else if (id >= 0x0f && id <= 0x2d && id !== 0x12 && id !== 0x13 && id !== 0x14) parts.push(`${name} ${value ? "on" : "off"}`);
    else parts.push(`${name} ${formatNumber(value, factor)}${unit ? ` ${unit}` : ""}`);
  }
  return parts.join(" · ") || "BTHome v2, no objects";
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** A one-line preview of a JSON object payload. */
export function jsonPreview(bytes, limit = 120) {
  const text = utf8.decode(bytes);
  let summary;
  try {
    const value = JSON.parse(text);
    summary =
      value && typeof value === "object" && !Array.isArray(value)
        ? Object.entries(value).map(([key, item]) => `${key} ${typeof item === "object" ? JSON.stringify(item) : item}`).join(" · ")
        : JSON.stringify(value);
  } catch {
    summary = text.replace(/[^\x20-\x7e]/g, "·");
  }
  return summary.length > limit ? `${summary.slice(0, limit - 1)}…` : summary;
}

/** The preview shown under a packet's hex bytes ("" for raw payloads). */
export function preview(kind, hex) {
  if (kind === "bthome") return bthomePreview(hexToBytes(hex));
  if (kind === "json") return jsonPreview(hexToBytes(hex));
  return "";
}

// ---- what the card keeps -----------------------------------------------------------

/** The newest ``limit`` packets, newest first. */
export class PacketLog {
  constructor(limit) {
    this.limit = limit;
    this.items = [];
  }

  /** Add one batch's packets (oldest first, as the server sends them). */
  add(packets, receivedAt) {
    // Gateway clocks (µs since boot) place each packet before the batch's arrival.
    const newest = new Map();
    for (const packet of packets) {
      newest.set(packet.gateway, Math.max(newest.get(packet.gateway) ?? -Infinity, packet.ts));
    }
    for (const packet of packets) {
      const time = receivedAt - (newest.get(packet.gateway) - packet.ts) / 1000;
      this.items.unshift({ ...packet, time });
    }
    if (this.items.length > this.limit) this.items.length = this.limit;
  }

  clear() {
    this.items = [];
  }
}

/** Per-peer figures over a sliding window: packets/s, last and mean RSSI. */
export class PeerStats {
  constructor(windowMs = 10_000, limit = MAX_PEERS) {
    this.windowMs = windowMs;
    this.limit = limit;
    this.peers = new Map();
  }

  add(packets, now) {
    for (const packet of packets) {
      let peer = this.peers.get(packet.src);
      if (peer === undefined) {
        peer = { src: packet.src, kind: packet.kind, times: [], rssi: [], total: 0 };
        this.peers.set(packet.src, peer);
      }
      peer.kind = packet.kind;
      peer.total += 1;
      peer.last = now;
      peer.lastRssi = packet.rssi;
      peer.times.push(now);
      peer.rssi.push(packet.rssi);
    }
    this.prune(now);
  }

  prune(now) {
    const since = now - this.windowMs;
    for (const peer of this.peers.values()) {
      let drop = 0;
      while (drop < peer.times.length && peer.times[drop] < since) drop++;
      if (drop) {
        peer.times.splice(0, drop);
        peer.rssi.splice(0, drop);
      }
    }
    if (this.peers.size > this.limit) {
      const quietest = [...this.peers.values()].sort((a, b) => a.last - b.last);
      for (const peer of quietest.slice(0, this.peers.size - this.limit)) this.peers.delete(peer.src);
    }
  }

  /** Rows for the peer table, busiest first. */
  rows(now) {
    this.prune(now);
    const seconds = this.windowMs / 1000;
    return [...this.peers.values()]
      .map((peer) => ({
        src: peer.src,
        kind: peer.kind,
        total: peer.total,
        rate: peer.times.length / seconds,
        rssi: peer.lastRssi,
        meanRssi: peer.rssi.length ? peer.rssi.reduce((a, b) => a + b, 0) / peer.rssi.length : undefined,
        age: now - peer.last,
      }))
      .sort((a, b) => b.rate - a.rate || a.src.localeCompare(b.src));
  }

  clear() {
    this.peers.clear();
  }
}
