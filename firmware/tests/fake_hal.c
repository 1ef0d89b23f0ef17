#include "fake_hal.h"

#include <stdlib.h>
#include <string.h>

static size_t host_write(void *ctx, const uint8_t *data, size_t len)
{
    fake_t *f = ctx;
    size_t n = len < f->write_limit ? len : f->write_limit;
    if (n > FAKE_OUT_SIZE - f->out_len)
        abort(); /* a test wrote more than it reads back */
    memcpy(f->out + f->out_len, data, n);
    f->out_len += n;
    return n;
}

static uint8_t radio_send(void *ctx, const uint8_t dst[6], const uint8_t *payload, uint16_t len)
{
    fake_t *f = ctx;
    (void)payload;
    f->sends++;
    memcpy(f->last_dst, dst, 6);
    f->last_len = len;
    return f->send_status;
}

static uint8_t set_channel(void *ctx, uint8_t channel)
{
    fake_t *f = ctx;
    f->channels++;
    f->last_channel = channel;
    return f->channel_status;
}

static uint8_t add_peer(void *ctx, const uint8_t mac[6], uint8_t channel, const uint8_t *lmk)
{
    fake_t *f = ctx;
    f->adds++;
    memcpy(f->last_dst, mac, 6);
    f->last_channel = channel;
    f->last_encrypted = lmk != NULL;
    if (lmk)
        memcpy(f->last_lmk, lmk, 16);
    return f->peer_status;
}

static uint8_t remove_peer(void *ctx, const uint8_t mac[6])
{
    fake_t *f = ctx;
    f->removes++;
    memcpy(f->last_dst, mac, 6);
    return f->peer_status;
}

static bool fetch_peer(void *ctx, bool first, gw_peer_t *out)
{
    fake_t *f = ctx;
    f->fetches++;
    if (first)
        f->fetch_next = 0;
    if (f->fetch_next >= f->npeers)
        return false;
    *out = f->peers[f->fetch_next++];
    return true;
}

static uint8_t set_pmk(void *ctx, const uint8_t pmk[GW_PMK_LEN])
{
    fake_t *f = ctx;
    f->pmks++;
    memcpy(f->pmk, pmk, GW_PMK_LEN);
    return f->pmk_status;
}

static uint64_t now_us(void *ctx)
{
    return ((fake_t *)ctx)->now;
}

static uint32_t heap(void *ctx)
{
    return ((fake_t *)ctx)->heap;
}

void fake_init(fake_t *f)
{
    memset(f, 0, sizeof *f);
    f->hal = (gw_hal_t){
        .ctx = f,
        .host_write = host_write,
        .radio_send = radio_send,
        .set_channel = set_channel,
        .add_peer = add_peer,
        .remove_peer = remove_peer,
        .now_us = now_us,
        .free_heap = heap,
        .min_free_heap = heap,
        .fetch_peer = fetch_peer,
        .set_pmk = set_pmk,
    };
    f->now = 1000000u;
    f->write_limit = (size_t)-1;
    f->heap = 200000u;
    gw_rx_init(&f->rx);
}

void fake_init_1_0(fake_t *f)
{
    fake_init(f);
    f->hal.fetch_peer = NULL;
    f->hal.set_pmk = NULL;
}

static void collect(void *ctx, uint8_t type, const uint8_t *body, uint16_t len)
{
    fake_msgs_t *msgs = ctx;
    if (msgs->n == FAKE_MAX_MSGS || len > FAKE_OUT_SIZE - msgs->used)
        abort(); /* a test produced more than it reads back */
    uint8_t *copy = msgs->bodies + msgs->used;
    memcpy(copy, body, len);
    msgs->used += len;
    if (type < 0x80u && gw_msg_parse(type, copy, len, &msgs->msg[msgs->n]) == GW_PARSED)
        msgs->n++;
    else
        msgs->bad++;
}

void fake_read(fake_t *f, fake_msgs_t *msgs)
{
    msgs->n = 0;
    msgs->used = 0;
    msgs->bad = 0;
    gw_rx_feed(&f->rx, f->out + f->read_pos, f->out_len - f->read_pos, collect, msgs);
    f->read_pos = f->out_len;
    if (f->read_pos == f->out_len && f->rx.n == 0)
        f->out_len = f->read_pos = 0; /* everything read: reuse the buffer */
}

const gw_msg_t *fake_find(const fake_msgs_t *msgs, uint8_t type)
{
    for (size_t i = 0; i < msgs->n; i++)
        if (msgs->msg[i].type == type)
            return &msgs->msg[i];
    return NULL;
}

size_t fake_count(const fake_msgs_t *msgs, uint8_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < msgs->n; i++)
        n += msgs->msg[i].type == type;
    return n;
}

void fake_command(gw_t *gw, const gw_msg_t *msg)
{
    uint8_t frame[GW_MAX_FRAME];
    size_t n = gw_msg_encode(msg, frame, sizeof frame);
    if (n == 0)
        abort();
    gw_host_input(gw, frame, n);
}

gw_config_t fake_config(void)
{
    gw_config_t cfg = {
        .mac = {0x24, 0x6F, 0x28, 0xA1, 0xB2, 0xC3},
        .channel = 1,
        .max_payload = 250,
        .capabilities = GW_CAP_SEND | GW_CAP_PEERS | GW_CAP_SET_CHANNEL | GW_CAP_ENCRYPTION |
                        GW_CAP_STATS | GW_CAP_PEER_LIST | GW_CAP_SET_PMK,
        .max_peers = 20,
        .max_encrypted = 7,
        .firmware = "espnow-gw test",
        .stats_interval_ms = 10000,
    };
    return cfg;
}
