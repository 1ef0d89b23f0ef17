/* The link over a UART behind the board's USB-UART bridge (classic ESP32), 8N1. */
#include "driver/uart.h"
#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "sdkconfig.h"

#include "link.h"

#define PORT ((uart_port_t)CONFIG_GW_UART_PORT)

static void reader(void *arg)
{
    (void)arg;
    static uint8_t buf[256];
    for (;;) {
        int n = uart_read_bytes(PORT, buf, sizeof buf, pdMS_TO_TICKS(10));
        if (n > 0)
            link_received(buf, (size_t)n);
    }
}

void link_init(const uint8_t mac[6])
{
    (void)mac;
    const uart_config_t config = {
        .baud_rate = CONFIG_GW_UART_BAUD,
        .data_bits = UART_DATA_8_BITS,
        .parity = UART_PARITY_DISABLE,
        .stop_bits = UART_STOP_BITS_1,
        .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
        .source_clk = UART_SCLK_DEFAULT,
    };
    ESP_ERROR_CHECK(uart_driver_install(PORT, 2048, 4096, 0, NULL, 0));
    ESP_ERROR_CHECK(uart_param_config(PORT, &config));
    xTaskCreate(reader, "gw_uart_rx", 2048, NULL, 10, NULL);
}

size_t link_write(const uint8_t *data, size_t len)
{
    /* A UART drains at its baud rate, host or not: take what the ring buffer holds
     * now rather than wait for room. */
    size_t room = 0;
    if (uart_get_tx_buffer_free_size(PORT, &room) != ESP_OK || room == 0)
        return 0;
    int n = uart_write_bytes(PORT, data, len < room ? len : room);
    return n > 0 ? (size_t)n : 0;
}
