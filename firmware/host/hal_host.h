/* The gateway core's HAL on a POSIX host: the link is a file descriptor (a
 * pseudo-terminal's master, or stdout), the radio is simulated.
 *
 * The simulated radio: frames arrive as records (see radio_record_parse()); a SEND
 * goes out as a record to the "air" UDP address if one is set. ESP-NOW's rules are
 * kept: 20 peers at most (the broadcast peer, registered at boot, included), 7 of
 * them encrypted; a unicast SEND needs a registered peer and is acknowledged if that
 * peer has been heard on the radio; results come back asynchronously, like the send
 * callback; the radio hears only its own channel. The table is listed (GET_PEERS) as
 * it stands, broadcast entry included; SET_PMK replaces the built-in key
 * (HOST_DEFAULT_PMK, ESP-IDF's example key) until the next reboot.
 */
#ifndef HAL_HOST_H
#define HAL_HOST_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "gw.h"

#define HOST_MAX_PEERS 20u
#define HOST_MAX_ENCRYPTED 7u
#define HOST_HEARD 64u
#define HOST_DEFAULT_PMK "pmk1234567890123"
#define HOST_HEAP 262144u /* notional heap the STATS report: a host has no such figure */

/* A radio record, as it arrives on the UDP socket or in a file (little-endian):
 *   src[6] dst[6] rssi(i8) noise_floor(i8) channel(u8, 0 = the gateway's) rate(u8)
 *   payload_len(u16) payload[payload_len]
 * A datagram carries one or more records back to back. */
#define RADIO_RECORD_HEADER 18u

typedef struct radio_record {
    gw_rx_meta_t meta;
    const uint8_t *payload;
    uint16_t len;
} radio_record_t;

/* Parse the record at data; return its size, or 0 if the bytes are not a record. */
size_t radio_record_parse(const uint8_t *data, size_t len, radio_record_t *out);

typedef struct host_peer {
    uint8_t mac[6];
    uint8_t channel; /* as registered: 0 or the channel then */
    bool encrypted;
} host_peer_t;

typedef struct host {
    gw_hal_t hal;
    gw_t *gw;
    int link_fd;                /* where the gateway writes */
    int air_fd;                 /* UDP socket for transmitted frames, -1: none */
    struct sockaddr_in air;     /* where they go */
    uint64_t start_ns;
    uint8_t channel;
    host_peer_t peers[HOST_MAX_PEERS];
    unsigned npeers;
    unsigned fetch_next; /* fetch_peer()'s cursor */
    uint8_t pmk[GW_PMK_LEN];
    uint32_t pmk_sets; /* SET_PMKs carried out since the last reboot */
    uint8_t heard[HOST_HEARD][6];
    unsigned nheard, heard_next;
    uint32_t min_heap;
    /* the send in flight, completed by host_complete_send() */
    bool send_pending;
    bool send_ok;
    uint8_t send_dst[6];
    /* counters of the simulation, printed at exit */
    uint64_t off_channel; /* radio records on another channel: not heard */
    uint64_t bad_records; /* datagrams that were not records */
    uint64_t link_bytes;  /* bytes written to the link */
    bool link_broken;     /* the link fd failed (the reader went away) */
    void (*trace)(struct host *host, const uint8_t *data, size_t len); /* output copy */
} host_t;

/* Set up (and at every reboot): the broadcast peer only, the built-in PMK. With
 * hooks_1_1 false the HAL has no fetch_peer and no set_pmk (a gateway of 1.0's
 * capabilities). */
void host_init(host_t *host, gw_t *gw, int link_fd, uint8_t channel, bool hooks_1_1);

/* A radio record arrived: hand it to the gateway unless it is on another channel. */
void host_radio_record(host_t *host, const radio_record_t *record);

/* Deliver the result of the send in flight, if any (the send callback). */
void host_complete_send(host_t *host);

#endif
