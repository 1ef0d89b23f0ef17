/* ESP-NOW for the gateway core. The callbacks run in the Wi-Fi task: they only copy
 * into the core's queue (gw_radio_received never blocks) or record a send result, and
 * wake the gateway task; the link is written by that task alone. */
#include "radio.h"

#include <string.h>

#include "esp_event.h"
#include "esp_idf_version.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_now.h"
#include "esp_wifi.h"
#include "sdkconfig.h"

static gw_t *s_gw;
static TaskHandle_t s_task;
static const uint8_t BROADCAST[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

static void on_recv(const esp_now_recv_info_t *info, const uint8_t *data, int len)
{
    /* wifi_pkt_rx_ctrl_t differs between chips: on Wi-Fi 6 ones (C5, C6, C61) it is
     * esp_wifi_rxctrl_t, with other fields around these four, and `rate` is the
     * L-SIG rate unless the frame is 802.11b. The names used here exist on all. */
    const wifi_pkt_rx_ctrl_t *rx = info->rx_ctrl;
    gw_rx_meta_t meta = {
        .rssi = (int8_t)rx->rssi,
        .noise_floor = (int8_t)rx->noise_floor,
        .channel = (uint8_t)rx->channel,
        .rate = (uint8_t)rx->rate,
    };
    memcpy(meta.src, info->src_addr, 6);
    memcpy(meta.dst, info->des_addr, 6);
    if (len >= 0)
        gw_radio_received(s_gw, &meta, data, (size_t)len);
    xTaskNotifyGive(s_task);
}

/* ESP-IDF 5.5 passes the whole wifi_tx_info_t instead of the destination MAC. */
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 5, 0)
static void on_sent(const esp_now_send_info_t *info, esp_now_send_status_t status)
{
    gw_radio_sent(s_gw, info ? info->des_addr : NULL, status == ESP_NOW_SEND_SUCCESS);
    xTaskNotifyGive(s_task);
}
#else
static void on_sent(const uint8_t *mac, esp_now_send_status_t status)
{
    gw_radio_sent(s_gw, mac, status == ESP_NOW_SEND_SUCCESS);
    xTaskNotifyGive(s_task);
}
#endif

void radio_init(uint8_t channel, gw_config_t *config)
{
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&init));
    ESP_ERROR_CHECK(esp_wifi_set_storage(WIFI_STORAGE_RAM));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
#if CONFIG_SOC_WIFI_SUPPORT_5G
    ESP_ERROR_CHECK(esp_wifi_set_band_mode(WIFI_BAND_MODE_2G_ONLY)); /* ESP32-C5 */
#endif
    ESP_ERROR_CHECK(esp_wifi_start());
    ESP_ERROR_CHECK(esp_wifi_set_ps(WIFI_PS_NONE)); /* modem sleep would miss frames */
    if (esp_wifi_set_channel(channel, WIFI_SECOND_CHAN_NONE) != ESP_OK)
        channel = CONFIG_GW_CHANNEL;
    ESP_ERROR_CHECK(esp_wifi_set_channel(channel, WIFI_SECOND_CHAN_NONE));

    ESP_ERROR_CHECK(esp_now_init());
    ESP_ERROR_CHECK(esp_now_set_pmk((const uint8_t *)CONFIG_GW_PMK));
    esp_now_peer_info_t peer = {.channel = 0, .ifidx = WIFI_IF_STA, .encrypt = false};
    memcpy(peer.peer_addr, BROADCAST, 6);
    ESP_ERROR_CHECK(esp_now_add_peer(&peer)); /* so the host can broadcast at once */

    uint32_t version = 1;
    esp_now_get_version(&version);
    ESP_ERROR_CHECK(esp_read_mac(config->mac, ESP_MAC_WIFI_STA));
    config->channel = channel;
    config->max_payload = version >= 2 ? CONFIG_GW_MAX_PAYLOAD : ESP_NOW_MAX_DATA_LEN;
    config->capabilities = GW_CAP_SEND | GW_CAP_PEERS | GW_CAP_SET_CHANNEL | GW_CAP_ENCRYPTION |
                           GW_CAP_NOISE_FLOOR | GW_CAP_STATS |
                           (config->max_payload > ESP_NOW_MAX_DATA_LEN ? GW_CAP_ESPNOW_V2 : 0);
}

void radio_start(gw_t *gw, TaskHandle_t task)
{
    s_gw = gw;
    s_task = task;
    ESP_ERROR_CHECK(esp_now_register_send_cb(on_sent));
    ESP_ERROR_CHECK(esp_now_register_recv_cb(on_recv));
}

/* docs/protocol.md 3.11: the suggested mapping of ESP-IDF results to status codes. */
static uint8_t status_of(esp_err_t err)
{
    switch (err) {
    case ESP_OK:
        return GW_OK;
    case ESP_ERR_ESPNOW_NOT_FOUND:
        return GW_UNKNOWN_PEER;
    case ESP_ERR_ESPNOW_ARG:
    case ESP_ERR_INVALID_ARG:
        return GW_INVALID_ARGUMENT;
    case ESP_ERR_ESPNOW_NO_MEM:
        return GW_BUSY;
    case ESP_ERR_ESPNOW_FULL:
        return GW_PEER_TABLE_FULL;
    default:
        return GW_ERROR;
    }
}

uint8_t radio_send(void *ctx, const uint8_t dst[6], const uint8_t *payload, uint16_t len)
{
    (void)ctx;
    return status_of(esp_now_send(dst, payload, len));
}

uint8_t radio_set_channel(void *ctx, uint8_t channel)
{
    (void)ctx;
    return status_of(esp_wifi_set_channel(channel, WIFI_SECOND_CHAN_NONE));
}

uint8_t radio_add_peer(void *ctx, const uint8_t mac[6], uint8_t channel, const uint8_t *lmk)
{
    (void)ctx;
    esp_now_peer_info_t peer = {.channel = channel, .ifidx = WIFI_IF_STA, .encrypt = lmk != NULL};
    memcpy(peer.peer_addr, mac, 6);
    if (lmk)
        memcpy(peer.lmk, lmk, ESP_NOW_KEY_LEN);
    /* A known peer is updated, so a host can register its peers again after a reconnect. */
    esp_err_t err = esp_now_is_peer_exist(mac) ? esp_now_mod_peer(&peer) : esp_now_add_peer(&peer);
    return status_of(err);
}

uint8_t radio_remove_peer(void *ctx, const uint8_t mac[6])
{
    (void)ctx;
    return status_of(esp_now_del_peer(mac));
}
