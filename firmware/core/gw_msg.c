#include "gw_msg.h"

#include <string.h>

/* ---- little-endian reader: every read past the end sets bad ---------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t left;
    bool bad;
} reader_t;

static const uint8_t *take(reader_t *r, size_t n)
{
    if (r->bad || r->left < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    r->left -= n;
    return at;
}

static uint8_t rd_u8(reader_t *r)
{
    const uint8_t *p = take(r, 1);
    return p ? p[0] : 0;
}

static uint16_t rd_u16(reader_t *r)
{
    const uint8_t *p = take(r, 2);
    if (!p)
        return 0;
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd_u32(reader_t *r)
{
    const uint8_t *p = take(r, 4);
    if (!p)
        return 0;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_u64(reader_t *r)
{
    uint64_t lo = rd_u32(r);
    uint64_t hi = rd_u32(r);
    return lo | hi << 32;
}

static int8_t rd_i8(reader_t *r)
{
    uint8_t v = rd_u8(r);
    return (int8_t)(v < 0x80u ? (int)v : (int)v - 256);
}

static void rd_bytes(reader_t *r, uint8_t *out, size_t n)
{
    const uint8_t *p = take(r, n);
    if (p)
        memcpy(out, p, n);
}

/* A tail whose length was the last fixed field: it must lie inside the body. */
static const uint8_t *rd_tail(reader_t *r, size_t n)
{
    const uint8_t *p = take(r, n);
    return p ? p : (const uint8_t *)"";
}

/* ---- writer ------------------------------------------------------------------------ */

static uint8_t *wr_u8(uint8_t *p, uint8_t v)
{
    *p = v;
    return p + 1;
}

static uint8_t *wr_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *wr_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

static uint8_t *wr_u64(uint8_t *p, uint64_t v)
{
    p = wr_u32(p, (uint32_t)v);
    return wr_u32(p, (uint32_t)(v >> 32));
}

static uint8_t *wr_i8(uint8_t *p, int8_t v)
{
    return wr_u8(p, (uint8_t)v);
}

static uint8_t *wr_bytes(uint8_t *p, const uint8_t *src, size_t n)
{
    if (n > 0)
        memcpy(p, src, n);
    return p + n;
}

/* ---- parse ------------------------------------------------------------------------- */

gw_parse_result_t gw_msg_parse(uint8_t type, const uint8_t *body, size_t len, gw_msg_t *out)
{
    reader_t r = {body, len, false};
    memset(out, 0, sizeof *out);
    out->type = type;
    switch (type) {
    case GW_HELLO: {
        gw_hello_t *m = &out->u.hello;
        m->protocol_major = rd_u8(&r);
        m->protocol_minor = rd_u8(&r);
        rd_bytes(&r, m->mac, GW_MAC_LEN);
        m->channel = rd_u8(&r);
        m->max_payload = rd_u16(&r);
        m->capabilities = rd_u32(&r);
        m->firmware_len = rd_u8(&r);
        m->firmware = rd_tail(&r, m->firmware_len);
        break;
    }
    case GW_PACKET: {
        gw_packet_t *m = &out->u.packet;
        rd_bytes(&r, m->src, GW_MAC_LEN);
        rd_bytes(&r, m->dst, GW_MAC_LEN);
        m->rssi = rd_i8(&r);
        m->noise_floor = rd_i8(&r);
        m->channel = rd_u8(&r);
        m->rate = rd_u8(&r);
        m->seq = rd_u32(&r);
        m->timestamp_us = rd_u64(&r);
        m->payload_len = rd_u16(&r);
        if (m->payload_len > GW_MAX_PAYLOAD)
            r.bad = true;
        m->payload = rd_tail(&r, m->payload_len);
        break;
    }
    case GW_STATS: {
        gw_stats_t *m = &out->u.stats;
        m->uptime_s = rd_u32(&r);
        m->rx_packets = rd_u32(&r);
        m->rx_dropped = rd_u32(&r);
        m->tx_packets = rd_u32(&r);
        m->tx_failed = rd_u32(&r);
        m->host_frames_bad = rd_u32(&r);
        m->free_heap = rd_u32(&r);
        m->min_free_heap = rd_u32(&r);
        m->queue_peak = rd_u16(&r);
        m->queue_capacity = rd_u16(&r);
        break;
    }
    case GW_SEND_RESULT:
        out->u.send_result.request_id = rd_u16(&r);
        rd_bytes(&r, out->u.send_result.dst, GW_MAC_LEN);
        out->u.send_result.status = rd_u8(&r);
        break;
    case GW_COMMAND_RESULT:
        out->u.command_result.request_id = rd_u16(&r);
        out->u.command_result.command = rd_u8(&r);
        out->u.command_result.status = rd_u8(&r);
        break;
    case GW_PONG:
        out->u.pong.request_id = rd_u16(&r);
        break;
    case GW_LOG:
        out->u.log.level = rd_u8(&r);
        out->u.log.text_len = rd_u8(&r);
        out->u.log.text = rd_tail(&r, out->u.log.text_len);
        break;
    case GW_PING:
        out->u.ping.request_id = rd_u16(&r);
        break;
    case GW_GET_INFO:
        break;
    case GW_SET_CHANNEL:
        out->u.set_channel.request_id = rd_u16(&r);
        out->u.set_channel.channel = rd_u8(&r);
        break;
    case GW_SEND:
        out->u.send.request_id = rd_u16(&r);
        rd_bytes(&r, out->u.send.dst, GW_MAC_LEN);
        out->u.send.payload_len = rd_u16(&r);
        out->u.send.payload = rd_tail(&r, out->u.send.payload_len);
        break;
    case GW_ADD_PEER: {
        gw_add_peer_t *m = &out->u.add_peer;
        m->request_id = rd_u16(&r);
        rd_bytes(&r, m->mac, GW_MAC_LEN);
        m->channel = rd_u8(&r);
        m->flags = rd_u8(&r);
        rd_bytes(&r, m->lmk, GW_LMK_LEN);
        break;
    }
    case GW_REMOVE_PEER:
        out->u.remove_peer.request_id = rd_u16(&r);
        rd_bytes(&r, out->u.remove_peer.mac, GW_MAC_LEN);
        break;
    case GW_PEER_LIST: {
        gw_peer_list_t *m = &out->u.peer_list;
        m->request_id = rd_u16(&r);
        m->max_peers = rd_u8(&r);
        m->max_encrypted = rd_u8(&r);
        m->count = rd_u8(&r);
        m->records = rd_tail(&r, (size_t)m->count * GW_PEER_RECORD_SIZE);
        break;
    }
    case GW_GET_PEERS:
        out->u.get_peers.request_id = rd_u16(&r);
        break;
    case GW_SET_PMK:
        out->u.set_pmk.request_id = rd_u16(&r);
        rd_bytes(&r, out->u.set_pmk.pmk, GW_PMK_LEN);
        break;
    default:
        return GW_UNKNOWN_TYPE;
    }
    return r.bad ? GW_MALFORMED : GW_PARSED;
}

/* ---- encode ------------------------------------------------------------------------ */

int gw_msg_body_size(const gw_msg_t *msg)
{
    switch (msg->type) {
    case GW_HELLO:
        return 16 + msg->u.hello.firmware_len;
    case GW_PACKET:
        return msg->u.packet.payload_len <= GW_MAX_PAYLOAD ? 30 + msg->u.packet.payload_len : -1;
    case GW_STATS:
        return 36;
    case GW_SEND_RESULT:
        return 9;
    case GW_COMMAND_RESULT:
        return 4;
    case GW_PONG:
    case GW_PING:
        return 2;
    case GW_LOG:
        return 2 + msg->u.log.text_len;
    case GW_GET_INFO:
        return 0;
    case GW_SET_CHANNEL:
        return 3;
    case GW_SEND:
        return msg->u.send.payload_len <= GW_MAX_BODY - 10 ? 10 + msg->u.send.payload_len : -1;
    case GW_ADD_PEER:
        return 26;
    case GW_REMOVE_PEER:
        return 8;
    case GW_PEER_LIST:
        return msg->u.peer_list.count <= GW_PEER_LIST_RECORDS_MAX
                   ? (int)(GW_PEER_LIST_FIXED + GW_PEER_RECORD_SIZE * msg->u.peer_list.count)
                   : -1;
    case GW_GET_PEERS:
        return 2;
    case GW_SET_PMK:
        return 2 + GW_PMK_LEN;
    default:
        return -1;
    }
}

size_t gw_msg_encode_body(const gw_msg_t *msg, uint8_t *out)
{
    uint8_t *p = out;
    switch (msg->type) {
    case GW_HELLO: {
        const gw_hello_t *m = &msg->u.hello;
        p = wr_u8(p, m->protocol_major);
        p = wr_u8(p, m->protocol_minor);
        p = wr_bytes(p, m->mac, GW_MAC_LEN);
        p = wr_u8(p, m->channel);
        p = wr_u16(p, m->max_payload);
        p = wr_u32(p, m->capabilities);
        p = wr_u8(p, m->firmware_len);
        p = wr_bytes(p, m->firmware, m->firmware_len);
        break;
    }
    case GW_PACKET: {
        const gw_packet_t *m = &msg->u.packet;
        p = wr_bytes(p, m->src, GW_MAC_LEN);
        p = wr_bytes(p, m->dst, GW_MAC_LEN);
        p = wr_i8(p, m->rssi);
        p = wr_i8(p, m->noise_floor);
        p = wr_u8(p, m->channel);
        p = wr_u8(p, m->rate);
        p = wr_u32(p, m->seq);
        p = wr_u64(p, m->timestamp_us);
        p = wr_u16(p, m->payload_len);
        p = wr_bytes(p, m->payload, m->payload_len);
        break;
    }
    case GW_STATS: {
        const gw_stats_t *m = &msg->u.stats;
        p = wr_u32(p, m->uptime_s);
        p = wr_u32(p, m->rx_packets);
        p = wr_u32(p, m->rx_dropped);
        p = wr_u32(p, m->tx_packets);
        p = wr_u32(p, m->tx_failed);
        p = wr_u32(p, m->host_frames_bad);
        p = wr_u32(p, m->free_heap);
        p = wr_u32(p, m->min_free_heap);
        p = wr_u16(p, m->queue_peak);
        p = wr_u16(p, m->queue_capacity);
        break;
    }
    case GW_SEND_RESULT:
        p = wr_u16(p, msg->u.send_result.request_id);
        p = wr_bytes(p, msg->u.send_result.dst, GW_MAC_LEN);
        p = wr_u8(p, msg->u.send_result.status);
        break;
    case GW_COMMAND_RESULT:
        p = wr_u16(p, msg->u.command_result.request_id);
        p = wr_u8(p, msg->u.command_result.command);
        p = wr_u8(p, msg->u.command_result.status);
        break;
    case GW_PONG:
        p = wr_u16(p, msg->u.pong.request_id);
        break;
    case GW_LOG:
        p = wr_u8(p, msg->u.log.level);
        p = wr_u8(p, msg->u.log.text_len);
        p = wr_bytes(p, msg->u.log.text, msg->u.log.text_len);
        break;
    case GW_PING:
        p = wr_u16(p, msg->u.ping.request_id);
        break;
    case GW_GET_INFO:
        break;
    case GW_SET_CHANNEL:
        p = wr_u16(p, msg->u.set_channel.request_id);
        p = wr_u8(p, msg->u.set_channel.channel);
        break;
    case GW_SEND:
        p = wr_u16(p, msg->u.send.request_id);
        p = wr_bytes(p, msg->u.send.dst, GW_MAC_LEN);
        p = wr_u16(p, msg->u.send.payload_len);
        p = wr_bytes(p, msg->u.send.payload, msg->u.send.payload_len);
        break;
    case GW_ADD_PEER: {
        const gw_add_peer_t *m = &msg->u.add_peer;
        p = wr_u16(p, m->request_id);
        p = wr_bytes(p, m->mac, GW_MAC_LEN);
        p = wr_u8(p, m->channel);
        p = wr_u8(p, m->flags);
        p = wr_bytes(p, m->lmk, GW_LMK_LEN);
        break;
    }
    case GW_REMOVE_PEER:
        p = wr_u16(p, msg->u.remove_peer.request_id);
        p = wr_bytes(p, msg->u.remove_peer.mac, GW_MAC_LEN);
        break;
    case GW_PEER_LIST: {
        const gw_peer_list_t *m = &msg->u.peer_list;
        p = wr_u16(p, m->request_id);
        p = wr_u8(p, m->max_peers);
        p = wr_u8(p, m->max_encrypted);
        p = wr_u8(p, m->count);
        p = wr_bytes(p, m->records, (size_t)m->count * GW_PEER_RECORD_SIZE);
        break;
    }
    case GW_GET_PEERS:
        p = wr_u16(p, msg->u.get_peers.request_id);
        break;
    case GW_SET_PMK:
        p = wr_u16(p, msg->u.set_pmk.request_id);
        p = wr_bytes(p, msg->u.set_pmk.pmk, GW_PMK_LEN);
        break;
    default:
        break;
    }
    return (size_t)(p - out);
}

size_t gw_msg_encode(const gw_msg_t *msg, uint8_t *out, size_t room)
{
    int size = gw_msg_body_size(msg);
    if (size < 0 || msg->type == 0x00 || msg->type == 0xFF || (size_t)size + GW_OVERHEAD > room)
        return 0;
    size_t body = gw_msg_encode_body(msg, out + GW_HEADER_SIZE);
    gw_frame_seal(out, msg->type, (uint16_t)body);
    return body + GW_OVERHEAD;
}

void gw_peer_record_read(const uint8_t *records, size_t index, gw_peer_t *out)
{
    const uint8_t *at = records + index * GW_PEER_RECORD_SIZE;
    memcpy(out->mac, at, GW_MAC_LEN);
    out->channel = at[6];
    out->flags = at[7];
}

uint8_t *gw_peer_record_write(uint8_t *out, const gw_peer_t *peer)
{
    out = wr_bytes(out, peer->mac, GW_MAC_LEN);
    out = wr_u8(out, peer->channel);
    return wr_u8(out, peer->flags);
}

const char *gw_msg_name(uint8_t type)
{
    switch (type) {
    case GW_HELLO:
        return "Hello";
    case GW_PACKET:
        return "Packet";
    case GW_STATS:
        return "Stats";
    case GW_SEND_RESULT:
        return "SendResult";
    case GW_COMMAND_RESULT:
        return "CommandResult";
    case GW_PONG:
        return "Pong";
    case GW_LOG:
        return "Log";
    case GW_PING:
        return "Ping";
    case GW_GET_INFO:
        return "GetInfo";
    case GW_SET_CHANNEL:
        return "SetChannel";
    case GW_SEND:
        return "Send";
    case GW_ADD_PEER:
        return "AddPeer";
    case GW_REMOVE_PEER:
        return "RemovePeer";
    case GW_PEER_LIST:
        return "PeerList";
    case GW_GET_PEERS:
        return "GetPeers";
    case GW_SET_PMK:
        return "SetPmk";
    default:
        return NULL;
    }
}
