/* The reference ESP-NOW gateway for Home Assistant (docs/protocol.md, version 1.1).
 *
 * Everything the protocol says is in firmware/core, shared with the host gateway that
 * the integration's tests run against; this folder is the glue: ESP-NOW (radio.c), the
 * USB or UART driver (link_*.c), log lines as LOG frames, the LED, and one task.
 *
 *   Wi-Fi task:   ESP-NOW receive callback -> gw_radio_received() (copies, never blocks)
 *   driver task:  bytes from the host -> stream buffer
 *   gateway task: commands, answers, PACKETs, STATS -> link_write()
 */
#include <stdio.h>

#include "esp_app_desc.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/stream_buffer.h"
#include "freertos/task.h"
#include "nvs.h"
#include "nvs_flash.h"
#include "sdkconfig.h"

#include "gw.h"
#include "led.h"
#include "link.h"
#include "log_forward.h"
#include "radio.h"

static gw_t s_gw; /* the receive queue and buffers: about 60 KB, not on a stack */
static TaskHandle_t volatile s_task; /* NULL until the gateway task runs */
static StreamBufferHandle_t s_from_host;
static volatile uint32_t s_input_overflow;
static char s_firmware[64];

void link_received(const uint8_t *data, size_t len)
{
    if (xStreamBufferSend(s_from_host, data, len, 0) != len)
        s_input_overflow++; /* the decoder resynchronises; the host's request times out */
    TaskHandle_t task = s_task;
    if (task)
        xTaskNotifyGive(task); /* before, bytes wait for the task's first round */
}

/* ---- the rest of the HAL --------------------------------------------------------- */

static size_t host_write(void *ctx, const uint8_t *data, size_t len)
{
    (void)ctx;
    return link_write(data, len);
}

static uint8_t load_channel(void)
{
    nvs_handle_t nvs;
    uint8_t channel = CONFIG_GW_CHANNEL;
    if (nvs_open("espnow_gw", NVS_READONLY, &nvs) == ESP_OK) {
        nvs_get_u8(nvs, "channel", &channel);
        nvs_close(nvs);
    }
    return channel;
}

/* SET_CHANNEL, kept across reboots. */
static uint8_t set_channel(void *ctx, uint8_t channel)
{
    uint8_t status = radio_set_channel(ctx, channel);
    nvs_handle_t nvs;
    if (status == GW_OK && nvs_open("espnow_gw", NVS_READWRITE, &nvs) == ESP_OK) {
        nvs_set_u8(nvs, "channel", channel);
        nvs_commit(nvs);
        nvs_close(nvs);
    }
    return status;
}

static uint64_t now_us(void *ctx)
{
    (void)ctx;
    return (uint64_t)esp_timer_get_time();
}

static uint32_t free_heap(void *ctx)
{
    (void)ctx;
    return esp_get_free_heap_size();
}

static uint32_t min_free_heap(void *ctx)
{
    (void)ctx;
    return esp_get_minimum_free_heap_size();
}

static const gw_hal_t s_hal = {
    .ctx = NULL,
    .host_write = host_write,
    .radio_send = radio_send,
    .set_channel = set_channel,
    .add_peer = radio_add_peer,
    .remove_peer = radio_remove_peer,
    .now_us = now_us,
    .free_heap = free_heap,
    .min_free_heap = min_free_heap,
    .fetch_peer = radio_fetch_peer,
    .set_pmk = radio_set_pmk,
};

/* ---- the gateway task ------------------------------------------------------------- */

static void gateway_task(void *arg)
{
    (void)arg;
    static uint8_t buf[512];
    uint32_t wait_ms = 0;
    uint32_t reported_overflow = 0;
    for (;;) {
        ulTaskNotifyTake(pdTRUE, pdMS_TO_TICKS(wait_ms));
        size_t n;
        while ((n = xStreamBufferReceive(s_from_host, buf, sizeof buf, 0)) > 0)
            gw_host_input(&s_gw, buf, n);
        log_forward_drain(&s_gw);
        if (s_input_overflow != reported_overflow) {
            static const char text[] = "input from the host overflowed its buffer";
            if (gw_log(&s_gw, GW_LOG_WARNING, text, sizeof text - 1))
                reported_overflow = s_input_overflow;
        }
        wait_ms = gw_service(&s_gw);
        if (gw_output_pending(&s_gw) && wait_ms > 2)
            wait_ms = 2; /* the link was busy: try again soon */
        led_update(&s_gw);
        if (CONFIG_GW_LED_GPIO >= 0 && wait_ms > 50)
            wait_ms = 50; /* let the LED blink */
    }
}

void app_main(void)
{
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);
    led_init();

    gw_config_t config = {
        .firmware = s_firmware,
        .stats_interval_ms = CONFIG_GW_STATS_INTERVAL_MS,
    };
    radio_init(load_channel(), &config);
    const esp_app_desc_t *app = esp_app_get_description();
    snprintf(s_firmware, sizeof s_firmware, "espnow-gw %s (%s)", app->version, CONFIG_IDF_TARGET);

    s_from_host = xStreamBufferCreate(2048, 1);
    gw_init(&s_gw, &s_hal, &config);
    link_init(config.mac);
    gw_boot(&s_gw); /* HELLO at once: the host's handshake may be waiting for it */
    /* From here on only the gateway task touches s_gw (and the radio's callbacks, through
     * the queue and the send hand-over). */
    TaskHandle_t task;
    xTaskCreate(gateway_task, "gateway", 4096, NULL, 5, &task);
    s_task = task;
    log_forward_start(task);
    radio_start(&s_gw, task);
    xTaskNotifyGive(task);
}
