/* The link over the native USB Serial/JTAG port (ESP32-S3, C3, C5, C6, H2). */
#include "driver/usb_serial_jtag.h"
#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#include "link.h"

static void reader(void *arg)
{
    (void)arg;
    static uint8_t buf[256];
    for (;;) {
        int n = usb_serial_jtag_read_bytes(buf, sizeof buf, portMAX_DELAY);
        if (n > 0)
            link_received(buf, (size_t)n);
    }
}

void link_init(const uint8_t mac[6])
{
    (void)mac; /* the port's descriptors are fixed in silicon: 303A:1001 */
    usb_serial_jtag_driver_config_t config = USB_SERIAL_JTAG_DRIVER_CONFIG_DEFAULT();
    config.tx_buffer_size = 4096;
    config.rx_buffer_size = 1024;
    ESP_ERROR_CHECK(usb_serial_jtag_driver_install(&config));
    xTaskCreate(reader, "gw_usb_rx", 2048, NULL, 10, NULL);
}

size_t link_write(const uint8_t *data, size_t len)
{
    /* Without a host the ring buffer fills and this returns 0 after the timeout. */
    int n = usb_serial_jtag_write_bytes(data, len, pdMS_TO_TICKS(5));
    return n > 0 ? (size_t)n : 0;
}
