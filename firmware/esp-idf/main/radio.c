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

_Static_assert(ESP_NOW_MAX_TOTAL_PEER_NUM <= GW_PEER_LIST_MAX, "PEER_LIST holds every peer");
_Static_assert(ESP_NOW_KEY_LEN == GW_PMK_LEN && ESP_NOW_KEY_LEN == GW_LMK_LEN, "16-byte keys");

/* esp_now_fetch_peer() returns unicast peers only: the group addresses registered
 * (the broadcast peer, and any multicast address the host adds) are kept here so that
 * GET_PEERS lists them too. Gateway task only, like every HAL call. */
static uint8_t s_groups[ESP_NOW_MAX_TOTAL_PEER_NUM][ESP_NOW_ETH_ALEN];
static size_t s_ngroups;
static size_t s_fetch_group;    /* next entry of s_groups to list */
static unsigned s_fetch_calls;  /* esp_now_fetch_peer() calls in this walk */

static bool is_group(const uint8_t mac[6])
{
    return (mac[0] & 0x01u) != 0;
}

static size_t find_group(const uint8_t mac[6])
{
    size_t i = 0;
    while (i < s_ngroups && memcmp(s_groups[i], mac, ESP_NOW_ETH_ALEN) != 0)
        i++;
    return i;
}

static void remember_group(const uint8_t mac[6])
{
    if (find_group(mac) == s_ngroups && s_ngroups < ESP_NOW_MAX_TOTAL_PEER_NUM)
        memcpy(s_groups[s_ngroups++], mac, ESP_NOW_ETH_ALEN);
}

static void forget_group(const uint8_t mac[6])
{
    size_t i = find_group(mac);
    if (i < s_ngroups)
        memcpy(s_groups[i], s_groups[--s_ngroups], ESP_NOW_ETH_ALEN);
}

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
    remember_group(BROADCAST);

    uint32_t version = 1;
    esp_now_get_version(&version);
    ESP_ERROR_CHECK(esp_read_mac(config->mac, ESP_MAC_WIFI_STA));
    config->channel = channel;
    config->max_payload = version >= 2 ? CONFIG_GW_MAX_PAYLOAD : ESP_NOW_MAX_DATA_LEN;
    config->capabilities = GW_CAP_SEND | GW_CAP_PEERS | GW_CAP_SET_CHANNEL | GW_CAP_ENCRYPTION |
                           GW_CAP_NOISE_FLOOR | GW_CAP_STATS |
                           (config->max_payload > ESP_NOW_MAX_DATA_LEN ? GW_CAP_ESPNOW_V2 : 0) |
                           GW_CAP_PEER_LIST | GW_CAP_SET_PMK;
    config->max_peers = ESP_NOW_MAX_TOTAL_PEER_NUM;
    /* The limit the radio applies is the Kconfig value (7 by default, at most 17);
     * ESP_NOW_MAX_ENCRYPT_PEER_NUM in esp_now.h is a fixed 6 on some versions. */
    config->max_encrypted = CONFIG_ESP_WIFI_ESPNOW_MAX_ENCRYPT_NUM;
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
    if (err == ESP_OK && is_group(mac))
        remember_group(mac);
    return status_of(err);
}

uint8_t radio_remove_peer(void *ctx, const uint8_t mac[6])
{
    (void)ctx;
    esp_err_t err = esp_now_del_peer(mac);
    if (err == ESP_OK)
        forget_group(mac);
    return status_of(err);
}

static void peer_of(const esp_now_peer_info_t *info, gw_peer_t *out)
{
    memcpy(out->mac, info->peer_addr, 6);
    out->channel = info->channel;
    out->flags = info->encrypt ? GW_PEER_FLAG_ENCRYPT : 0;
}

/* GET_PEERS: the group addresses first (esp_now_get_peer() reads any entry), then
 * esp_now_fetch_peer(true, ...) and esp_now_fetch_peer(false, ...) until it fails. */
bool radio_fetch_peer(void *ctx, bool first, gw_peer_t *out)
{
    (void)ctx;
    if (first) {
        s_fetch_group = 0;
        s_fetch_calls = 0;
    }
    esp_now_peer_info_t info;
    while (s_fetch_group < s_ngroups) {
        if (esp_now_get_peer(s_groups[s_fetch_group++], &info) == ESP_OK) {
            peer_of(&info, out);
            return true;
        }
    }
    /* Bounded: the table has at most ESP_NOW_MAX_TOTAL_PEER_NUM entries. */
    while (s_fetch_calls <= ESP_NOW_MAX_TOTAL_PEER_NUM) {
        bool from_head = s_fetch_calls++ == 0;
        if (esp_now_fetch_peer(from_head, &info) != ESP_OK) {
            s_fetch_calls = ESP_NOW_MAX_TOTAL_PEER_NUM + 1u; /* NOT_FOUND: the end */
            break;
        }
        if (!is_group(info.peer_addr)) { /* never a group address, as documented */
            peer_of(&info, out);
            return true;
        }
    }
    return false;
}

/* SET_PMK: for the peers registered from now on (the host registers its encrypted
 * peers again after it); the menuconfig key applies again after a reboot. */
uint8_t radio_set_pmk(void *ctx, const uint8_t pmk[GW_PMK_LEN])
{
    (void)ctx;
    return status_of(esp_now_set_pmk(pmk));
}
