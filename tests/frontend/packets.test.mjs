// The card's logic without a browser: node --test tests/frontend (scripts/test-e2e).
// Payloads are the simulator's (devtools/simulator.py) and the BTHome format's own.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  PacketLog,
  PeerStats,
  bthomePreview,
  formatHex,
  hexToBytes,
  jsonPreview,
  normalizeConfig,
  parseMacs,
  preview,
  subscribeMessage,
} from "../../custom_components/espnow_gateway/card/packets.js";

const hex = (text) => Buffer.from(text).toString("hex");

test("BTHome v2 objects are previewed with their units", () => {
  // 40 | packet id 7 | battery 93 % | temperature 21.57 °C | humidity 45.5 % | button press
  const bytes = hexToBytes("400007015d026d08038c113a01");
  assert.equal(
    bthomePreview(bytes),
    "battery 93 % · temperature 21.57 °C · humidity 44.92 % · button press",
  );
});

test("BTHome with the service-data UUID, negative and binary values", () => {
  assert.equal(bthomePreview(hexToBytes("d2fc4002c4ff2d01")), "temperature -0.6 °C · window on");
  assert.equal(bthomePreview(hexToBytes("4045f6ff")), "temperature -1 °C");
});

test("BTHome that is encrypted, not v2, cut short or unknown says so", () => {
  assert.equal(bthomePreview(hexToBytes("41aabbcc")), "BTHome v2, encrypted");
  assert.equal(bthomePreview(hexToBytes("20")), "not BTHome v2");
  assert.equal(bthomePreview(hexToBytes("400259")), "object 0x02…");
  assert.equal(bthomePreview(hexToBytes("40015aee00")), "battery 90 % · object 0xee…");
  assert.equal(bthomePreview(hexToBytes("")), "not BTHome v2");
});

test("JSON objects are previewed as key value pairs; other bytes are shown safely", () => {
  const payload = hexToBytes(hex('{"temperature":21.5,"humidity":40,"button":"press"}'));
  assert.equal(jsonPreview(payload), "temperature 21.5 · humidity 40 · button press");
  assert.equal(jsonPreview(hexToBytes(hex("[1,2]"))), "[1,2]");
  assert.equal(jsonPreview(hexToBytes("7b0001")), "{··");
  assert.equal(jsonPreview(hexToBytes(hex(`{"a":"${"x".repeat(200)}"}`)), 20).length, 20);
  assert.equal(preview("raw", "00ff"), "");
  assert.equal(preview("json", hex('{"a":{"b":1}}')), 'a {"b":1}');
});

test("hex is grouped and long payloads are cut", () => {
  assert.equal(formatHex("0aff10"), "0A FF 10");
  assert.equal(formatHex("00".repeat(40), 4), "00 00 00 00 … (40 bytes)");
});

test("MAC filters are normalised and checked", () => {
  assert.deepEqual(parseMacs("aa:bb:cc:dd:ee:ff, 02-4e-b4-e6-52-00 aa:bb:cc:dd:ee:ff"), [
    "AA:BB:CC:DD:EE:FF",
    "02:4E:B4:E6:52:00",
  ]);
  assert.deepEqual(parseMacs(""), []);
  assert.throws(() => parseMacs("aa:bb"), /Not a MAC address: aa:bb/);
  const many = Array.from({ length: 65 }, (_, i) => `00:00:00:00:00:${i.toString(16).padStart(2, "0")}`);
  assert.throws(() => parseMacs(many), /At most 64/);
});

test("the configuration gets defaults and readable errors", () => {
  const config = normalizeConfig({ type: "custom:espnow-packet-monitor" });
  assert.equal(config.max_rate, 50);
  assert.equal(config.rows, 25);
  assert.deepEqual(config.sources, []);
  assert.throws(() => normalizeConfig({ max_rate: 5000 }), /max_rate must be from 1 to 500/);
  assert.throws(() => normalizeConfig({ rows: 2.5 }), /rows must be an integer/);
  assert.throws(() => normalizeConfig({ kinds: ["bthome", "mqtt"] }), /kinds/);
  assert.throws(() => normalizeConfig({ entry_id: 3 }), /entry_id/);
  assert.throws(() => normalizeConfig(null), /Invalid configuration/);
});

test("filters become subscription parameters (all kinds: no kinds filter)", () => {
  const config = normalizeConfig({ max_rate: 20, entry_id: "abc" });
  assert.deepEqual(subscribeMessage(config, { sources: [], min_rssi: undefined, kinds: [] }), {
    type: "espnow_gateway/subscribe_packets",
    max_rate: 20,
    encoding: "hex",
    policy: "drop_oldest",
    entry_id: "abc",
  });
  const filtered = subscribeMessage(config, {
    sources: ["AA:BB:CC:DD:EE:FF"],
    min_rssi: -70,
    kinds: ["json"],
  });
  assert.deepEqual(
    [filtered.sources, filtered.min_rssi, filtered.kinds],
    [["AA:BB:CC:DD:EE:FF"], -70, ["json"]],
  );
  assert.equal(
    subscribeMessage(config, { sources: [], kinds: ["bthome", "json", "raw"] }).kinds,
    undefined,
  );
});

test("the packet log keeps the newest packets first, timed by the gateway clock", () => {
  const log = new PacketLog(3);
  const packet = (seq, ts, gateway = "g1") => ({ seq, ts, gateway, src: "A", payload: "" });
  log.add([packet(1, 1_000_000), packet(2, 1_500_000), packet(3, 900_000, "g2")], 10_000);
  assert.deepEqual(log.items.map((p) => [p.seq, p.time]), [[3, 10_000], [2, 10_000], [1, 9_500]]);
  log.add([packet(4, 2_000_000)], 11_000);
  assert.deepEqual(log.items.map((p) => p.seq), [4, 3, 2]);
  log.clear();
  assert.deepEqual(log.items, []);
});

test("peer figures: rate over the window, last and mean RSSI, bounded table", () => {
  const stats = new PeerStats(10_000, 2);
  const from = (src, rssi) => ({ src, rssi, kind: "json" });
  stats.add([from("A", -50), from("A", -60), from("B", -70)], 0);
  stats.add([from("A", -40)], 5_000);
  let rows = stats.rows(5_000);
  assert.deepEqual(rows.map((r) => [r.src, r.rate, r.rssi, r.meanRssi, r.total]), [
    ["A", 0.3, -40, -50, 3],
    ["B", 0.1, -70, -70, 1],
  ]);
  rows = stats.rows(12_000); // the first packets left the window
  assert.deepEqual(rows.map((r) => [r.src, r.rate, r.meanRssi]), [["A", 0.1, -40], ["B", 0, undefined]]);
  stats.add([from("C", -80)], 13_000); // a third peer: the quietest (B) leaves
  assert.deepEqual(stats.rows(13_000).map((r) => r.src).sort(), ["A", "C"]);
  stats.clear();
  assert.equal(stats.rows(0).length, 0);
});
