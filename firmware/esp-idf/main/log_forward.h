/* ESP-IDF's log output as LOG frames (docs/protocol.md 5.8): nothing but frames on the
 * link. Lines are queued by whichever task logs and sent by the gateway task. */
#pragma once

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "gw.h"

void log_forward_start(TaskHandle_t gateway_task);

/* Gateway task: send the queued lines. */
void log_forward_drain(gw_t *gw);
