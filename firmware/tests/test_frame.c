/* The frame layer: CRC, header check, encoder, and the decoder's resynchronisation. */
#include <string.h>

#include "check.h"
#include "gw_frame.h"
#include "suites.h"

static void crc_check_value(void)
{
    CHECK_EQ(gw_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
    CHECK_EQ(gw_crc32(0, NULL, 0), 0);
    /* Continuing over a second buffer gives the CRC of both. */
    uint32_t part = gw_crc32(0, (const uint8_t *)"1234", 4);
    CHECK_EQ(gw_crc32(part, (const uint8_t *)"56789", 5), 0xCBF43926u);
}

static void crc_residue(void)
{
    /* docs/protocol.md 6.1: the CRC of a frame's type .. crc32 is the residue. */
    const uint8_t tail[] = {0x81, 0x02, 0x00, 0x7c, 0x01, 0x00, 0xcb, 0x95, 0x1e, 0x5a};
    CHECK_EQ(gw_crc32(0, tail, sizeof tail), 0x2144DF1Cu);
}

static void header_check_example(void)
{
    CHECK_EQ(gw_header_check(0x81, 2), 0x7C);
    CHECK_EQ(gw_header_check(0x01, 0x1F), 0xDF);
    /* Both length bytes count. */
    CHECK_EQ(gw_header_check(0x02, 0x05DC), (uint8_t)~(0x02 + 0xDC + 0x05));
}

static void seal_ping(void)
{
    uint8_t frame[12] = {0};
    frame[6] = 0x01; /* request_id 1 */
    gw_frame_seal(frame, 0x81, 2);
    const uint8_t want[] = {0xe5, 0xa7, 0x81, 0x02, 0x00, 0x7c, 0x01, 0x00, 0xcb, 0x95, 0x1e, 0x5a};
    CHECK(memcmp(frame, want, sizeof want) == 0);
}

/* ---- decoder ------------------------------------------------------------------- */

typedef struct seen {
    int frames;
    uint8_t types[16];
    uint16_t lens[16];
} seen_t;

static void on_frame(void *ctx, uint8_t type, const uint8_t *body, uint16_t len)
{
    seen_t *s = ctx;
    (void)body;
    if (s->frames < 16) {
        s->types[s->frames] = type;
        s->lens[s->frames] = len;
    }
    s->frames++;
}

static size_t make(uint8_t *out, uint8_t type, uint16_t len, uint8_t fill)
{
    memset(out + GW_HEADER_SIZE, fill, len);
    gw_frame_seal(out, type, len);
    return GW_OVERHEAD + len;
}

static gw_rx_t rx; /* 1.5 KB: not on the stack */

static void decodes_back_to_back(void)
{
    uint8_t buf[64];
    size_t n = make(buf, 0x81, 2, 0);
    n += make(buf + n, 0x82, 0, 0);
    n += make(buf + n, 0x84, 11, 0xE5);
    for (size_t chunk = 1; chunk <= n; chunk++) {
        seen_t s = {0};
        gw_rx_init(&rx);
        for (size_t at = 0; at < n; at += chunk)
            gw_rx_feed(&rx, buf + at, at + chunk <= n ? chunk : n - at, on_frame, &s);
        CHECK_EQ(s.frames, 3);
        CHECK_EQ(s.types[2], 0x84);
        CHECK_EQ(s.lens[2], 11);
        CHECK_EQ(rx.n, 0);
        CHECK_EQ(rx.stats.bytes_skipped, 0);
    }
}

static void keeps_a_lone_sof_byte(void)
{
    uint8_t buf[16];
    size_t n = make(buf, 0x81, 2, 0);
    seen_t s = {0};
    gw_rx_init(&rx);
    const uint8_t noise[] = {'x', 'y', 0xE5};
    gw_rx_feed(&rx, noise, sizeof noise, on_frame, &s);
    CHECK_EQ(rx.n, 1);
    CHECK_EQ(rx.stats.bytes_skipped, 2);
    gw_rx_feed(&rx, buf + 1, n - 1, on_frame, &s); /* A7 ... completes the frame */
    CHECK_EQ(s.frames, 1);
}

static void bad_header_skips_one_byte(void)
{
    uint8_t buf[32];
    buf[0] = GW_SOF0;
    buf[1] = GW_SOF1;
    buf[2] = 0x81;
    buf[3] = 0x10;
    buf[4] = 0x04; /* length 0x0410 ... */
    buf[5] = gw_header_check(0x81, 0x0010); /* ... with the check of 0x0010 */
    size_t n = 6 + make(buf + 6, 0x81, 2, 0);
    seen_t s = {0};
    gw_rx_init(&rx);
    gw_rx_feed(&rx, buf, n, on_frame, &s);
    CHECK_EQ(s.frames, 1); /* the good frame right behind is not swallowed */
    CHECK_EQ(rx.stats.header_errors, 1);
    CHECK_EQ(rx.stats.bytes_skipped, 6);
}

static void oversize_is_rejected(void)
{
    uint8_t buf[32];
    uint16_t len = GW_MAX_BODY + 1;
    buf[0] = GW_SOF0;
    buf[1] = GW_SOF1;
    buf[2] = 0x84;
    buf[3] = (uint8_t)len;
    buf[4] = (uint8_t)(len >> 8);
    buf[5] = gw_header_check(0x84, len);
    size_t n = 6 + make(buf + 6, 0x82, 0, 0);
    seen_t s = {0};
    gw_rx_init(&rx);
    gw_rx_feed(&rx, buf, n, on_frame, &s);
    CHECK_EQ(s.frames, 1);
    CHECK_EQ(rx.stats.oversize, 1);
}

static void bad_crc_resyncs_inside_the_frame(void)
{
    /* A frame cut short, then a good one: the CRC check spans into the good frame,
     * fails, and the search resumes inside the rejected bytes. */
    uint8_t buf[128];
    size_t first = make(buf, 0x84, 20, 0x11);
    size_t cut = first - 8;
    size_t n = cut + make(buf + cut, 0x81, 2, 0);
    n += make(buf + n, 0x81, 30, 0);
    seen_t s = {0};
    gw_rx_init(&rx);
    gw_rx_feed(&rx, buf, n, on_frame, &s);
    CHECK_EQ(s.frames, 2);
    CHECK_EQ(rx.stats.crc_errors, 1);
    CHECK_EQ(rx.n, 0);
}

static void flush_gives_up_a_partial_frame(void)
{
    /* A header announcing 100 bytes, then a good PING inside them: only the flush
     * (after a silence) delivers the PING. */
    uint8_t buf[160];
    make(buf, 0x84, 100, 0);
    size_t n = GW_HEADER_SIZE; /* its header only */
    n += make(buf + n, 0x81, 2, 0);
    seen_t s = {0};
    gw_rx_init(&rx);
    gw_rx_feed(&rx, buf, n, on_frame, &s);
    CHECK_EQ(s.frames, 0);
    CHECK_EQ(rx.n, n);
    CHECK(gw_rx_flush(&rx, on_frame, &s));
    CHECK_EQ(s.frames, 1);
    CHECK_EQ(s.types[0], 0x81);
    CHECK_EQ(rx.n, 0);
    CHECK_EQ(rx.stats.stale_partials, 1);
    CHECK(!gw_rx_flush(&rx, on_frame, &s));
    CHECK_EQ(rx.stats.stale_partials, 1);
}

static void largest_frame_fits(void)
{
    static uint8_t buf[GW_MAX_FRAME + 1];
    size_t n = make(buf, 0x84, GW_MAX_BODY, 0xE5);
    CHECK_EQ(n, GW_MAX_FRAME);
    seen_t s = {0};
    gw_rx_init(&rx);
    gw_rx_feed(&rx, buf, n, on_frame, &s);
    CHECK_EQ(s.frames, 1);
    CHECK_EQ(s.lens[0], GW_MAX_BODY);
}

void suite_frame(void)
{
    RUN("frame", crc_check_value);
    RUN("frame", crc_residue);
    RUN("frame", header_check_example);
    RUN("frame", seal_ping);
    RUN("frame", decodes_back_to_back);
    RUN("frame", keeps_a_lone_sof_byte);
    RUN("frame", bad_header_skips_one_byte);
    RUN("frame", oversize_is_rejected);
    RUN("frame", bad_crc_resyncs_inside_the_frame);
    RUN("frame", flush_gives_up_a_partial_frame);
    RUN("frame", largest_frame_fits);
}
