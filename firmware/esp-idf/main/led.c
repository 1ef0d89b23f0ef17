#include "led.h"

#include <stdbool.h>

#include "driver/gpio.h"
#include "esp_timer.h"
#include "sdkconfig.h"

#define HOST_SILENT_US 15000000u /* the host PINGs every 5 s: silent for 15 s = gone */
#ifdef CONFIG_GW_LED_ACTIVE_LOW
#define LED_ON 0
#else
#define LED_ON 1
#endif

void led_init(void)
{
#if CONFIG_GW_LED_GPIO >= 0
    gpio_reset_pin(CONFIG_GW_LED_GPIO);
    gpio_set_direction(CONFIG_GW_LED_GPIO, GPIO_MODE_OUTPUT);
#endif
}

void led_update(gw_t *gw)
{
#if CONFIG_GW_LED_GPIO >= 0
    static uint32_t last_forwarded, last_dropped;
    static int64_t flicker_until, overflow_until;
    int64_t now = esp_timer_get_time();
    uint32_t dropped = gw_queue_dropped(&gw->queue);
    if (dropped != last_dropped)
        overflow_until = now + 1000000;
    if (gw->seq != last_forwarded)
        flicker_until = now + 30000;
    last_dropped = dropped;
    last_forwarded = gw->seq;
    bool on;
    if (now < overflow_until)
        on = (now / 100000) % 2; /* 5 Hz: the receive queue overflows */
    else if ((uint64_t)now - gw->last_host_byte_us > HOST_SILENT_US || gw->last_host_byte_us == gw->boot_us)
        on = (now / 500000) % 2; /* 1 Hz: no host */
    else
        on = now >= flicker_until; /* on, off for 30 ms per frame forwarded */
    gpio_set_level(CONFIG_GW_LED_GPIO, on ? LED_ON : !LED_ON);
#else
    (void)gw;
#endif
}
