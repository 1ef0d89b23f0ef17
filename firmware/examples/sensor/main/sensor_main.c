/* Example ESP-NOW sender for the gateway: wake, measure, send one BTHome v2 payload
 * (temperature, humidity, battery, and a press if the button woke it), deep sleep.
 *
 * The integration adds it by itself when it hears it (BTHome is recognised); nothing
 * to pair. The channel must be the gateway's (menuconfig), the MAC is the chip's.
 */
#include <stdio.h>
#include <string.h>

#include "driver/gpio.h"
#include "esp_attr.h"
#include "esp_event.h"
#include "esp_idf_version.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_now.h"
#include "esp_sleep.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "measure.h"
#include "nvs_flash.h"
#include "sdkconfig.h"
#include "soc/soc_caps.h"
#if SOC_PM_SUPPORT_EXT0_WAKEUP
#include "driver/rtc_io.h"
#endif

static const char *TAG = "sensor";
static RTC_DATA_ATTR uint8_t s_packet_id; /* kept in deep sleep: a new id per reading */
static SemaphoreHandle_t s_sent;

#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 5, 0)
static void on_sent(const esp_now_send_info_t *info, esp_now_send_status_t status)
{
    (void)info;
    (void)status;
    xSemaphoreGive(s_sent);
}
#else
static void on_sent(const uint8_t *mac, esp_now_send_status_t status)
{
    (void)mac;
    (void)status;
    xSemaphoreGive(s_sent);
}
#endif

static void gateway_mac(uint8_t mac[6])
{
    unsigned v[6];
    memset(mac, 0xFF, 6); /* broadcast */
    if (sscanf(CONFIG_SENSOR_GATEWAY_MAC, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5]) == 6)
        for (int i = 0; i < 6; i++)
            mac[i] = (uint8_t)v[i];
}

static void radio_start(const uint8_t peer_mac[6])
{
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&init));
    ESP_ERROR_CHECK(esp_wifi_set_storage(WIFI_STORAGE_RAM));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_start());
    ESP_ERROR_CHECK(esp_wifi_set_channel(CONFIG_SENSOR_CHANNEL, WIFI_SECOND_CHAN_NONE));
    ESP_ERROR_CHECK(esp_now_init());
    ESP_ERROR_CHECK(esp_now_register_send_cb(on_sent));
    esp_now_peer_info_t peer = {.channel = 0, .ifidx = WIFI_IF_STA, .encrypt = false};
    memcpy(peer.peer_addr, peer_mac, 6);
    ESP_ERROR_CHECK(esp_now_add_peer(&peer));
}

static void sleep_until_next(void)
{
    esp_sleep_enable_timer_wakeup((uint64_t)CONFIG_SENSOR_INTERVAL_S * 1000000u);
    /* The button pulls the pin to ground; the internal pull-up keeps it high in deep
     * sleep (add an external one, 100 kOhm, if the wiring is long). */
#if CONFIG_SENSOR_BUTTON_GPIO >= 0
#if SOC_PM_SUPPORT_EXT0_WAKEUP /* ESP32, S2, S3: an RTC GPIO */
    rtc_gpio_pullup_en(CONFIG_SENSOR_BUTTON_GPIO);
    rtc_gpio_pulldown_dis(CONFIG_SENSOR_BUTTON_GPIO);
    esp_sleep_enable_ext0_wakeup(CONFIG_SENSOR_BUTTON_GPIO, 0);
#else /* C3, C6: a GPIO that can wake the chip from deep sleep */
    gpio_pullup_en(CONFIG_SENSOR_BUTTON_GPIO);
    esp_deep_sleep_enable_gpio_wakeup(1ULL << CONFIG_SENSOR_BUTTON_GPIO, ESP_GPIO_WAKEUP_GPIO_LOW);
#endif
#endif
    esp_deep_sleep_start();
}

void app_main(void)
{
    esp_sleep_wakeup_cause_t cause = esp_sleep_get_wakeup_cause();
    bthome_reading_t reading = {
        .packet_id = ++s_packet_id,
        .pressed = cause == ESP_SLEEP_WAKEUP_EXT0 || cause == ESP_SLEEP_WAKEUP_GPIO,
    };
    measure(&reading);
    uint8_t payload[BTHOME_MAX_PAYLOAD];
    size_t len = bthome_encode(&reading, payload);

    esp_err_t err = nvs_flash_init(); /* Wi-Fi's calibration data */
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        nvs_flash_erase();
        nvs_flash_init();
    }
    s_sent = xSemaphoreCreateBinary();
    uint8_t gateway[6];
    gateway_mac(gateway);
    radio_start(gateway);
    for (int i = 0; i < CONFIG_SENSOR_REPEATS; i++) {
        if (esp_now_send(gateway, payload, len) == ESP_OK)
            xSemaphoreTake(s_sent, pdMS_TO_TICKS(50)); /* the radio is done with it */
        else
            ESP_LOGW(TAG, "send failed");
    }
    esp_now_deinit();
    esp_wifi_stop();
    sleep_until_next();
}
