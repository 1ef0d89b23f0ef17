/* What the sensor measures. Each part is optional (menuconfig): absent hardware
 * leaves the reading out of the payload rather than sending made-up values. */
#pragma once

#include "bthome_payload.h"

/* Fill in temperature and humidity (SHT4x over I2C) and battery (ADC). */
void measure(bthome_reading_t *reading);
