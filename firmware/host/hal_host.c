#define _POSIX_C_SOURCE 200809L

#include "hal_host.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const uint8_t BROADCAST[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

size_t radio_record_parse(const uint8_t *data, size_t len, radio_record_t *out)
{
    if (len < RADIO_RECORD_HEADER)
        return 0;
    uint16_t plen = (uint16_t)(data[16] | data[17] << 8);
    if (plen > GW_MAX_PAYLOAD || len - RADIO_RECORD_HEADER < plen)
        return 0;
    memcpy(out->meta.src, data, 6);
    memcpy(out->meta.dst, data + 6, 6);
    out->meta.rssi = (int8_t)(data[12] < 0x80u ? (int)data[12] : (int)data[12] - 256);
    out->meta.noise_floor = (int8_t)(data[13] < 0x80u ? (int)data[13] : (int)data[13] - 256);
    out->meta.channel = data[14];
    out->meta.rate = data[15];
    out->payload = data + RADIO_RECORD_HEADER;
    out->len = plen;
    return RADIO_RECORD_HEADER + plen;
}

static host_peer_t *find_peer(host_t *h, const uint8_t mac[6])
{
    for (unsigned i = 0; i < h->npeers; i++)
        if (memcmp(h->peers[i].mac, mac, 6) == 0)
            return &h->peers[i];
    return NULL;
}

static bool heard(host_t *h, const uint8_t mac[6])
{
    for (unsigned i = 0; i < h->nheard; i++)
        if (memcmp(h->heard[i], mac, 6) == 0)
            return true;
    return false;
}

/* ---- HAL ---------------------------------------------------------------------------- */

static size_t host_write(void *ctx, const uint8_t *data, size_t len)
{
    host_t *h = ctx;
    if (h->link_broken)
        return len; /* nobody will ever read it: discard, as a USB device would */
    ssize_t n = write(h->link_fd, data, len);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            h->link_broken = true;
        return 0;
    }
    if (h->trace && n > 0)
        h->trace(h, data, (size_t)n);
    h->link_bytes += (uint64_t)n;
    return (size_t)n;
}

static uint8_t radio_send(void *ctx, const uint8_t dst[6], const uint8_t *payload, uint16_t len)
{
    host_t *h = ctx;
    bool group = (dst[0] & 0x01u) != 0;
    if (!find_peer(h, dst))
        return GW_UNKNOWN_PEER; /* ESP_ERR_ESPNOW_NOT_FOUND */
    if (h->air_fd >= 0) {
        static uint8_t record[RADIO_RECORD_HEADER + GW_MAX_PAYLOAD];
        memcpy(record, h->gw->cfg.mac, 6);
        memcpy(record + 6, dst, 6);
        record[12] = record[13] = 0;
        record[14] = h->channel;
        record[15] = 0;
        record[16] = (uint8_t)len;
        record[17] = (uint8_t)(len >> 8);
        memcpy(record + RADIO_RECORD_HEADER, payload, len);
        (void)sendto(h->air_fd, record, RADIO_RECORD_HEADER + len, 0,
                     (const struct sockaddr *)&h->air, sizeof h->air);
    }
    h->send_pending = true;
    h->send_ok = group || heard(h, dst);
    memcpy(h->send_dst, dst, 6);
    return GW_OK;
}

static uint8_t set_channel(void *ctx, uint8_t channel)
{
    ((host_t *)ctx)->channel = channel;
    return GW_OK;
}

static unsigned encrypted_peers(host_t *h)
{
    unsigned n = 0;
    for (unsigned i = 0; i < h->npeers; i++)
        n += h->peers[i].encrypted;
    return n;
}

static uint8_t add_peer(void *ctx, const uint8_t mac[6], uint8_t channel, const uint8_t *lmk)
{
    host_t *h = ctx;
    if (channel != 0 && channel != h->channel)
        return GW_INVALID_ARGUMENT; /* ESP_ERR_ESPNOW_CHAN */
    host_peer_t *peer = find_peer(h, mac);
    bool encrypt = lmk != NULL;
    if (encrypt && !(peer && peer->encrypted) && encrypted_peers(h) >= HOST_MAX_ENCRYPTED)
        return GW_PEER_TABLE_FULL;
    if (!peer) {
        if (h->npeers == HOST_MAX_PEERS)
            return GW_PEER_TABLE_FULL; /* ESP_ERR_ESPNOW_FULL */
        peer = &h->peers[h->npeers++];
        memcpy(peer->mac, mac, 6);
    }
    peer->channel = channel; /* an existing peer is updated (esp_now_mod_peer) */
    peer->encrypted = encrypt;
    return GW_OK;
}

static uint8_t remove_peer(void *ctx, const uint8_t mac[6])
{
    host_t *h = ctx;
    host_peer_t *peer = find_peer(h, mac);
    if (!peer)
        return GW_UNKNOWN_PEER;
    *peer = h->peers[--h->npeers];
    return GW_OK;
}

static bool fetch_peer(void *ctx, bool first, gw_peer_t *out)
{
    host_t *h = ctx;
    if (first)
        h->fetch_next = 0;
    if (h->fetch_next >= h->npeers)
        return false;
    const host_peer_t *peer = &h->peers[h->fetch_next++];
    memcpy(out->mac, peer->mac, 6);
    out->channel = peer->channel;
    out->flags = peer->encrypted ? GW_PEER_FLAG_ENCRYPT : 0;
    return true;
}

static uint8_t set_pmk(void *ctx, const uint8_t pmk[GW_PMK_LEN])
{
    host_t *h = ctx;
    memcpy(h->pmk, pmk, GW_PMK_LEN); /* esp_now_set_pmk(): any 16 bytes */
    h->pmk_sets++;
    return GW_OK;
}

static uint64_t now_us(void *ctx)
{
    host_t *h = ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return (ns - h->start_ns) / 1000u;
}

static uint32_t free_heap(void *ctx)
{
    host_t *h = ctx;
    uint32_t free = HOST_HEAP - (uint32_t)(h->npeers * sizeof(host_peer_t));
    if (free < h->min_heap)
        h->min_heap = free;
    return free;
}

static uint32_t min_free_heap(void *ctx)
{
    host_t *h = ctx;
    free_heap(ctx);
    return h->min_heap;
}

/* ---- the simulation ----------------------------------------------------------------- */

void host_init(host_t *h, gw_t *gw, int link_fd, uint8_t channel, bool hooks_1_1)
{
    memset(h, 0, sizeof *h);
    h->hal = (gw_hal_t){
        .ctx = h,
        .host_write = host_write,
        .radio_send = radio_send,
        .set_channel = set_channel,
        .add_peer = add_peer,
        .remove_peer = remove_peer,
        .now_us = now_us,
        .free_heap = free_heap,
        .min_free_heap = min_free_heap,
        .fetch_peer = hooks_1_1 ? fetch_peer : NULL,
        .set_pmk = hooks_1_1 ? set_pmk : NULL,
    };
    h->gw = gw;
    h->link_fd = link_fd;
    h->air_fd = -1;
    h->channel = channel;
    h->min_heap = HOST_HEAP;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    h->start_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    /* The firmware registers the broadcast peer at boot. */
    memcpy(h->peers[0].mac, BROADCAST, 6);
    h->npeers = 1;
    _Static_assert(sizeof HOST_DEFAULT_PMK - 1 == GW_PMK_LEN, "a PMK is 16 bytes");
    memcpy(h->pmk, HOST_DEFAULT_PMK, GW_PMK_LEN);
}

void host_radio_record(host_t *h, const radio_record_t *record)
{
    gw_rx_meta_t meta = record->meta;
    if (meta.channel == 0)
        meta.channel = h->channel;
    if (meta.channel != h->channel) {
        h->off_channel++;
        return;
    }
    if (!heard(h, meta.src)) {
        memcpy(h->heard[h->heard_next], meta.src, 6);
        h->heard_next = (h->heard_next + 1u) % HOST_HEARD;
        if (h->nheard < HOST_HEARD)
            h->nheard++;
    }
    gw_radio_received(h->gw, &meta, record->payload, record->len);
}

void host_complete_send(host_t *h)
{
    if (!h->send_pending)
        return;
    h->send_pending = false;
    gw_radio_sent(h->gw, h->send_dst, h->send_ok);
}
