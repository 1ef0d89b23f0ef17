// One packet subscription of a card: espnow_gateway/subscribe_packets with acks,
// following the card's life (on the page, tab visible, not paused) and the connection
// (docs/websocket.md). Subscribed with resubscribe: false: after a reconnect the
// frontend's WebSocket library would re-send the command at once, before Home
// Assistant has loaded the integration after a restart, and drop its error; this
// class subscribes again itself, retrying until the command exists.

const ACK = "espnow_gateway/ack_packets";
const RETRY_MS = [1000, 2000, 4000, 8000, 15000];
// How often a live subscription checks that the server still has it. Just after a
// reconnect, Home Assistant's frontend unsubscribes ids of the connection before (its
// WebSocket library keeps them in closures): on the new connection such an id may be
// this subscription's, ended before it sent anything. Hence a first check soon after
// it starts, then one now and then.
const PROBE_FIRST_MS = 3000;
const PROBE_MS = 15000;
const RETRIED = new Set(["unknown_command", "too_many_subscriptions", "home_assistant_error", "unknown_error"]);

export class PacketStream {
  /**
   * @param {object} handlers onBatch(event), onStatus(event), onState(state, error)
   *   called for the current subscription only.
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.connection = undefined;
    this.message = undefined;
    this.wanted = false;
    this.state = "idle";
    this.subscription = undefined; // id the server echoes in every event
    this.received = -1; // newest batch of this subscription
    this.acked = -1;
    this._unsubscribe = undefined;
    this._generation = 0; // bumps whenever a subscription ends: stale callbacks see it
    this._epoch = 0; // bumps when the connection drops
    this._pending = undefined; // token of the subscribe command in flight
    this._retry = 0;
    this._timer = undefined;
    this._onReady = () => this._sync();
    this._onDisconnected = () => this._lost("disconnected");
  }

  /** Use ``connection`` (hass.connection; the same object across reconnects). */
  attach(connection) {
    if (connection === this.connection) return;
    this.detach();
    this.connection = connection;
    connection.addEventListener("ready", this._onReady);
    connection.addEventListener("disconnected", this._onDisconnected);
    this._sync();
  }

  detach() {
    this.stop();
    if (this.connection) {
      this.connection.removeEventListener("ready", this._onReady);
      this.connection.removeEventListener("disconnected", this._onDisconnected);
    }
    this.connection = undefined;
  }

  /** Subscribe with this command from now on (resubscribes if it changed). */
  setMessage(message) {
    const changed = JSON.stringify(message) !== JSON.stringify(this.message);
    this.message = message;
    if (changed) this._end();
    this._sync();
  }

  start() {
    this.wanted = true;
    this._sync();
  }

  stop(state = "idle") {
    this.wanted = false;
    this._end();
    this._setState(state);
  }

  /** Acknowledge what the card has shown: every batch so far (cumulative). */
  ack() {
    if (this.received <= this.acked || this.subscription === undefined) return;
    const connection = this.connection;
    if (!connection?.connected) return;
    try {
      // Fire and forget: the library keeps no promise for a message without one.
      connection.sendMessage({ type: ACK, subscription: this.subscription, batch: this.received });
      this.acked = this.received;
    } catch {
      // The socket is closing: the reconnect subscribes afresh.
    }
  }

  // ---- internals ---------------------------------------------------------------------

  _setState(state, error) {
    if (state === this.state && !error) return;
    this.state = state;
    this.handlers.onState?.(state, error);
  }

  _sync() {
    clearTimeout(this._timer);
    this._timer = undefined;
    if (!this.wanted || !this.connection || !this.message) return;
    if (this._unsubscribe || this._pending) return;
    if (!this.connection.connected) {
      this._setState("disconnected");
      return;
    }
    this._subscribe();
  }

  async _subscribe() {
    const generation = this._generation;
    const epoch = this._epoch;
    const token = (this._pending = {});
    this._setState("connecting");
    let unsubscribe;
    // A copy: the library writes the command's id into the message it sends, and that
    // id is the subscription's (known before its first event, as the probe needs).
    const message = { ...this.message };
    try {
      unsubscribe = await this.connection.subscribeMessage(
        (event) => this._event(generation, event),
        message,
        { resubscribe: false },
      );
    } catch (error) {
      if (this._pending === token) this._pending = undefined;
      if (generation === this._generation) this._failed(error);
      return;
    }
    if (this._pending === token) this._pending = undefined;
    if (generation !== this._generation || !this.wanted) {
      // Ended (stopped, new filters) while the command was in flight: end it on the
      // server too, unless the connection it lived on is gone.
      if (epoch === this._epoch) unsubscribe().catch(() => {});
      this._sync();
      return;
    }
    this._unsubscribe = unsubscribe;
    if (this.subscription === undefined && Number.isInteger(message.id)) {
      this._adopt(message.id);
    }
    this._retry = 0;
    this._setState("live");
    this._probe(this._generation, PROBE_FIRST_MS);
  }

  /** While live, ask now and then whether the server still has the subscription. */
  _probe(generation, delay = PROBE_MS) {
    this._probeTimer = setTimeout(async () => {
      if (generation !== this._generation) return;
      if (this.subscription !== undefined && this.connection?.connected) {
        try {
          await this.connection.sendMessagePromise({
            type: ACK,
            subscription: this.subscription,
            batch: Math.max(this.acked, 0),
          });
        } catch (error) {
          if (generation !== this._generation) return;
          if (error?.code === "not_found") {
            this._end(false); // gone on the server: subscribe again
            this._sync();
            return;
          }
        }
      }
      if (generation === this._generation) this._probe(generation);
    }, delay);
  }

  _failed(error) {
    const code = error?.code;
    if (code === "unauthorized") {
      this.wanted = false;
      this._setState("unauthorized", error);
    } else if (RETRIED.has(code) || code === 3 /* connection lost */) {
      const delay = RETRY_MS[Math.min(this._retry++, RETRY_MS.length - 1)];
      this._setState(code === "unknown_command" ? "waiting" : "retrying", error);
      this._timer = setTimeout(() => this._sync(), delay);
    } else {
      this.wanted = false;
      this._setState("error", error);
    }
  }

  _event(generation, event) {
    if (generation !== this._generation) return;
    if (event.subscription !== this.subscription) this._adopt(event.subscription);
    if (event.batch !== undefined) {
      this.received = Math.max(this.received, event.batch);
      this.handlers.onBatch?.(event);
      return;
    }
    this.handlers.onStatus?.(event);
    if (event.status === "closed") {
      // The server gave up on this subscription (stalled): start another.
      this._end(false);
      this._setState("retrying");
      this._timer = setTimeout(() => this._sync(), RETRY_MS[0]);
    }
  }

  /** A new subscription (the server's id for it): its batches count from 0. */
  _adopt(subscription) {
    this.subscription = subscription;
    this.received = -1;
    this.acked = -1;
  }

  /** End the current subscription (if ``tell``, tell the server). */
  _end(tell = true) {
    this._generation++;
    clearTimeout(this._probeTimer);
    const unsubscribe = this._unsubscribe;
    this._unsubscribe = undefined;
    this.subscription = undefined;
    this.received = -1;
    this.acked = -1;
    if (tell && unsubscribe && this.connection?.connected) unsubscribe().catch(() => {});
  }

  _lost(state) {
    // The old subscription's id means nothing on the next connection (ids restart at
    // 1): never unsubscribe it there. A subscribe in flight is never answered.
    this._epoch++;
    this._end(false);
    this._pending = undefined;
    clearTimeout(this._timer);
    if (this.wanted) this._setState(state);
  }
}
