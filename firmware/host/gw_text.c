#include "gw_text.h"

#include <stdarg.h>
#include <stdio.h>

typedef struct text {
    char *out;
    size_t room;
    size_t len;
} text_t;

static void add(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(text_t *t, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    size_t left = t->len < t->room ? t->room - t->len : 0;
    int n = vsnprintf(left ? t->out + t->len : NULL, left, fmt, args);
    va_end(args);
    if (n > 0)
        t->len += (size_t)n;
}

static void add_int(text_t *t, const char *name, long long value)
{
    add(t, " %s=%lld", name, value);
}

static void add_uint(text_t *t, const char *name, unsigned long long value)
{
    add(t, " %s=%llu", name, value);
}

static void add_hex(text_t *t, const char *name, const uint8_t *data, size_t len)
{
    add(t, " %s=", name);
    for (size_t i = 0; i < len; i++)
        add(t, "%02x", data[i]);
}

size_t gw_msg_format(const gw_msg_t *msg, char *out, size_t room)
{
    text_t t = {out, room, 0};
    if (room > 0)
        out[0] = '\0';
    const char *name = gw_msg_name(msg->type);
    add(&t, "%s", name ? name : "Unknown");
    switch (msg->type) {
    case GW_HELLO: {
        const gw_hello_t *m = &msg->u.hello;
        add_uint(&t, "protocol_major", m->protocol_major);
        add_uint(&t, "protocol_minor", m->protocol_minor);
        add_hex(&t, "mac", m->mac, GW_MAC_LEN);
        add_uint(&t, "channel", m->channel);
        add_uint(&t, "max_payload", m->max_payload);
        add_uint(&t, "capabilities", m->capabilities);
        add_hex(&t, "firmware", m->firmware, m->firmware_len);
        break;
    }
    case GW_PACKET: {
        const gw_packet_t *m = &msg->u.packet;
        add_hex(&t, "src", m->src, GW_MAC_LEN);
        add_hex(&t, "dst", m->dst, GW_MAC_LEN);
        add_int(&t, "rssi", m->rssi);
        add_int(&t, "noise_floor", m->noise_floor);
        add_uint(&t, "channel", m->channel);
        add_uint(&t, "rate", m->rate);
        add_uint(&t, "seq", m->seq);
        add_uint(&t, "timestamp_us", m->timestamp_us);
        add_hex(&t, "payload", m->payload, m->payload_len);
        break;
    }
    case GW_STATS: {
        const gw_stats_t *m = &msg->u.stats;
        add_uint(&t, "uptime_s", m->uptime_s);
        add_uint(&t, "rx_packets", m->rx_packets);
        add_uint(&t, "rx_dropped", m->rx_dropped);
        add_uint(&t, "tx_packets", m->tx_packets);
        add_uint(&t, "tx_failed", m->tx_failed);
        add_uint(&t, "host_frames_bad", m->host_frames_bad);
        add_uint(&t, "free_heap", m->free_heap);
        add_uint(&t, "min_free_heap", m->min_free_heap);
        add_uint(&t, "queue_peak", m->queue_peak);
        add_uint(&t, "queue_capacity", m->queue_capacity);
        break;
    }
    case GW_SEND_RESULT:
        add_uint(&t, "request_id", msg->u.send_result.request_id);
        add_hex(&t, "dst", msg->u.send_result.dst, GW_MAC_LEN);
        add_uint(&t, "status", msg->u.send_result.status);
        break;
    case GW_COMMAND_RESULT:
        add_uint(&t, "request_id", msg->u.command_result.request_id);
        add_uint(&t, "command", msg->u.command_result.command);
        add_uint(&t, "status", msg->u.command_result.status);
        break;
    case GW_PONG:
        add_uint(&t, "request_id", msg->u.pong.request_id);
        break;
    case GW_LOG:
        add_uint(&t, "level", msg->u.log.level);
        add_hex(&t, "text", msg->u.log.text, msg->u.log.text_len);
        break;
    case GW_PING:
        add_uint(&t, "request_id", msg->u.ping.request_id);
        break;
    case GW_GET_INFO:
        break;
    case GW_SET_CHANNEL:
        add_uint(&t, "request_id", msg->u.set_channel.request_id);
        add_uint(&t, "channel", msg->u.set_channel.channel);
        break;
    case GW_SEND:
        add_uint(&t, "request_id", msg->u.send.request_id);
        add_hex(&t, "dst", msg->u.send.dst, GW_MAC_LEN);
        add_hex(&t, "payload", msg->u.send.payload, msg->u.send.payload_len);
        break;
    case GW_ADD_PEER:
        add_uint(&t, "request_id", msg->u.add_peer.request_id);
        add_hex(&t, "mac", msg->u.add_peer.mac, GW_MAC_LEN);
        add_uint(&t, "channel", msg->u.add_peer.channel);
        add_uint(&t, "flags", msg->u.add_peer.flags);
        add_hex(&t, "lmk", msg->u.add_peer.lmk, GW_LMK_LEN);
        break;
    case GW_REMOVE_PEER:
        add_uint(&t, "request_id", msg->u.remove_peer.request_id);
        add_hex(&t, "mac", msg->u.remove_peer.mac, GW_MAC_LEN);
        break;
    case GW_PEER_LIST: {
        const gw_peer_list_t *m = &msg->u.peer_list;
        add_uint(&t, "request_id", m->request_id);
        add_uint(&t, "max_peers", m->max_peers);
        add_uint(&t, "max_encrypted", m->max_encrypted);
        add(&t, " peers=");
        for (size_t i = 0; i < m->count; i++) {
            gw_peer_t peer;
            gw_peer_record_read(m->records, i, &peer);
            add(&t, "%s", i ? "," : "");
            for (size_t b = 0; b < GW_MAC_LEN; b++)
                add(&t, "%02x", peer.mac[b]);
            add(&t, "/%u/%u", peer.channel, peer.flags);
        }
        break;
    }
    case GW_GET_PEERS:
        add_uint(&t, "request_id", msg->u.get_peers.request_id);
        break;
    case GW_SET_PMK:
        add_uint(&t, "request_id", msg->u.set_pmk.request_id);
        add_hex(&t, "pmk", msg->u.set_pmk.pmk, GW_PMK_LEN);
        break;
    default:
        break;
    }
    return t.len;
}
