/* Frame layer of the gateway link protocol 1.0 (docs/protocol.md, section 2).
 *
 *   E5 A7 | type | length (u16 LE) | hcs | body (length bytes) | crc32 (u32 LE)
 *
 * hcs = ~(type + length_lo + length_hi); crc32 is zlib's CRC-32 of type .. body.
 * Portable C11, no allocation, no platform headers.
 */
#ifndef GW_FRAME_H
#define GW_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_SOF0 0xE5u
#define GW_SOF1 0xA7u
#define GW_HEADER_SIZE 6u
#define GW_CRC_SIZE 4u
#define GW_OVERHEAD (GW_HEADER_SIZE + GW_CRC_SIZE)
#define GW_MAX_BODY 1536u
#define GW_MAX_FRAME (GW_OVERHEAD + GW_MAX_BODY)

/* CRC-32 as zlib's crc32(): start with 0, or pass a previous result to go on. */
uint32_t gw_crc32(uint32_t crc, const uint8_t *buf, size_t len);

uint8_t gw_header_check(uint8_t type, uint16_t length);

/* Write the header and CRC around a body already placed at frame + GW_HEADER_SIZE.
 * The frame then occupies length + GW_OVERHEAD bytes. The caller guarantees
 * 0 < type < 0xFF and length <= GW_MAX_BODY. */
void gw_frame_seal(uint8_t *frame, uint8_t type, uint16_t length);

/* Decoder statistics; the names are those of the host's DecoderStats. */
typedef struct gw_rx_stats {
    uint32_t frames;         /* frames with a good CRC, delivered */
    uint32_t header_errors;  /* bad header check byte */
    uint32_t oversize;       /* length above GW_MAX_BODY */
    uint32_t crc_errors;     /* bad CRC */
    uint32_t bytes_skipped;  /* bytes discarded while searching for a frame */
    uint32_t stale_partials; /* partial frames given up by gw_rx_flush() */
} gw_rx_stats_t;

/* Called for every frame whose CRC is good. body points into the decoder's buffer
 * and is valid until the callback returns. */
typedef void (*gw_frame_cb)(void *ctx, uint8_t type, const uint8_t *body, uint16_t len);

/* Incremental decoder with the resynchronisation rules of section 2.5: a bad
 * header, a length above GW_MAX_BODY or a bad CRC discards one byte and searches
 * again. It holds at most one incomplete frame; the result does not depend on how
 * the stream is split into chunks. */
typedef struct gw_rx {
    uint8_t buf[GW_MAX_FRAME];
    size_t n; /* bytes held */
    gw_rx_stats_t stats;
} gw_rx_t;

void gw_rx_init(gw_rx_t *rx);
void gw_rx_feed(gw_rx_t *rx, const uint8_t *data, size_t len, gw_frame_cb cb, void *ctx);

/* Give up on a partial frame after a silence (section 2.5, step 6): drop its first
 * byte and decode the rest again, until nothing is held. Returns true if there was a
 * partial frame (counted in stats.stale_partials). */
bool gw_rx_flush(gw_rx_t *rx, gw_frame_cb cb, void *ctx);

#endif
