// The card's packet subscription (card/stream.js) against a connection that behaves as
// Home Assistant's frontend WebSocket library (home-assistant-js-websocket) does, with
// a server that keeps subscriptions per connection as Home Assistant does:
// - command ids count from 1 on every connection (the first is taken by
//   supported_features), and sendMessage writes the id into the message it sends;
// - subscribeMessage resolves after the result, with an unsubscribe closure that keeps
//   the id (and sends it on whatever connection is up when called);
// - a reconnect fires "disconnected", then "ready" on a new connection.
import assert from "node:assert/strict";
import { mock, test } from "node:test";

import { PacketStream } from "../../custom_components/espnow_gateway/card/stream.js";

const SUBSCRIBE = "espnow_gateway/subscribe_packets";
const flush = () => new Promise((resolve) => setImmediate(resolve));

class Connection {
  constructor() {
    this.listeners = new Map();
    this.sent = []; // every message, with the connection it went over
    this.epoch = 0;
    this.unknown = false; // the integration not loaded yet: its commands are unknown
    this._open();
  }

  _open() {
    this.connected = true;
    this.commandId = 1;
    this.commands = new Map();
    this.subscriptions = new Set(); // the server's, for this connection
  }

  addEventListener(type, listener) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  removeEventListener(type, listener) {
    this.listeners.set(type, (this.listeners.get(type) ?? []).filter((l) => l !== listener));
  }

  _fire(type) {
    for (const listener of this.listeners.get(type) ?? []) listener(this);
  }

  sendMessage(message, id) {
    if (!this.connected) throw 3;
    message.id = id ?? ++this.commandId;
    this.sent.push({ ...message, epoch: this.epoch });
    const epoch = this.epoch;
    Promise.resolve().then(() => {
      if (epoch === this.epoch && this.connected) this._serve(message);
    });
  }

  sendMessagePromise(message) {
    return new Promise((resolve, reject) => {
      const id = ++this.commandId;
      this.commands.set(id, { resolve, reject });
      this.sendMessage(message, id);
    });
  }

  async subscribeMessage(callback, message, options) {
    let info;
    await new Promise((resolve, reject) => {
      const id = ++this.commandId;
      info = {
        resolve,
        reject,
        callback,
        subscribe: options?.resubscribe !== false ? () => {} : undefined,
        unsubscribe: async () => {
          if (this.connected) {
            await this.sendMessagePromise({ type: "unsubscribe_events", subscription: id });
          }
          this.commands.delete(id);
        },
      };
      this.commands.set(id, info);
      try {
        this.sendMessage(message, id);
      } catch {
        // closing: the library's reconnect deals with it
      }
    });
    return () => info.unsubscribe();
  }

  _serve(message) {
    const reply = (success, payload) => {
      const info = this.commands.get(message.id);
      if (!info) return;
      if (success) {
        info.resolve(payload);
        if (!("subscribe" in info)) this.commands.delete(message.id);
      } else {
        info.reject(payload);
        this.commands.delete(message.id);
      }
    };
    if (message.type === SUBSCRIBE) {
      if (this.unknown) return reply(false, { code: "unknown_command", message: "Unknown command." });
      this.subscriptions.add(message.id);
      return reply(true, { subscription: message.id });
    }
    const known = this.subscriptions.has(message.subscription);
    if (message.type === "unsubscribe_events") {
      this.subscriptions.delete(message.subscription);
    }
    if (!known) return reply(false, { code: "not_found", message: "Subscription not found." });
    reply(true, null);
  }

  /** A batch of the server's subscription ``id``. */
  emit(id, batch) {
    if (this.subscriptions.has(id)) {
      this.commands.get(id)?.callback({ subscription: id, batch, packets: [], dropped: 0 });
    }
  }

  /** Home Assistant restarts: the socket closes, then a new one comes up. */
  drop() {
    const old = this.commands;
    this.connected = false;
    this.commands = new Map();
    for (const info of old.values()) {
      if (!("subscribe" in info)) info.reject({ code: 3, message: "Connection lost" });
    }
    this._fire("disconnected");
  }

  reconnect() {
    this.epoch++;
    this._open();
    this._fire("ready");
  }

  subscribes(epoch = this.epoch) {
    return this.sent.filter((m) => m.type === SUBSCRIBE && m.epoch === epoch);
  }
}

function stream(t) {
  t.mock.timers.enable({ apis: ["setTimeout"] }); // the probe's and the retries' timers
  const states = [];
  const packets = new PacketStream({ onState: (state) => states.push(state) });
  t.after(() => packets.detach());
  return { packets, states };
}

test("the command given is never written to: the same filters again keep the subscription", async (t) => {
  const connection = new Connection();
  const { packets } = stream(t);
  packets.attach(connection);
  packets.setMessage({ type: SUBSCRIBE, max_rate: 20 });
  packets.start();
  await flush();
  assert.equal(packets.state, "live");
  packets.setMessage({ type: SUBSCRIBE, max_rate: 20 }); // the card's _sync, unchanged
  packets.start();
  await flush();
  assert.equal(connection.subscribes().length, 1);
  assert.deepEqual(connection.sent.filter((m) => m.type === "unsubscribe_events"), []);
  packets.setMessage({ type: SUBSCRIBE, max_rate: 20, sources: ["AA:BB:CC:DD:EE:FF"] });
  await flush();
  assert.equal(connection.subscribes().length, 2);
  assert.equal(packets.subscription, connection.subscribes().at(-1).id);
});

test("a subscription ended by someone else before its first batch is made again at the first probe", async (t) => {
  const connection = new Connection();
  const { packets } = stream(t);
  packets.attach(connection);
  packets.setMessage({ type: SUBSCRIBE, max_rate: 20 });
  packets.start();
  await flush();
  const first = connection.subscribes()[0].id;
  assert.equal(packets.subscription, first); // known before any batch
  // The frontend's stale unsubscribe: an id of the connection before, the card's now.
  await connection.sendMessagePromise({ type: "unsubscribe_events", subscription: first });
  t.mock.timers.tick(3000);
  await flush();
  await flush();
  const again = connection.subscribes();
  assert.equal(again.length, 2, JSON.stringify(connection.sent));
  assert.equal(packets.state, "live");
  assert.equal(packets.subscription, again[1].id);
  connection.emit(again[1].id, 0);
  assert.equal(packets.received, 0);
});

test("a live subscription is checked again later, and left alone while the server has it", async (t) => {
  const connection = new Connection();
  const { packets } = stream(t);
  packets.attach(connection);
  packets.setMessage({ type: SUBSCRIBE, max_rate: 20 });
  packets.start();
  await flush();
  const id = packets.subscription;
  for (const step of [3000, 15000, 15000]) {
    t.mock.timers.tick(step);
    await flush();
    await flush();
  }
  const probes = connection.sent.filter((m) => m.type === "espnow_gateway/ack_packets");
  assert.deepEqual(probes.map((m) => m.subscription), [id, id, id]);
  assert.equal(connection.subscribes().length, 1);
});

test("across a restart: never an unsubscribe of the connection before; subscribes again once the integration is back", async (t) => {
  const connection = new Connection();
  const { packets, states } = stream(t);
  packets.attach(connection);
  packets.setMessage({ type: SUBSCRIBE, max_rate: 20 });
  packets.start();
  await flush();
  const before = packets.subscription;
  connection.emit(before, 0);
  connection.drop();
  assert.equal(packets.state, "disconnected");
  connection.unknown = true; // Home Assistant up, the integration not loaded yet
  connection.reconnect();
  await flush();
  assert.equal(packets.state, "waiting");
  packets.setMessage({ type: SUBSCRIBE, max_rate: 20, min_rssi: -70 }); // filters while waiting
  connection.unknown = false;
  t.mock.timers.tick(1000);
  await flush();
  assert.equal(packets.state, "live");
  const after = connection.subscribes();
  assert.equal(after.at(-1).min_rssi, -70);
  packets.stop();
  await flush();
  const unsubscribes = connection.sent.filter((m) => m.type === "unsubscribe_events");
  assert.deepEqual(
    unsubscribes.map((m) => [m.epoch, m.subscription]),
    [[1, after.at(-1).id]],
  );
  assert.deepEqual(states, ["connecting", "live", "disconnected", "connecting", "waiting", "connecting", "live", "idle"]);
});
