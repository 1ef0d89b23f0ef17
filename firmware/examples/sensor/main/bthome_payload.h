/* A BTHome v2 payload (https://bthome.io/format/), unencrypted, as the integration
 * decodes it from ESP-NOW: the device-info byte and the objects, in ascending order of
 * their ids. Portable C11: the host tests build it too (firmware/tests). */
#ifndef BTHOME_PAYLOAD_H
#define BTHOME_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BTHOME_MAX_PAYLOAD 16u

typedef struct bthome_reading {
    uint8_t packet_id;     /* new for each reading; repeats of one send keep it */
    bool has_battery;
    uint8_t battery_pct;   /* 0..100 */
    bool has_temperature;
    float temperature_c;   /* sent in steps of 0.01 degC, -327.68..327.67 */
    bool has_humidity;
    float humidity_pct;    /* sent in steps of 0.01 %, 0..100 */
    bool pressed;          /* a button press woke the sender */
} bthome_reading_t;

/* Write the payload (at most BTHOME_MAX_PAYLOAD bytes) to out; return its size. */
size_t bthome_encode(const bthome_reading_t *reading, uint8_t out[BTHOME_MAX_PAYLOAD]);

#endif
