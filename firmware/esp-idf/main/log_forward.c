#include "log_forward.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "esp_log.h"
#include "freertos/queue.h"

#define LINES 8
#define LINE_MAX_LEN 160

typedef struct line {
    uint8_t level;
    uint8_t len;
    char text[LINE_MAX_LEN];
} line_t;

static QueueHandle_t s_lines;
static TaskHandle_t s_task;
static volatile uint32_t s_dropped; /* lines that found the queue full */

/* "E (1234) tag: message\n" becomes an ERROR line "tag: message": the level letter
 * and the timestamp go (the host logs its own time), and the newline. Called by any
 * task that logs; never blocks. */
static int log_vprintf(const char *fmt, va_list args)
{
    line_t line;
    int n = vsnprintf(line.text, sizeof line.text, fmt, args);
    if (n <= 0)
        return n;
    size_t len = (size_t)n < sizeof line.text ? (size_t)n : sizeof line.text - 1;
    while (len > 0 && (line.text[len - 1] == '\n' || line.text[len - 1] == '\r'))
        len--;
    const char *start = line.text;
    switch (line.text[0]) {
    case 'E': line.level = GW_LOG_ERROR; break;
    case 'W': line.level = GW_LOG_WARNING; break;
    case 'I': line.level = GW_LOG_INFO; break;
    case 'D': line.level = GW_LOG_DEBUG; break;
    case 'V': line.level = GW_LOG_VERBOSE; break;
    default: line.level = GW_LOG_INFO; break;
    }
    const char *paren = line.text[1] == ' ' && line.text[2] == '(' ? strchr(line.text, ')') : NULL;
    if (paren && paren[1] == ' ')
        start = paren + 2;
    len -= (size_t)(start - line.text);
    memmove(line.text, start, len);
    line.len = (uint8_t)len;
    if (xQueueSend(s_lines, &line, 0) != pdTRUE)
        s_dropped++;
    else
        xTaskNotifyGive(s_task);
    return n;
}

void log_forward_start(TaskHandle_t gateway_task)
{
    s_task = gateway_task;
    s_lines = xQueueCreate(LINES, sizeof(line_t));
    esp_log_set_vprintf(log_vprintf);
}

void log_forward_drain(gw_t *gw)
{
    static uint32_t reported;
    line_t line;
    while (xQueuePeek(s_lines, &line, 0) == pdTRUE) {
        if (!gw_log(gw, line.level, line.text, line.len))
            return; /* the output is full: try again later */
        xQueueReceive(s_lines, &line, 0);
    }
    uint32_t dropped = s_dropped;
    if (dropped != reported) {
        char text[64];
        int n = snprintf(text, sizeof text, "%lu log lines dropped", (unsigned long)(dropped - reported));
        if (gw_log(gw, GW_LOG_WARNING, text, (size_t)n))
            reported = dropped;
    }
}
