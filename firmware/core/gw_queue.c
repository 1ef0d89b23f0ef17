#include "gw_queue.h"

#include <string.h>

#define MASK (GW_QUEUE_CAPACITY - 1u)

static uint32_t load(atomic_uint_least32_t *v, memory_order order)
{
    return (uint32_t)atomic_load_explicit(v, order);
}

/* A counter written by one side only: a load and a store, no atomic add. */
static void bump(atomic_uint_least32_t *v)
{
    atomic_store_explicit(v, (uint_least32_t)(load(v, memory_order_relaxed) + 1u),
                          memory_order_relaxed);
}

void gw_queue_init(gw_queue_t *q)
{
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    atomic_init(&q->received, 0);
    atomic_init(&q->dropped, 0);
    atomic_init(&q->peak, 0);
}

bool gw_queue_push(gw_queue_t *q, const gw_rx_meta_t *meta, uint64_t timestamp_us,
                   const uint8_t *payload, size_t len)
{
    bump(&q->received);
    uint32_t head = load(&q->head, memory_order_relaxed);
    uint32_t tail = load(&q->tail, memory_order_acquire); /* the slot was read */
    if (head - tail >= GW_QUEUE_CAPACITY || len > GW_QUEUE_PAYLOAD) {
        bump(&q->dropped);
        return false;
    }
    gw_rx_item_t *slot = &q->slots[head & MASK];
    slot->meta = *meta;
    slot->timestamp_us = timestamp_us;
    slot->len = (uint16_t)len;
    if (len > 0)
        memcpy(slot->payload, payload, len);
    atomic_store_explicit(&q->head, (uint_least32_t)(head + 1u), memory_order_release);
    uint32_t fill = head + 1u - tail;
    if (fill > load(&q->peak, memory_order_relaxed))
        atomic_store_explicit(&q->peak, (uint_least32_t)fill, memory_order_relaxed);
    return true;
}

const gw_rx_item_t *gw_queue_front(gw_queue_t *q)
{
    uint32_t tail = load(&q->tail, memory_order_relaxed);
    uint32_t head = load(&q->head, memory_order_acquire); /* the slot was written */
    return head == tail ? NULL : &q->slots[tail & MASK];
}

void gw_queue_pop(gw_queue_t *q)
{
    uint32_t tail = load(&q->tail, memory_order_relaxed);
    atomic_store_explicit(&q->tail, (uint_least32_t)(tail + 1u), memory_order_release);
}

uint32_t gw_queue_received(gw_queue_t *q)
{
    return load(&q->received, memory_order_relaxed);
}

uint32_t gw_queue_dropped(gw_queue_t *q)
{
    return load(&q->dropped, memory_order_relaxed);
}

uint32_t gw_queue_peak(gw_queue_t *q)
{
    return load(&q->peak, memory_order_relaxed);
}

uint32_t gw_queue_fill(gw_queue_t *q)
{
    uint32_t tail = load(&q->tail, memory_order_acquire);
    return load(&q->head, memory_order_acquire) - tail;
}
