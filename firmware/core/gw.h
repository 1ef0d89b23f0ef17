/* The gateway: protocol 1.1 (docs/protocol.md) on top of a gw_hal_t.
 *
 * Threads: one gateway task owns the gw_t and calls gw_boot(), gw_host_input(),
 * gw_service() and gw_log(). The radio's callbacks may run in another task (ESP-IDF's
 * Wi-Fi task) and call only gw_radio_received() (one producer) and gw_radio_sent();
 * they never block and never touch the link. After either, wake the gateway task so
 * that it calls gw_service().
 *
 * Memory: all of it is in gw_t (about GW_QUEUE_CAPACITY x 1.5 KB + 12 KB with the
 * defaults); no allocation.
 */
#ifndef GW_H
#define GW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gw_frame.h"
#include "gw_msg.h"
#include "gw_queue.h"
#include "hal.h"

#ifndef GW_OUT_SIZE
#define GW_OUT_SIZE 4096u /* bytes encoded and not yet taken by host_write() */
#endif
#ifndef GW_SEND_QUEUE
#define GW_SEND_QUEUE 4u /* SENDs held (the first one in flight); BUSY beyond */
#endif
#ifndef GW_PEER_LIST_MAX
#define GW_PEER_LIST_MAX 20u /* PEER_LIST records at most: ESP_NOW_MAX_TOTAL_PEER_NUM */
#endif
#define GW_SEND_TIMEOUT_US 1000000u   /* no send callback: answer ERROR */
#define GW_PARTIAL_TIMEOUT_US 250000u /* silence that gives up a partial command */
#define GW_ANSWER_DEADLINE_US 5000000u

/* Room kept in the output for answers while PACKETs fill it: the largest HELLO. */
#define GW_OUT_RESERVE (GW_OVERHEAD + 16u + GW_TEXT_MAX)

_Static_assert(GW_OUT_SIZE >= GW_OVERHEAD + 30u + GW_QUEUE_PAYLOAD + GW_OUT_RESERVE,
               "the output must hold a full PACKET and an answer");
_Static_assert(GW_PEER_LIST_MAX >= 1u && GW_PEER_LIST_MAX <= GW_PEER_LIST_RECORDS_MAX &&
                   GW_OVERHEAD + GW_PEER_LIST_FIXED + GW_PEER_RECORD_SIZE * GW_PEER_LIST_MAX <=
                       GW_OUT_RESERVE,
               "a full PEER_LIST must fit in one body and in the room kept for answers");
_Static_assert((uint64_t)GW_SEND_QUEUE * GW_SEND_TIMEOUT_US < GW_ANSWER_DEADLINE_US,
               "every SEND must be answered within 5 s");

typedef struct gw_config {
    uint8_t mac[GW_MAC_LEN];    /* the station MAC: source of the gateway's frames */
    uint8_t channel;            /* at boot */
    uint16_t max_payload;       /* 250, or up to GW_QUEUE_PAYLOAD with ESP-NOW v2 */
    uint32_t capabilities;      /* enum gw_capability bits really implemented; PEER_LIST
                                   and SET_PMK are dropped unless the HAL has the hook */
    uint8_t max_peers;          /* PEER_LIST: the radio's table, every entry (20) */
    uint8_t max_encrypted;      /* PEER_LIST: of which encrypted at most (7) */
    const char *firmware;       /* name and version, NUL-terminated, for HELLO */
    uint32_t stats_interval_ms; /* STATS period (needs GW_CAP_STATS); 0: never */
} gw_config_t;

typedef struct gw_pending_send {
    uint16_t request_id;
    uint8_t dst[GW_MAC_LEN];
    uint16_t len;
    uint8_t payload[GW_QUEUE_PAYLOAD];
} gw_pending_send_t;

typedef struct gw {
    const gw_hal_t *hal;
    gw_config_t cfg;
    uint8_t channel;
    uint64_t boot_us;
    uint64_t last_host_byte_us;
    uint64_t next_stats_us;

    gw_rx_t rx; /* commands from the host */
    gw_queue_t queue;
    uint32_t seq; /* of the next PACKET */

    uint32_t tx_packets;
    uint32_t tx_failed;
    uint32_t host_frames_bad;
    uint32_t answers_lost;    /* answers that found the output full (host not reading) */
    uint32_t reported_drops;  /* rx_dropped already reported in a LOG */
    uint32_t reported_losses; /* answers_lost already reported */
    uint32_t reported_strays; /* stray_callbacks already reported */

    uint8_t out[GW_OUT_SIZE];
    size_t out_head; /* first byte not yet written */
    size_t out_tail; /* end of the encoded bytes */

    gw_pending_send_t sends[GW_SEND_QUEUE];
    uint8_t send_first;
    uint8_t send_count;
    bool sending;
    uint64_t send_started_us;
    /* Hand-over with gw_radio_sent() (another task): the generation of the send in
     * flight, its destination, and the generation and outcome of the last callback. */
    uint8_t send_dst[GW_MAC_LEN];
    atomic_uint_least32_t send_gen;
    atomic_uint_least32_t done_gen;
    atomic_uint_least32_t done_ok;
    atomic_uint_least32_t stray_callbacks;

    uint8_t peer_records[GW_PEER_LIST_MAX * GW_PEER_RECORD_SIZE]; /* a PEER_LIST's */
} gw_t;

/* Set up; nothing is written yet. hal and cfg->firmware must outlive gw. The
 * capabilities the gateway announces are cfg->capabilities without those whose HAL
 * hook is NULL (gw->cfg.capabilities). */
void gw_init(gw_t *gw, const gw_hal_t *hal, const gw_config_t *cfg);

/* Start (or restart): sequence from 0, counters from 0, HELLO. Call it before the
 * radio delivers frames (it resets the queue). */
void gw_boot(gw_t *gw);

/* Bytes from the host. */
void gw_host_input(gw_t *gw, const uint8_t *data, size_t len);

/* Do what is due: send results and timeouts, STATS, a stale partial command, PACKETs
 * from the queue, output to host_write(). Returns the milliseconds until it next has
 * something to do by itself (at most 1000): the gateway task may sleep that long
 * unless woken by input, a radio callback, or the link becoming writable. */
uint32_t gw_service(gw_t *gw);

/* The radio received a frame (producer side; never blocks). False if it was dropped. */
bool gw_radio_received(gw_t *gw, const gw_rx_meta_t *meta, const uint8_t *payload, size_t len);

/* The radio finished the send in flight (from the send callback). dst: the
 * destination the callback reports, or NULL if it does not say. */
void gw_radio_sent(gw_t *gw, const uint8_t *dst, bool ok);

/* Send a LOG line (cut to 255 bytes at a UTF-8 character boundary). Gateway task
 * only. False if the output is full. */
bool gw_log(gw_t *gw, uint8_t level, const char *text, size_t len);

/* Whether encoded bytes or queued frames wait for the link. */
bool gw_output_pending(gw_t *gw);

/* The figures a STATS frame would carry now. */
void gw_get_stats(gw_t *gw, gw_stats_t *out);

#endif
