/* A gw_hal_t for the unit tests: the host link is a byte buffer that the test reads
 * back with the core's own decoder, the radio records what it is asked to do, and the
 * clock moves only when the test says so. */
#ifndef FAKE_HAL_H
#define FAKE_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw.h"

#define FAKE_OUT_SIZE (1u << 20)
#define FAKE_MAX_MSGS 4096u
#define FAKE_MAX_PEERS 64u

typedef struct fake {
    gw_hal_t hal;
    uint64_t now;
    /* host link */
    uint8_t out[FAKE_OUT_SIZE];
    size_t out_len;
    size_t write_limit; /* bytes host_write() takes per call; 0: none (link stalled) */
    size_t read_pos;    /* how far fake_read() has decoded */
    gw_rx_t rx;
    /* radio */
    uint8_t send_status;    /* what radio_send() returns */
    uint8_t channel_status; /* what set_channel() returns */
    uint8_t peer_status;    /* what add_peer()/remove_peer() return */
    int sends, channels, adds, removes;
    uint8_t last_dst[6];
    uint16_t last_len;
    uint8_t last_channel;
    bool last_encrypted;
    uint8_t last_lmk[16];
    uint32_t heap;
    /* 1.1: the table fetch_peer() walks (the test fills it), and SET_PMK */
    gw_peer_t peers[FAKE_MAX_PEERS];
    size_t npeers;
    size_t fetch_next;
    int fetches; /* fetch_peer() calls */
    uint8_t pmk_status; /* what set_pmk() returns */
    int pmks;
    uint8_t pmk[GW_PMK_LEN];
} fake_t;

/* Every hook, those of protocol 1.1 included. */
void fake_init(fake_t *f);

/* Without fetch_peer and set_pmk: a HAL written for protocol 1.0. */
void fake_init_1_0(fake_t *f);

/* Decoded messages written since the last call; tails point into bodies. */
typedef struct fake_msgs {
    gw_msg_t msg[FAKE_MAX_MSGS];
    size_t n;
    uint8_t bodies[FAKE_OUT_SIZE]; /* copies of the bodies the messages point into */
    size_t used;
    uint32_t bad; /* frames that did not parse as gateway -> host messages */
} fake_msgs_t;

void fake_read(fake_t *f, fake_msgs_t *msgs);

/* The first message of a type in msgs, or NULL. */
const gw_msg_t *fake_find(const fake_msgs_t *msgs, uint8_t type);
size_t fake_count(const fake_msgs_t *msgs, uint8_t type);

/* Encode a command and feed it to the gateway. */
void fake_command(gw_t *gw, const gw_msg_t *msg);

gw_config_t fake_config(void);

#endif
