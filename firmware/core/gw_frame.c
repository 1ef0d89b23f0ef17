#include "gw_frame.h"

#include <string.h>

/* Half-byte table for the reflected polynomial 0xEDB88320: 64 bytes of constants,
 * two lookups per byte. */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t gw_crc32(uint32_t crc, const uint8_t *buf, size_t len)
{
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= buf[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
        crc = (crc >> 4) ^ crc_nibble[crc & 0x0Fu];
    }
    return ~crc;
}

uint8_t gw_header_check(uint8_t type, uint16_t length)
{
    return (uint8_t)~(uint8_t)(type + (length & 0xFFu) + (length >> 8));
}

void gw_frame_seal(uint8_t *frame, uint8_t type, uint16_t length)
{
    frame[0] = GW_SOF0;
    frame[1] = GW_SOF1;
    frame[2] = type;
    frame[3] = (uint8_t)(length & 0xFFu);
    frame[4] = (uint8_t)(length >> 8);
    frame[5] = gw_header_check(type, length);
    uint32_t crc = gw_crc32(0, frame + 2, 4u + (size_t)length);
    uint8_t *t = frame + GW_HEADER_SIZE + length;
    t[0] = (uint8_t)crc;
    t[1] = (uint8_t)(crc >> 8);
    t[2] = (uint8_t)(crc >> 16);
    t[3] = (uint8_t)(crc >> 24);
}

void gw_rx_init(gw_rx_t *rx)
{
    rx->n = 0;
    memset(&rx->stats, 0, sizeof rx->stats);
}

static uint32_t read_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Decode what the buffer holds; keep the incomplete rest at its start. */
static void decode(gw_rx_t *rx, gw_frame_cb cb, void *ctx)
{
    const uint8_t *buf = rx->buf;
    size_t n = rx->n;
    size_t pos = 0;
    for (;;) {
        /* Search for E5 A7; keep a lone E5 at the very end, A7 may follow. */
        while (pos < n && !(buf[pos] == GW_SOF0 && (pos + 1 == n || buf[pos + 1] == GW_SOF1))) {
            pos++;
            rx->stats.bytes_skipped++;
        }
        if (n - pos < GW_HEADER_SIZE)
            break;
        const uint8_t *f = buf + pos;
        uint16_t length = (uint16_t)(f[3] | f[4] << 8);
        if (f[5] != gw_header_check(f[2], length)) {
            rx->stats.header_errors++;
            rx->stats.bytes_skipped++;
            pos++;
            continue;
        }
        if (length > GW_MAX_BODY) {
            rx->stats.oversize++;
            rx->stats.bytes_skipped++;
            pos++;
            continue;
        }
        size_t size = GW_OVERHEAD + (size_t)length;
        if (n - pos < size)
            break;
        if (gw_crc32(0, f + 2, 4u + (size_t)length) != read_u32le(f + GW_HEADER_SIZE + length)) {
            rx->stats.crc_errors++;
            rx->stats.bytes_skipped++;
            pos++;
            continue;
        }
        rx->stats.frames++;
        cb(ctx, f[2], f + GW_HEADER_SIZE, length);
        pos += size;
    }
    if (pos > 0) {
        memmove(rx->buf, rx->buf + pos, n - pos);
        rx->n = n - pos;
    }
}

void gw_rx_feed(gw_rx_t *rx, const uint8_t *data, size_t len, gw_frame_cb cb, void *ctx)
{
    while (len > 0) {
        /* After decode() the buffer never holds a complete frame, so there is room. */
        size_t take = sizeof rx->buf - rx->n;
        if (take > len)
            take = len;
        memcpy(rx->buf + rx->n, data, take);
        rx->n += take;
        data += take;
        len -= take;
        decode(rx, cb, ctx);
    }
}

bool gw_rx_flush(gw_rx_t *rx, gw_frame_cb cb, void *ctx)
{
    if (rx->n == 0)
        return false;
    rx->stats.stale_partials++;
    while (rx->n > 0) {
        memmove(rx->buf, rx->buf + 1, rx->n - 1);
        rx->n--;
        rx->stats.bytes_skipped++;
        decode(rx, cb, ctx);
    }
    return true;
}
