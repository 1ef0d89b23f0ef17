/* The link over USB CDC with TinyUSB (ESP32-S2, S3; esp_tinyusb 2.x). The product
 * string is what Home Assistant's USB discovery looks for ("*esp-now gateway*"); the
 * serial number is the gateway's MAC, unique per board. */
#include <stdio.h>

#include "esp_err.h"
#include "sdkconfig.h"
#include "tinyusb.h"
#include "tinyusb_cdc_acm.h"
#include "tinyusb_default_config.h"

#include "link.h"

static char serial[13];
static const char *strings[] = {
    (const char[]){0x09, 0x04}, /* 0: language, English (0x0409) */
    "Espressif",                /* 1: manufacturer */
    CONFIG_GW_USB_PRODUCT,      /* 2: product */
    serial,                     /* 3: serial number */
    "ESP-NOW Gateway link",     /* 4: CDC interface */
};

static void on_rx(int itf, cdcacm_event_t *event)
{
    (void)event;
    static uint8_t buf[CONFIG_TINYUSB_CDC_RX_BUFSIZE];
    size_t n = 0;
    while (tinyusb_cdcacm_read((tinyusb_cdcacm_itf_t)itf, buf, sizeof buf, &n) == ESP_OK && n > 0)
        link_received(buf, n);
}

void link_init(const uint8_t mac[6])
{
    snprintf(serial, sizeof serial, "%02X%02X%02X%02X%02X%02X", mac[0], mac[1], mac[2], mac[3],
             mac[4], mac[5]);
    tinyusb_config_t config = TINYUSB_DEFAULT_CONFIG();
    config.descriptor.string = strings;
    config.descriptor.string_count = sizeof strings / sizeof strings[0];
    ESP_ERROR_CHECK(tinyusb_driver_install(&config));
    const tinyusb_config_cdcacm_t acm = {
        .cdc_port = TINYUSB_CDC_ACM_0,
        .callback_rx = on_rx,
    };
    ESP_ERROR_CHECK(tinyusb_cdcacm_init(&acm));
}

size_t link_write(const uint8_t *data, size_t len)
{
    /* Queue what the FIFO takes and start the transfer without waiting: while no host
     * reads, the FIFO stays full and this returns 0. (Never clear the FIFO on a
     * timeout: that cuts frames in half.) */
    size_t n = tinyusb_cdcacm_write_queue(TINYUSB_CDC_ACM_0, data, len);
    tinyusb_cdcacm_write_flush(TINYUSB_CDC_ACM_0, 0);
    return n;
}
