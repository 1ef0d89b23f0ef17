/* The status LED (menuconfig "Status LED GPIO"): see firmware/README.md, "LED". */
#pragma once

#include "gw.h"

void led_init(void);

/* Gateway task, at every wake-up: set the LED from the gateway's state. */
void led_update(gw_t *gw);
