/* The link to the host: one of link_usb_serial_jtag.c, link_tinyusb.c, link_uart.c. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Start the driver. mac: the gateway's MAC (the USB serial number, where there is one).
 * Bytes from the host are handed to link_received() (main.c) from the driver's task. */
void link_init(const uint8_t mac[6]);

/* Take what fits of data for the host, waiting a few milliseconds at most; return how
 * many bytes were taken (0 while no host drains the port). Gateway task only. */
size_t link_write(const uint8_t *data, size_t len);

/* main.c: bytes from the host, from any task but an ISR. Never blocks. */
void link_received(const uint8_t *data, size_t len);
