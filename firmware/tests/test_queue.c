/* The receive queue: order, limits, counters, and one producer racing one consumer. */
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "gw_queue.h"
#include "suites.h"

static gw_queue_t q;

static gw_rx_meta_t meta_of(uint8_t id)
{
    gw_rx_meta_t meta = {.src = {2, 0, 0, 0, 0, id}, .rssi = -50, .channel = 1};
    return meta;
}

static void fifo_order(void)
{
    gw_queue_init(&q);
    CHECK(gw_queue_front(&q) == NULL);
    for (uint8_t i = 0; i < 5; i++) {
        gw_rx_meta_t meta = meta_of(i);
        CHECK(gw_queue_push(&q, &meta, 100u + i, &i, 1));
    }
    for (uint8_t i = 0; i < 5; i++) {
        const gw_rx_item_t *item = gw_queue_front(&q);
        CHECK(item != NULL);
        if (!item)
            return;
        CHECK_EQ(item->meta.src[5], i);
        CHECK_EQ(item->timestamp_us, 100u + i);
        CHECK_EQ(item->len, 1);
        CHECK_EQ(item->payload[0], i);
        gw_queue_pop(&q);
    }
    CHECK(gw_queue_front(&q) == NULL);
    CHECK_EQ(gw_queue_received(&q), 5);
    CHECK_EQ(gw_queue_dropped(&q), 0);
    CHECK_EQ(gw_queue_peak(&q), 5);
}

static void full_queue_drops_and_counts(void)
{
    gw_queue_init(&q);
    gw_rx_meta_t meta = meta_of(1);
    for (unsigned i = 0; i < GW_QUEUE_CAPACITY + 10u; i++)
        gw_queue_push(&q, &meta, 0, NULL, 0);
    CHECK_EQ(gw_queue_fill(&q), GW_QUEUE_CAPACITY);
    CHECK_EQ(gw_queue_received(&q), GW_QUEUE_CAPACITY + 10u);
    CHECK_EQ(gw_queue_dropped(&q), 10);
    CHECK_EQ(gw_queue_peak(&q), GW_QUEUE_CAPACITY);
    gw_queue_pop(&q);
    CHECK(gw_queue_push(&q, &meta, 0, NULL, 0)); /* room again */
    CHECK_EQ(gw_queue_dropped(&q), 10);
}

static void too_long_payload_is_dropped(void)
{
    static uint8_t big[GW_QUEUE_PAYLOAD + 1];
    gw_queue_init(&q);
    gw_rx_meta_t meta = meta_of(1);
    CHECK(gw_queue_push(&q, &meta, 0, big, GW_QUEUE_PAYLOAD));
    CHECK(!gw_queue_push(&q, &meta, 0, big, GW_QUEUE_PAYLOAD + 1));
    CHECK_EQ(gw_queue_dropped(&q), 1);
    CHECK_EQ(gw_queue_fill(&q), 1);
}

static void indices_wrap(void)
{
    /* Far more items than 2^8 slots cycles, so the slot index wraps many times; the
     * 32-bit counters are started near their wrap too. */
    gw_queue_init(&q);
    atomic_store(&q.head, 0xFFFFFFF0u);
    atomic_store(&q.tail, 0xFFFFFFF0u);
    gw_rx_meta_t meta = meta_of(0);
    for (uint32_t i = 0; i < 1000; i++) {
        uint8_t b = (uint8_t)i;
        CHECK(gw_queue_push(&q, &meta, i, &b, 1));
        const gw_rx_item_t *item = gw_queue_front(&q);
        CHECK(item && item->timestamp_us == i && item->payload[0] == b);
        gw_queue_pop(&q);
    }
    CHECK_EQ(gw_queue_fill(&q), 0);
    CHECK_EQ(gw_queue_peak(&q), 1);
}

/* ---- one producer, one consumer ------------------------------------------------ */

#define RACE_ITEMS 200000u

static atomic_int producer_done;

static void fill(uint8_t *payload, uint32_t index, size_t len)
{
    for (size_t i = 0; i < len; i++)
        payload[i] = (uint8_t)(index * 31u + i);
}

static void *producer(void *arg)
{
    (void)arg;
    static uint8_t payload[64];
    for (uint32_t i = 0; i < RACE_ITEMS; i++) {
        size_t len = 4 + i % 60;
        fill(payload, i, len);
        gw_rx_meta_t meta = meta_of((uint8_t)i);
        gw_queue_push(&q, &meta, i, payload, len);
    }
    atomic_store(&producer_done, 1);
    return NULL;
}

static void producer_and_consumer_race(void)
{
    gw_queue_init(&q);
    atomic_store(&producer_done, 0);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, producer, NULL) == 0);
    uint32_t popped = 0, bad = 0;
    int64_t last = -1;
    uint8_t want[64];
    for (;;) {
        const gw_rx_item_t *item = gw_queue_front(&q);
        if (item == NULL) {
            if (atomic_load(&producer_done) && gw_queue_front(&q) == NULL)
                break;
            continue;
        }
        uint32_t index = (uint32_t)item->timestamp_us;
        fill(want, index, item->len);
        if ((int64_t)index <= last || item->len != 4 + index % 60 ||
            item->meta.src[5] != (uint8_t)index || memcmp(item->payload, want, item->len) != 0)
            bad++;
        last = index;
        popped++;
        gw_queue_pop(&q);
    }
    pthread_join(thread, NULL);
    CHECK_EQ(bad, 0);
    CHECK_EQ(popped + gw_queue_dropped(&q), RACE_ITEMS);
    CHECK(gw_queue_peak(&q) <= GW_QUEUE_CAPACITY);
}

void suite_queue(void)
{
    RUN("queue", fifo_order);
    RUN("queue", full_queue_drops_and_counts);
    RUN("queue", too_long_payload_is_dropped);
    RUN("queue", indices_wrap);
    RUN("queue", producer_and_consumer_race);
}
