/* Fuzz loop over the gateway's command decoder: random and damaged input from the host,
 * random radio traffic, a link that stalls and resumes, time that jumps. Whatever
 * comes in, the gateway must not crash (the sanitizers watch), must not grow, and
 * must never write a frame the host would reject.
 *
 *   core-fuzz [iterations] [seed]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_hal.h"

static uint64_t state;

static uint32_t rnd(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (uint32_t)(state >> 16);
}

static uint32_t below(uint32_t n)
{
    return n ? rnd() % n : 0;
}

static fake_t fake;
static gw_t gw;
static fake_msgs_t out;
static uint8_t input[8 * GW_MAX_FRAME]; /* two inputs of up to four frames */

static const uint8_t host_types[] = {GW_PING,     GW_GET_INFO,    GW_SET_CHANNEL, GW_SEND,
                                     GW_ADD_PEER, GW_REMOVE_PEER, GW_GET_PEERS,   GW_SET_PMK};

/* A frame with a good header and CRC around a random body of a plausible size. */
static size_t good_frame(uint8_t *at)
{
    uint8_t type = below(8) ? host_types[below(sizeof host_types)] : (uint8_t)(1 + below(254));
    static const uint16_t sizes[] = {0, 1, 2, 3, 8, 9, 10, 17, 18, 26, 27, 250, 1480, 1536};
    uint16_t len = below(4) ? sizes[below(sizeof sizes / sizeof sizes[0])] : (uint16_t)below(64);
    for (uint16_t i = 0; i < len; i++)
        at[GW_HEADER_SIZE + i] = (uint8_t)rnd();
    if (type == GW_SEND && len >= 10) { /* often a consistent payload_len */
        uint16_t payload = (uint16_t)(len - 10);
        if (below(2)) {
            at[GW_HEADER_SIZE + 8] = (uint8_t)payload;
            at[GW_HEADER_SIZE + 9] = (uint8_t)(payload >> 8);
        }
    }
    gw_frame_seal(at, type, len);
    return GW_OVERHEAD + len;
}

/* Up to four pieces (at most 4 * GW_MAX_FRAME bytes) at buf. */
static size_t make_input(uint8_t *buf)
{
    size_t n = 0;
    int pieces = 1 + (int)below(4);
    for (int p = 0; p < pieces; p++) {
        uint8_t *at = buf + n;
        switch (below(6)) {
        case 0: { /* noise */
            size_t len = below(200);
            for (size_t i = 0; i < len; i++)
                at[i] = below(8) ? (uint8_t)rnd() : (below(2) ? GW_SOF0 : GW_SOF1);
            n += len;
            break;
        }
        case 1: { /* a frame with flipped bits */
            size_t len = good_frame(at);
            for (uint32_t k = 1 + below(3); k > 0; k--)
                at[below((uint32_t)len)] ^= (uint8_t)(1u << below(8));
            n += len;
            break;
        }
        case 2: /* a frame cut short */
            n += 1 + below((uint32_t)good_frame(at) - 1);
            break;
        case 3: { /* a header announcing much more than comes */
            uint16_t len = (uint16_t)below(0x10000);
            uint8_t type = host_types[below(sizeof host_types)];
            at[0] = GW_SOF0;
            at[1] = GW_SOF1;
            at[2] = type;
            at[3] = (uint8_t)len;
            at[4] = (uint8_t)(len >> 8);
            at[5] = gw_header_check(type, len);
            n += 6;
            break;
        }
        default:
            n += good_frame(at);
            break;
        }
    }
    return n;
}

static unsigned long long frames_out, packets_out, drops;

static int check_output(void)
{
    fake_read(&fake, &out);
    gw_rx_stats_t *s = &fake.rx.stats;
    if (out.bad || s->header_errors || s->crc_errors || s->oversize || s->bytes_skipped) {
        printf("bad output: %u unparsable, %u header, %u crc, %u oversize, %u skipped\n", out.bad,
               s->header_errors, s->crc_errors, s->oversize, s->bytes_skipped);
        return 1;
    }
    frames_out += out.n;
    for (size_t i = 0; i < out.n; i++) {
        const gw_msg_t *m = &out.msg[i];
        packets_out += m->type == GW_PACKET;
        if (m->type == GW_HELLO && (m->u.hello.protocol_major != 1 || m->u.hello.firmware_len == 0))
            return 1;
    }
    if (gw.out_tail > GW_OUT_SIZE || gw.out_head > gw.out_tail || gw.rx.n > GW_MAX_FRAME ||
        gw_queue_fill(&gw.queue) > GW_QUEUE_CAPACITY || gw.send_count > GW_SEND_QUEUE) {
        printf("state out of bounds\n");
        return 1;
    }
    return 0;
}

/* The decoder alone: the same frames and counters however the input is split. */
typedef struct tally {
    uint32_t frames, sum;
} tally_t;

static void count(void *ctx, uint8_t type, const uint8_t *body, uint16_t len)
{
    tally_t *t = ctx;
    t->frames++;
    t->sum = t->sum * 31u + type + gw_crc32(0, body, len);
}

static gw_rx_t whole, split;

static int decoder_is_split_invariant(void)
{
    size_t n = make_input(input);
    n += make_input(input + n);
    tally_t a = {0, 0}, b = {0, 0};
    gw_rx_init(&whole);
    gw_rx_init(&split);
    gw_rx_feed(&whole, input, n, count, &a);
    for (size_t at = 0; at < n;) {
        size_t chunk = 1 + below(80);
        if (chunk > n - at)
            chunk = n - at;
        gw_rx_feed(&split, input + at, chunk, count, &b);
        at += chunk;
    }
    gw_rx_flush(&whole, count, &a);
    gw_rx_flush(&split, count, &b);
    if (a.frames != b.frames || a.sum != b.sum || memcmp(&whole.stats, &split.stats, sizeof whole.stats)) {
        printf("decoder depends on chunking\n");
        return 1;
    }
    return 0;
}

/* The parser: whatever it accepts re-encodes to the same leading bytes. */
static int parser_round_trips(void)
{
    uint8_t type = host_types[below(sizeof host_types)];
    if (below(2))
        type = (uint8_t)(1 + below(8));
    size_t len = below(4) ? below(40) : below(GW_MAX_BODY + 1);
    for (size_t i = 0; i < len; i++)
        input[i] = (uint8_t)rnd();
    gw_msg_t msg;
    if (gw_msg_parse(type, input, len, &msg) != GW_PARSED)
        return 0;
    int size = gw_msg_body_size(&msg);
    static uint8_t body[GW_MAX_BODY];
    if (size < 0 || (size_t)size > len || gw_msg_encode_body(&msg, body) != (size_t)size ||
        memcmp(body, input, (size_t)size) != 0) {
        printf("parse/encode mismatch for type 0x%02x\n", type);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long iterations = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000ul;
    state = argc > 2 ? strtoull(argv[2], NULL, 10) : 0x9E3779B97F4A7C15ull;
    if (state == 0)
        state = 1;
    gw_config_t cfg = fake_config();
    cfg.max_payload = GW_MAX_PAYLOAD;
    cfg.capabilities |= GW_CAP_ESPNOW_V2;
    cfg.stats_interval_ms = 2000;
    fake_init(&fake);
    gw_init(&gw, &fake.hal, &cfg);
    gw_boot(&gw);
    static uint8_t payload[GW_MAX_PAYLOAD + 1];
    for (unsigned long i = 0; i < iterations; i++) {
        size_t n = make_input(input);
        for (size_t at = 0; at < n;) {
            size_t chunk = 1 + below(300);
            if (chunk > n - at)
                chunk = n - at;
            gw_host_input(&gw, input + at, chunk);
            at += chunk;
        }
        for (uint32_t k = below(4); k > 0; k--) {
            gw_rx_meta_t meta = {.src = {0x0A, 0, 0, 0, 0, (uint8_t)rnd()}, .rssi = (int8_t)-below(100),
                                 .channel = 1};
            uint16_t len = (uint16_t)below(GW_MAX_PAYLOAD + 2);
            payload[0] = (uint8_t)rnd();
            gw_radio_received(&gw, &meta, payload, len);
        }
        switch (below(8)) {
        case 0:
            fake.write_limit = 0;
            break;
        case 1:
            fake.write_limit = 1 + below(64);
            break;
        default:
            fake.write_limit = (size_t)-1;
            break;
        }
        if (below(3) == 0)
            gw_radio_sent(&gw, below(2) ? gw.send_dst : NULL, below(2));
        fake.send_status = below(5) ? GW_OK : (uint8_t)below(8);
        fake.pmk_status = below(5) ? GW_OK : (uint8_t)below(8);
        if (below(16) == 0) { /* the radio's table changes: up to more than a PEER_LIST holds */
            fake.npeers = below(FAKE_MAX_PEERS + 1);
            for (size_t p = 0; p < fake.npeers; p++)
                for (size_t b = 0; b < sizeof fake.peers[p]; b++)
                    ((uint8_t *)&fake.peers[p])[b] = (uint8_t)rnd();
        }
        fake.now += below(4) ? below(5000) : below(400000);
        gw_service(&gw);
        if (check_output() || decoder_is_split_invariant() || parser_round_trips()) {
            printf("FAILED at iteration %lu\n", i);
            return 1;
        }
        drops = gw_queue_dropped(&gw.queue);
    }
    fake.write_limit = (size_t)-1;
    gw_service(&gw);
    if (check_output())
        return 1;
    printf("fuzz: %lu iterations, %llu frames out (%llu packets), %llu radio drops, "
           "%u bad host frames, 0 malformed output\n",
           iterations, frames_out, packets_out, drops, gw.host_frames_bad);
    return 0;
}
