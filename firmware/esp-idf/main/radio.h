/* The radio half of the HAL: ESP-NOW on the Wi-Fi station interface. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "gw.h"

/* Start Wi-Fi (station, not connected, no power saving) on `channel` and ESP-NOW;
 * register the broadcast peer. Fills in the MAC and what the radio can do. */
void radio_init(uint8_t channel, gw_config_t *config);

/* Deliver received frames and send results to gw, and wake `task` for each. Call after
 * gw_boot(). */
void radio_start(gw_t *gw, TaskHandle_t task);

uint8_t radio_send(void *ctx, const uint8_t dst[6], const uint8_t *payload, uint16_t len);
uint8_t radio_set_channel(void *ctx, uint8_t channel);
uint8_t radio_add_peer(void *ctx, const uint8_t mac[6], uint8_t channel, const uint8_t *lmk);
uint8_t radio_remove_peer(void *ctx, const uint8_t mac[6]);
/* Protocol 1.1: the peer table for GET_PEERS, SET_PMK. */
bool radio_fetch_peer(void *ctx, bool first, gw_peer_t *out);
uint8_t radio_set_pmk(void *ctx, const uint8_t pmk[GW_PMK_LEN]);
