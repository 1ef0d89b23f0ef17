/* What the gateway core needs from the hardware. firmware/esp-idf implements it
 * over ESP-NOW and the USB/UART drivers, firmware/host over a pseudo-terminal and a
 * UDP socket. Every function is called from the gateway task only (the one that calls
 * gw_service()), except now_us(), which the receive path calls too.
 *
 * Results are enum gw_status values: GW_OK, or the status the host should see.
 *
 * The hooks of protocol 1.1 (fetch_peer, set_pmk) are optional: a HAL that leaves one
 * NULL gets a gateway whose HELLO leaves out its capability bit (PEER_LIST, SET_PMK)
 * and which answers the command NOT_SUPPORTED, as for any command it cannot carry out.
 */
#ifndef GW_HAL_H
#define GW_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_msg.h"

typedef struct gw_hal {
    void *ctx; /* passed to every function */

    /* Write bytes to the host; return how many were taken (0..len). Must not block
     * for long: with native USB nothing drains the output while no host listens.
     * What is not taken is offered again later. */
    size_t (*host_write)(void *ctx, const uint8_t *data, size_t len);

    /* Start sending an ESP-NOW frame. GW_OK means started: the result follows with
     * gw_radio_sent(). Any other status is the final answer (no gw_radio_sent()). */
    uint8_t (*radio_send)(void *ctx, const uint8_t dst[6], const uint8_t *payload, uint16_t len);

    /* Move the radio to channel 1..14 (the core checks the range). */
    uint8_t (*set_channel)(void *ctx, uint8_t channel);

    /* Register a peer, or update it if it is registered. channel 0: the current one.
     * lmk: 16-byte local master key, or NULL for an unencrypted peer. */
    uint8_t (*add_peer)(void *ctx, const uint8_t mac[6], uint8_t channel, const uint8_t *lmk);

    /* Unregister a peer: GW_OK, or GW_UNKNOWN_PEER if it is not registered. */
    uint8_t (*remove_peer)(void *ctx, const uint8_t mac[6]);

    /* Microseconds since boot, monotonic. */
    uint64_t (*now_us)(void *ctx);

    /* Free heap now and the lowest since boot, bytes. */
    uint32_t (*free_heap)(void *ctx);
    uint32_t (*min_free_heap)(void *ctx);

    /* 1.1, optional (GET_PEERS). Walk the radio's peer table, every entry (the
     * broadcast one included): first = true gives the first entry, first = false the
     * one after the entry given last; false once there is none left. The core walks
     * the table in one go while it answers one GET_PEERS (nothing changes the table
     * meanwhile), and calls it at most GW_PEER_LIST_MAX + 1 times. out->flags:
     * GW_PEER_FLAG_ENCRYPT for an encrypted peer; out->channel as registered. */
    bool (*fetch_peer)(void *ctx, bool first, gw_peer_t *out);

    /* 1.1, optional (SET_PMK). Set the primary master key, GW_PMK_LEN bytes, for the
     * peers registered from now on; kept until the gateway restarts. */
    uint8_t (*set_pmk)(void *ctx, const uint8_t pmk[GW_PMK_LEN]);
} gw_hal_t;

#endif
