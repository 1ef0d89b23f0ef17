#include "bthome_payload.h"

#define DEVICE_INFO_V2 0x40u  /* version 2 in bits 5-7, not encrypted */
#define TRIGGER_BASED 0x04u   /* sent when something happens, not at a fixed interval */
#define OBJ_PACKET_ID 0x00u
#define OBJ_BATTERY 0x01u
#define OBJ_TEMPERATURE 0x02u /* sint16, 0.01 degC */
#define OBJ_HUMIDITY 0x03u    /* uint16, 0.01 % */
#define OBJ_BUTTON 0x3Au      /* uint8 event */
#define BUTTON_PRESS 0x01u

/* value / step rounded to the nearest integer, clamped to [lo, hi]. */
static long scaled(float value, float step, long lo, long hi)
{
    float x = value / step;
    long v = (long)(x < 0 ? x - 0.5f : x + 0.5f);
    return v < lo ? lo : v > hi ? hi : v;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

size_t bthome_encode(const bthome_reading_t *r, uint8_t out[BTHOME_MAX_PAYLOAD])
{
    uint8_t *p = out;
    *p++ = (uint8_t)(DEVICE_INFO_V2 | (r->pressed ? TRIGGER_BASED : 0u));
    *p++ = OBJ_PACKET_ID;
    *p++ = r->packet_id;
    if (r->has_battery) {
        *p++ = OBJ_BATTERY;
        *p++ = r->battery_pct > 100 ? 100 : r->battery_pct;
    }
    if (r->has_temperature) {
        long t = scaled(r->temperature_c, 0.01f, -32768, 32767);
        *p++ = OBJ_TEMPERATURE;
        p = put16(p, (uint16_t)(t < 0 ? t + 65536 : t));
    }
    if (r->has_humidity) {
        *p++ = OBJ_HUMIDITY;
        p = put16(p, (uint16_t)scaled(r->humidity_pct, 0.01f, 0, 10000));
    }
    if (r->pressed) {
        *p++ = OBJ_BUTTON;
        *p++ = BUTTON_PRESS;
    }
    return (size_t)(p - out);
}
