/* The bounded receive queue between the radio and the link (docs/protocol.md 5.7).
 *
 * Single producer (the ESP-NOW receive callback, which runs in the Wi-Fi task),
 * single consumer (the gateway task that writes PACKET frames). Fixed memory: the
 * slots live in the struct. The producer never waits: when every slot is taken the
 * frame is dropped and counted. Only loads and stores of 32-bit atomics are used, no
 * read-modify-write, so it needs no lock and no atomic instructions (ESP32-C3's
 * RV32IMC has none).
 */
#ifndef GW_QUEUE_H
#define GW_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gw_msg.h"

#ifndef GW_QUEUE_CAPACITY
#define GW_QUEUE_CAPACITY 32u
#endif
#ifndef GW_QUEUE_PAYLOAD
#define GW_QUEUE_PAYLOAD GW_MAX_PAYLOAD
#endif

_Static_assert((GW_QUEUE_CAPACITY & (GW_QUEUE_CAPACITY - 1u)) == 0u && GW_QUEUE_CAPACITY >= 2u,
               "GW_QUEUE_CAPACITY must be a power of two");
_Static_assert(GW_QUEUE_CAPACITY <= 0xFFFFu, "queue_capacity is a u16 in STATS");
_Static_assert(GW_QUEUE_PAYLOAD <= GW_MAX_PAYLOAD, "a slot holds at most one ESP-NOW payload");

/* Reception metadata from the radio, as it goes into a PACKET. */
typedef struct gw_rx_meta {
    uint8_t src[GW_MAC_LEN];
    uint8_t dst[GW_MAC_LEN];
    int8_t rssi;
    int8_t noise_floor; /* 0 when the radio does not report it */
    uint8_t channel;
    uint8_t rate;
} gw_rx_meta_t;

typedef struct gw_rx_item {
    gw_rx_meta_t meta;
    uint64_t timestamp_us; /* reception time */
    uint16_t len;
    uint8_t payload[GW_QUEUE_PAYLOAD];
} gw_rx_item_t;

typedef struct gw_queue {
    gw_rx_item_t slots[GW_QUEUE_CAPACITY];
    atomic_uint_least32_t head; /* items pushed; written by the producer only */
    atomic_uint_least32_t tail; /* items popped; written by the consumer only */
    /* Written by the producer only, read by anyone. */
    atomic_uint_least32_t received; /* frames offered, including dropped ones */
    atomic_uint_least32_t dropped;  /* frames refused: queue full or payload too long */
    atomic_uint_least32_t peak;     /* highest fill level ever */
} gw_queue_t;

void gw_queue_init(gw_queue_t *q);

/* Producer: copy one frame in; false if it was dropped. Never blocks. */
bool gw_queue_push(gw_queue_t *q, const gw_rx_meta_t *meta, uint64_t timestamp_us,
                   const uint8_t *payload, size_t len);

/* Consumer: the oldest item, or NULL if empty; it stays valid until gw_queue_pop(). */
const gw_rx_item_t *gw_queue_front(gw_queue_t *q);
void gw_queue_pop(gw_queue_t *q);

uint32_t gw_queue_received(gw_queue_t *q);
uint32_t gw_queue_dropped(gw_queue_t *q);
uint32_t gw_queue_peak(gw_queue_t *q);
uint32_t gw_queue_fill(gw_queue_t *q);

#endif
