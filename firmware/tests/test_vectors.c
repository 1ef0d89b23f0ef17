/* The shared vectors (firmware/tests/vectors.txt, generated from the Python library):
 * the C core decodes, formats and re-encodes every message exactly as Python does,
 * rejects the same malformed bodies, and decodes the same damaged streams. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gw_frame.h"
#include "gw_msg.h"
#include "gw_text.h"
#include "suites.h"

#define LINE_MAX_LEN (1u << 16)
#define BYTES_MAX (LINE_MAX_LEN / 2)

static char line[LINE_MAX_LEN];
static uint8_t bytes_a[BYTES_MAX], bytes_b[BYTES_MAX], delivered[BYTES_MAX];
static char text[LINE_MAX_LEN];
static gw_rx_t rx;
static int counts[256];

/* The value of key=<value> in s, NUL-terminated in place; NULL if absent. */
static char *field(char *s, const char *key)
{
    size_t klen = strlen(key);
    for (char *p = s; (p = strstr(p, key)) != NULL; p++) {
        if ((p == s || p[-1] == ' ') && p[klen] == '=') {
            char *value = p + klen + 1;
            value[strcspn(value, " \n")] = '\0';
            return value;
        }
    }
    return NULL;
}

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    for (; hex[0] && hex[1] && n < BYTES_MAX; hex += 2) {
        char pair[3] = {hex[0], hex[1], 0};
        out[n++] = (uint8_t)strtoul(pair, NULL, 16);
    }
    return n;
}

typedef struct frames {
    uint8_t *out;
    size_t len;
    int count;
    uint8_t type;
    uint16_t body_len;
    const uint8_t *body;
} frames_t;

static void on_frame(void *ctx, uint8_t type, const uint8_t *body, uint16_t len)
{
    frames_t *f = ctx;
    f->count++;
    f->type = type;
    f->body = body;
    f->body_len = len;
    if (f->out && type != 0x00 && type != 0xFF && f->len + GW_OVERHEAD + len <= BYTES_MAX) {
        memcpy(f->out + f->len + GW_HEADER_SIZE, body, len);
        gw_frame_seal(f->out + f->len, type, len);
        f->len += GW_OVERHEAD + len;
    }
}

/* message/extended: decode the frame, compare the fields, re-encode. */
static void check_message(char *rest, bool extended)
{
    char *frame_hex = strstr(rest, " frame=");
    CHECK(frame_hex != NULL);
    if (!frame_hex)
        return;
    *frame_hex = '\0';
    const char *want = rest;
    size_t n = unhex(frame_hex + 7, bytes_a);

    /* The decoder copies the frame, so the body pointer stays valid in rx.buf only
     * during the callback: parse from a copy of the frame instead. */
    frames_t f = {0};
    gw_rx_init(&rx);
    gw_rx_feed(&rx, bytes_a, n, on_frame, &f);
    CHECK_EQ(f.count, 1);
    CHECK_EQ(rx.n, 0);
    gw_msg_t msg;
    CHECK_EQ(gw_msg_parse(bytes_a[2], bytes_a + GW_HEADER_SIZE, n - GW_OVERHEAD, &msg), GW_PARSED);
    gw_msg_format(&msg, text, sizeof text);
    if (strcmp(text, want) != 0) {
        check_failures++;
        printf("#   fields differ:\n#   want %.300s\n#   got  %.300s\n", want, text);
    }
    size_t size = gw_msg_encode(&msg, bytes_b, sizeof bytes_b);
    if (extended) {
        /* Re-encoded without the extra bytes: the same fields, a shorter body. */
        CHECK(size > 0 && size < n);
        CHECK(memcmp(bytes_b + GW_HEADER_SIZE, bytes_a + GW_HEADER_SIZE, size - GW_OVERHEAD) == 0);
    } else {
        CHECK_EQ(size, n);
        CHECK(memcmp(bytes_a, bytes_b, n) == 0);
    }
    counts[msg.type]++;
}

static void check_malformed(char *rest)
{
    char *type = field(rest, "type");
    CHECK(type != NULL);
    if (!type)
        return;
    uint8_t frame_type = (uint8_t)atoi(type);
    char *body = field(type + strlen(type) + 1, "body");
    CHECK(body != NULL);
    if (!body)
        return;
    size_t n = unhex(body, bytes_a);
    gw_msg_t msg;
    if (gw_msg_parse(frame_type, bytes_a, n, &msg) != GW_MALFORMED) {
        check_failures++;
        printf("#   accepted a malformed body: type %u, %zu bytes\n", frame_type, n);
    }
}

static void check_stream(char *rest)
{
    /* Take the counters first: field() cuts the string after each value. */
    static const char *names[] = {"frames",        "header_errors", "oversize",
                                  "crc_errors",    "bytes_skipped", "stale_partials"};
    long want[6];
    for (int i = 0; i < 6; i++) {
        char *v = field(rest, names[i]);
        CHECK(v != NULL);
        want[i] = v ? atol(v) : -1;
        if (v)
            v[strlen(v)] = ' ';
    }
    char *flush_v = field(rest, "flush");
    bool flush = flush_v && flush_v[0] == '1';
    if (flush_v)
        flush_v[strlen(flush_v)] = ' ';
    char *out_v = field(rest, "out");
    size_t out_n = out_v ? unhex(out_v, bytes_b) : 0;
    if (out_v)
        out_v[strlen(out_v)] = ' ';
    char *in_v = field(rest, "in");
    size_t in_n = in_v ? unhex(in_v, bytes_a) : 0;

    const size_t chunks[] = {1, 7, 64, in_n ? in_n : 1};
    for (size_t c = 0; c < 4; c++) {
        frames_t f = {.out = delivered};
        gw_rx_init(&rx);
        for (size_t at = 0; at < in_n; at += chunks[c])
            gw_rx_feed(&rx, bytes_a + at, at + chunks[c] <= in_n ? chunks[c] : in_n - at, on_frame, &f);
        if (flush)
            gw_rx_flush(&rx, on_frame, &f);
        CHECK_EQ(f.len, out_n);
        CHECK(memcmp(delivered, bytes_b, out_n) == 0);
        const uint32_t got[6] = {rx.stats.frames,     rx.stats.header_errors, rx.stats.oversize,
                                 rx.stats.crc_errors, rx.stats.bytes_skipped, rx.stats.stale_partials};
        for (int i = 0; i < 6; i++) {
            if ((long)got[i] != want[i]) {
                check_failures++;
                printf("#   chunks of %zu: %s %u, want %ld\n", chunks[c], names[i], got[i], want[i]);
            }
        }
    }
}

static const char *vector_path;

static void every_vector(void)
{
    FILE *file = fopen(vector_path, "r");
    CHECK(file != NULL);
    if (!file) {
        printf("#   cannot open %s\n", vector_path);
        return;
    }
    int messages = 0, extended = 0, malformed = 0, streams = 0, lineno = 0;
    memset(counts, 0, sizeof counts);
    while (fgets(line, sizeof line, file)) {
        lineno++;
        int before = check_failures;
        if (strncmp(line, "message ", 8) == 0) {
            line[strcspn(line, "\n")] = '\0';
            check_message(line + 8, false);
            messages++;
        } else if (strncmp(line, "extended ", 9) == 0) {
            line[strcspn(line, "\n")] = '\0';
            check_message(line + 9, true);
            extended++;
        } else if (strncmp(line, "malformed ", 10) == 0) {
            check_malformed(line + 10);
            malformed++;
        } else if (strncmp(line, "stream ", 7) == 0) {
            check_stream(line + 7);
            streams++;
        } else if (line[0] != '#' && line[0] != '\n') {
            check_failures++;
        }
        if (check_failures != before)
            printf("#   in %s line %d\n", vector_path, lineno);
    }
    fclose(file);
    printf("#   %d messages, %d extended, %d malformed, %d streams\n", messages, extended,
           malformed, streams);
    CHECK(messages >= 40 && extended >= 5 && malformed >= 20 && streams >= 20);
    for (int type = 1; type < 255; type++)
        if (gw_msg_name((uint8_t)type))
            CHECK(counts[type] > 0);
}

void suite_vectors(const char *path)
{
    vector_path = path;
    RUN("vectors", every_vector);
}
