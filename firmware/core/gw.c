#include "gw.h"

#include <string.h>

static uint64_t now_us(gw_t *gw)
{
    return gw->hal->now_us(gw->hal->ctx);
}

/* Longest prefix of at most max bytes that does not cut a UTF-8 character. */
static size_t utf8_cut(const uint8_t *text, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t cut = max;
    while (cut > 0 && (text[cut] & 0xC0u) == 0x80u)
        cut--;
    return cut;
}

/* ---- output ----------------------------------------------------------------------- */

/* Write what the link takes. */
static size_t out_flush(gw_t *gw)
{
    size_t total = 0;
    while (gw->out_head < gw->out_tail) {
        size_t n = gw->hal->host_write(gw->hal->ctx, gw->out + gw->out_head,
                                       gw->out_tail - gw->out_head);
        if (n == 0)
            break;
        gw->out_head += n;
        total += n;
    }
    if (gw->out_head == gw->out_tail)
        gw->out_head = gw->out_tail = 0;
    return total;
}

/* Make room for need bytes at the end of the output: write what the link takes, then
 * move what is left to the front. */
static bool out_room(gw_t *gw, size_t need)
{
    if (GW_OUT_SIZE - gw->out_tail >= need)
        return true;
    out_flush(gw);
    size_t held = gw->out_tail - gw->out_head;
    if (GW_OUT_SIZE - held < need)
        return false;
    memmove(gw->out, gw->out + gw->out_head, held);
    gw->out_head = 0;
    gw->out_tail = held;
    return true;
}

/* Encode a message into the output if it fits with `reserve` bytes to spare. */
static bool emit(gw_t *gw, const gw_msg_t *msg, size_t reserve)
{
    int body = gw_msg_body_size(msg);
    if (body < 0 || !out_room(gw, (size_t)body + GW_OVERHEAD + reserve))
        return false;
    uint8_t *frame = gw->out + gw->out_tail;
    gw_msg_encode_body(msg, frame + GW_HEADER_SIZE);
    gw_frame_seal(frame, msg->type, (uint16_t)body);
    gw->out_tail += (size_t)body + GW_OVERHEAD;
    return true;
}

/* An answer, HELLO, STATS or LOG: lost (and counted) only if the host stopped reading. */
static void answer(gw_t *gw, const gw_msg_t *msg)
{
    if (!emit(gw, msg, 0))
        gw->answers_lost++;
}

bool gw_log(gw_t *gw, uint8_t level, const char *text, size_t len)
{
    gw_msg_t msg = {.type = GW_LOG};
    msg.u.log.level = level;
    msg.u.log.text = (const uint8_t *)text;
    msg.u.log.text_len = (uint8_t)utf8_cut((const uint8_t *)text, len, GW_TEXT_MAX);
    return emit(gw, &msg, 0);
}

/* A log line made of text and numbers, without printf. */
typedef struct line {
    char buf[128];
    size_t len;
} line_t;

static void put_text(line_t *line, const char *text)
{
    while (*text && line->len < sizeof line->buf)
        line->buf[line->len++] = *text++;
}

static void put_u32(line_t *line, uint32_t value)
{
    char digits[10];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value > 0);
    while (n > 0 && line->len < sizeof line->buf)
        line->buf[line->len++] = digits[--n];
}

/* ---- HELLO and STATS -------------------------------------------------------------- */

static void send_hello(gw_t *gw)
{
    const char *fw = gw->cfg.firmware ? gw->cfg.firmware : "";
    gw_msg_t msg = {.type = GW_HELLO};
    gw_hello_t *h = &msg.u.hello;
    h->protocol_major = GW_PROTOCOL_MAJOR;
    h->protocol_minor = GW_PROTOCOL_MINOR;
    memcpy(h->mac, gw->cfg.mac, GW_MAC_LEN);
    h->channel = gw->channel;
    h->max_payload = gw->cfg.max_payload;
    h->capabilities = gw->cfg.capabilities;
    h->firmware = (const uint8_t *)fw;
    h->firmware_len = (uint8_t)utf8_cut(h->firmware, strlen(fw), GW_TEXT_MAX);
    answer(gw, &msg);
}

void gw_get_stats(gw_t *gw, gw_stats_t *s)
{
    const gw_hal_t *hal = gw->hal;
    uint32_t peak = gw_queue_peak(&gw->queue);
    s->uptime_s = (uint32_t)((now_us(gw) - gw->boot_us) / 1000000u);
    s->rx_packets = gw_queue_received(&gw->queue);
    s->rx_dropped = gw_queue_dropped(&gw->queue);
    s->tx_packets = gw->tx_packets;
    s->tx_failed = gw->tx_failed;
    /* Rejected by the decoder (header, length, CRC) or after it (type, layout, a
     * partial frame given up). */
    s->host_frames_bad = gw->host_frames_bad + gw->rx.stats.header_errors + gw->rx.stats.oversize +
                         gw->rx.stats.crc_errors;
    s->free_heap = hal->free_heap(hal->ctx);
    s->min_free_heap = hal->min_free_heap(hal->ctx);
    s->queue_peak = (uint16_t)(peak > 0xFFFFu ? 0xFFFFu : peak);
    s->queue_capacity = (uint16_t)GW_QUEUE_CAPACITY;
}

static void send_stats(gw_t *gw)
{
    gw_msg_t msg = {.type = GW_STATS};
    gw_get_stats(gw, &msg.u.stats);
    answer(gw, &msg);
    uint32_t drops = msg.u.stats.rx_dropped - gw->reported_drops;
    if (drops > 0) {
        line_t line = {.len = 0};
        put_text(&line, "receive queue full: ");
        put_u32(&line, drops);
        put_text(&line, " frames dropped since the last report");
        if (gw_log(gw, GW_LOG_WARNING, line.buf, line.len))
            gw->reported_drops = msg.u.stats.rx_dropped;
    }
    uint32_t lost = gw->answers_lost - gw->reported_losses;
    if (lost > 0) {
        line_t line = {.len = 0};
        put_text(&line, "output full: ");
        put_u32(&line, lost);
        put_text(&line, " answers lost (host not reading)");
        if (gw_log(gw, GW_LOG_WARNING, line.buf, line.len))
            gw->reported_losses = gw->answers_lost;
    }
    uint32_t strays = (uint32_t)atomic_load_explicit(&gw->stray_callbacks, memory_order_relaxed);
    if (strays != gw->reported_strays) {
        line_t line = {.len = 0};
        put_text(&line, "send: ");
        put_u32(&line, strays - gw->reported_strays);
        put_text(&line, " results for another destination ignored");
        if (gw_log(gw, GW_LOG_WARNING, line.buf, line.len))
            gw->reported_strays = strays;
    }
}

/* ---- commands ----------------------------------------------------------------------- */

static void command_result(gw_t *gw, uint16_t request_id, uint8_t command, uint8_t status)
{
    gw_msg_t msg = {.type = GW_COMMAND_RESULT};
    msg.u.command_result.request_id = request_id;
    msg.u.command_result.command = command;
    msg.u.command_result.status = status;
    answer(gw, &msg);
}

static void send_result(gw_t *gw, uint16_t request_id, const uint8_t *dst, uint8_t status)
{
    gw_msg_t msg = {.type = GW_SEND_RESULT};
    msg.u.send_result.request_id = request_id;
    memcpy(msg.u.send_result.dst, dst, GW_MAC_LEN);
    msg.u.send_result.status = status;
    gw->tx_packets++;
    if (status != GW_OK)
        gw->tx_failed++;
    answer(gw, &msg);
}

static void finish_send(gw_t *gw, uint8_t status)
{
    gw_pending_send_t *s = &gw->sends[gw->send_first];
    send_result(gw, s->request_id, s->dst, status);
    gw->send_first = (uint8_t)((gw->send_first + 1u) % GW_SEND_QUEUE);
    gw->send_count--;
    gw->sending = false;
}

/* Start the oldest queued SEND unless one is in flight; answer at once those the
 * radio refuses. */
static void start_sends(gw_t *gw, uint64_t now)
{
    const gw_hal_t *hal = gw->hal;
    while (!gw->sending && gw->send_count > 0) {
        gw_pending_send_t *s = &gw->sends[gw->send_first];
        memcpy(gw->send_dst, s->dst, GW_MAC_LEN);
        uint32_t gen = (uint32_t)atomic_load_explicit(&gw->send_gen, memory_order_relaxed) + 1u;
        /* Published before the send: the callback may run before radio_send returns. */
        atomic_store_explicit(&gw->send_gen, (uint_least32_t)gen, memory_order_release);
        uint8_t status = hal->radio_send(hal->ctx, s->dst, s->payload, s->len);
        if (status == GW_OK) {
            gw->sending = true;
            gw->send_started_us = now;
        } else {
            finish_send(gw, status);
        }
    }
}

static void check_send(gw_t *gw, uint64_t now)
{
    if (!gw->sending)
        return;
    uint32_t gen = (uint32_t)atomic_load_explicit(&gw->send_gen, memory_order_relaxed);
    if ((uint32_t)atomic_load_explicit(&gw->done_gen, memory_order_acquire) == gen) {
        bool ok = atomic_load_explicit(&gw->done_ok, memory_order_relaxed) != 0;
        bool unicast = (gw->send_dst[0] & 0x01u) == 0;
        finish_send(gw, ok ? GW_OK : unicast ? GW_NO_ACK : GW_ERROR);
    } else if (now - gw->send_started_us >= GW_SEND_TIMEOUT_US) {
        finish_send(gw, GW_ERROR);
        static const char text[] = "send: no result from the radio within 1 s";
        gw_log(gw, GW_LOG_ERROR, text, sizeof text - 1);
    }
}

void gw_radio_sent(gw_t *gw, const uint8_t *dst, bool ok)
{
    uint32_t gen = (uint32_t)atomic_load_explicit(&gw->send_gen, memory_order_acquire);
    if (dst != NULL && memcmp(dst, gw->send_dst, GW_MAC_LEN) != 0) {
        /* Not the send in flight (a late callback of one that timed out). */
        uint32_t stray = (uint32_t)atomic_load_explicit(&gw->stray_callbacks, memory_order_relaxed);
        atomic_store_explicit(&gw->stray_callbacks, (uint_least32_t)(stray + 1u),
                              memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&gw->done_ok, ok ? 1u : 0u, memory_order_relaxed);
    atomic_store_explicit(&gw->done_gen, (uint_least32_t)gen, memory_order_release);
}

static void on_send(gw_t *gw, const gw_send_t *m)
{
    uint8_t status = GW_OK;
    if (!(gw->cfg.capabilities & GW_CAP_SEND))
        status = GW_NOT_SUPPORTED;
    else if (m->payload_len > gw->cfg.max_payload || m->payload_len > GW_QUEUE_PAYLOAD)
        status = GW_INVALID_ARGUMENT;
    else if (gw->send_count == GW_SEND_QUEUE)
        status = GW_BUSY;
    if (status != GW_OK) {
        send_result(gw, m->request_id, m->dst, status);
        return;
    }
    gw_pending_send_t *s = &gw->sends[(gw->send_first + gw->send_count) % GW_SEND_QUEUE];
    s->request_id = m->request_id;
    memcpy(s->dst, m->dst, GW_MAC_LEN);
    s->len = m->payload_len;
    memcpy(s->payload, m->payload, m->payload_len);
    gw->send_count++;
    start_sends(gw, now_us(gw));
}

static uint8_t set_channel(gw_t *gw, const gw_set_channel_t *m)
{
    if (!(gw->cfg.capabilities & GW_CAP_SET_CHANNEL))
        return GW_NOT_SUPPORTED;
    if (m->channel < 1 || m->channel > 14)
        return GW_INVALID_ARGUMENT;
    uint8_t status = gw->hal->set_channel(gw->hal->ctx, m->channel);
    if (status == GW_OK)
        gw->channel = m->channel;
    return status;
}

static uint8_t add_peer(gw_t *gw, const gw_add_peer_t *m)
{
    bool encrypt = (m->flags & GW_ADD_PEER_FLAG_ENCRYPT) != 0;
    if (!(gw->cfg.capabilities & GW_CAP_PEERS))
        return GW_NOT_SUPPORTED;
    if (encrypt && !(gw->cfg.capabilities & GW_CAP_ENCRYPTION))
        return GW_NOT_SUPPORTED;
    if (m->channel > 14 || (encrypt && (m->mac[0] & 0x01u)))
        return GW_INVALID_ARGUMENT; /* group addresses cannot be encrypted */
    return gw->hal->add_peer(gw->hal->ctx, m->mac, m->channel, encrypt ? m->lmk : NULL);
}

static uint8_t remove_peer(gw_t *gw, const gw_remove_peer_t *m)
{
    if (!(gw->cfg.capabilities & GW_CAP_PEERS))
        return GW_NOT_SUPPORTED;
    return gw->hal->remove_peer(gw->hal->ctx, m->mac);
}

/* GET_PEERS: the table as the radio has it, in one PEER_LIST. */
static void on_get_peers(gw_t *gw, uint16_t request_id)
{
    const gw_hal_t *hal = gw->hal;
    if (!(gw->cfg.capabilities & GW_CAP_PEER_LIST)) {
        /* No PEER_LIST to refuse with: the refusal every command has. */
        command_result(gw, request_id, GW_GET_PEERS, GW_NOT_SUPPORTED);
        return;
    }
    gw_peer_t peer;
    size_t count = 0;
    bool more = hal->fetch_peer(hal->ctx, true, &peer);
    for (; more && count < GW_PEER_LIST_MAX; count++) {
        peer.flags &= GW_PEER_FLAG_ENCRYPT; /* the other bits are reserved */
        gw_peer_record_write(gw->peer_records + count * GW_PEER_RECORD_SIZE, &peer);
        more = hal->fetch_peer(hal->ctx, false, &peer);
    }
    gw_msg_t msg = {.type = GW_PEER_LIST};
    msg.u.peer_list.request_id = request_id;
    msg.u.peer_list.max_peers = gw->cfg.max_peers;
    msg.u.peer_list.max_encrypted = gw->cfg.max_encrypted;
    msg.u.peer_list.count = (uint8_t)count;
    msg.u.peer_list.records = gw->peer_records;
    answer(gw, &msg);
    if (more) {
        line_t line = {.len = 0};
        put_text(&line, "peer list: more than ");
        put_u32(&line, GW_PEER_LIST_MAX);
        put_text(&line, " peers, the rest left out");
        gw_log(gw, GW_LOG_WARNING, line.buf, line.len);
    }
}

static uint8_t set_pmk(gw_t *gw, const gw_set_pmk_t *m)
{
    if (!(gw->cfg.capabilities & GW_CAP_SET_PMK))
        return GW_NOT_SUPPORTED;
    return gw->hal->set_pmk(gw->hal->ctx, m->pmk);
}

static void on_frame(void *ctx, uint8_t type, const uint8_t *body, uint16_t len)
{
    gw_t *gw = ctx;
    gw_msg_t msg;
    /* Only host -> gateway types are commands; anything else is skipped and counted. */
    if (type < 0x81u || type == 0xFFu || gw_msg_parse(type, body, len, &msg) != GW_PARSED) {
        gw->host_frames_bad++;
        return;
    }
    switch (type) {
    case GW_PING: {
        gw_msg_t pong = {.type = GW_PONG};
        pong.u.pong.request_id = msg.u.ping.request_id;
        answer(gw, &pong);
        break;
    }
    case GW_GET_INFO:
        send_hello(gw);
        break;
    case GW_SET_CHANNEL:
        command_result(gw, msg.u.set_channel.request_id, GW_SET_CHANNEL,
                       set_channel(gw, &msg.u.set_channel));
        break;
    case GW_SEND:
        on_send(gw, &msg.u.send);
        break;
    case GW_ADD_PEER:
        command_result(gw, msg.u.add_peer.request_id, GW_ADD_PEER, add_peer(gw, &msg.u.add_peer));
        break;
    case GW_REMOVE_PEER:
        command_result(gw, msg.u.remove_peer.request_id, GW_REMOVE_PEER,
                       remove_peer(gw, &msg.u.remove_peer));
        break;
    case GW_GET_PEERS:
        on_get_peers(gw, msg.u.get_peers.request_id);
        break;
    case GW_SET_PMK:
        command_result(gw, msg.u.set_pmk.request_id, GW_SET_PMK, set_pmk(gw, &msg.u.set_pmk));
        break;
    default: /* a gateway -> host type: rejected above */
        break;
    }
}

/* ---- life cycle ---------------------------------------------------------------------- */

void gw_init(gw_t *gw, const gw_hal_t *hal, const gw_config_t *cfg)
{
    memset(gw, 0, sizeof *gw);
    gw->hal = hal;
    gw->cfg = *cfg;
    if (gw->cfg.max_payload > GW_QUEUE_PAYLOAD)
        gw->cfg.max_payload = GW_QUEUE_PAYLOAD;
    /* 1.1's capabilities only with their hooks: without, the gateway is 1.0's. */
    if (hal->fetch_peer == NULL)
        gw->cfg.capabilities &= ~(uint32_t)GW_CAP_PEER_LIST;
    if (hal->set_pmk == NULL)
        gw->cfg.capabilities &= ~(uint32_t)GW_CAP_SET_PMK;
    gw->channel = cfg->channel;
    gw_rx_init(&gw->rx);
    gw_queue_init(&gw->queue);
    atomic_init(&gw->send_gen, 0);
    atomic_init(&gw->done_gen, 0);
    atomic_init(&gw->done_ok, 0);
    atomic_init(&gw->stray_callbacks, 0);
}

void gw_boot(gw_t *gw)
{
    const gw_hal_t *hal = gw->hal;
    gw_config_t cfg = gw->cfg;
    gw_init(gw, hal, &cfg);
    gw->boot_us = now_us(gw);
    gw->last_host_byte_us = gw->boot_us;
    gw->next_stats_us = gw->boot_us + (uint64_t)cfg.stats_interval_ms * 1000u;
    send_hello(gw);
    line_t line = {.len = 0};
    put_text(&line, "gateway ready: channel ");
    put_u32(&line, gw->channel);
    put_text(&line, ", receive queue ");
    put_u32(&line, GW_QUEUE_CAPACITY);
    put_text(&line, " frames");
    gw_log(gw, GW_LOG_INFO, line.buf, line.len);
    out_flush(gw);
}

void gw_host_input(gw_t *gw, const uint8_t *data, size_t len)
{
    if (len == 0)
        return;
    gw->last_host_byte_us = now_us(gw);
    gw_rx_feed(&gw->rx, data, len, on_frame, gw);
}

bool gw_radio_received(gw_t *gw, const gw_rx_meta_t *meta, const uint8_t *payload, size_t len)
{
    return gw_queue_push(&gw->queue, meta, now_us(gw), payload, len);
}

/* Encode queued frames as PACKETs while the output has room, and write. */
static void pump(gw_t *gw)
{
    for (unsigned round = 0; round < 4u * GW_QUEUE_CAPACITY; round++) {
        const gw_rx_item_t *item;
        while ((item = gw_queue_front(&gw->queue)) != NULL) {
            gw_msg_t msg = {.type = GW_PACKET};
            gw_packet_t *p = &msg.u.packet;
            memcpy(p->src, item->meta.src, GW_MAC_LEN);
            memcpy(p->dst, item->meta.dst, GW_MAC_LEN);
            p->rssi = item->meta.rssi;
            p->noise_floor = item->meta.noise_floor;
            p->channel = item->meta.channel;
            p->rate = item->meta.rate;
            p->seq = gw->seq;
            p->timestamp_us = item->timestamp_us;
            p->payload_len = item->len;
            p->payload = item->payload;
            if (!emit(gw, &msg, GW_OUT_RESERVE))
                break;
            gw->seq++;
            gw_queue_pop(&gw->queue);
        }
        if (out_flush(gw) == 0 || gw_queue_front(&gw->queue) == NULL)
            break;
    }
}

uint32_t gw_service(gw_t *gw)
{
    uint64_t now = now_us(gw);
    check_send(gw, now);
    start_sends(gw, now);
    if (gw->rx.n > 0 && now - gw->last_host_byte_us >= GW_PARTIAL_TIMEOUT_US) {
        /* A command whose end never came: it had a good header (the decoder holds
         * nothing else that long), so it counts as a bad frame from the host. */
        bool had_header = gw->rx.n >= GW_HEADER_SIZE;
        gw_rx_flush(&gw->rx, on_frame, gw);
        if (had_header)
            gw->host_frames_bad++;
    }
    if ((gw->cfg.capabilities & GW_CAP_STATS) && gw->cfg.stats_interval_ms > 0 &&
        now >= gw->next_stats_us) {
        uint64_t period = (uint64_t)gw->cfg.stats_interval_ms * 1000u;
        gw->next_stats_us += period;
        if (gw->next_stats_us <= now)
            gw->next_stats_us = now + period; /* fell behind: no burst of STATS */
        send_stats(gw);
    }
    pump(gw);

    uint64_t wait = 1000000u;
    if ((gw->cfg.capabilities & GW_CAP_STATS) && gw->cfg.stats_interval_ms > 0 &&
        gw->next_stats_us - now < wait)
        wait = gw->next_stats_us - now;
    if (gw->rx.n > 0) {
        uint64_t due = gw->last_host_byte_us + GW_PARTIAL_TIMEOUT_US;
        wait = due <= now ? 0 : (due - now < wait ? due - now : wait);
    }
    if (gw->sending) {
        uint64_t due = gw->send_started_us + GW_SEND_TIMEOUT_US;
        wait = due <= now ? 0 : (due - now < wait ? due - now : wait);
    }
    return (uint32_t)((wait + 999u) / 1000u);
}

bool gw_output_pending(gw_t *gw)
{
    return gw->out_head < gw->out_tail || gw_queue_front(&gw->queue) != NULL;
}
