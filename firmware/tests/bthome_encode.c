/* bthome-encode PACKET_ID TEMPERATURE HUMIDITY BATTERY PRESSED: print the example
 * sensor's payload in hex ("-" leaves a measurement out). tests/firmware decodes it
 * with the integration's BTHome decoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bthome_payload.h"

int main(int argc, char **argv)
{
    if (argc != 6) {
        fputs("usage: bthome-encode PACKET_ID TEMPERATURE HUMIDITY BATTERY PRESSED\n", stderr);
        return 2;
    }
    bthome_reading_t r = {.packet_id = (uint8_t)atoi(argv[1])};
    if ((r.has_temperature = strcmp(argv[2], "-") != 0))
        r.temperature_c = strtof(argv[2], NULL);
    if ((r.has_humidity = strcmp(argv[3], "-") != 0))
        r.humidity_pct = strtof(argv[3], NULL);
    if ((r.has_battery = strcmp(argv[4], "-") != 0))
        r.battery_pct = (uint8_t)atoi(argv[4]);
    r.pressed = atoi(argv[5]) != 0;
    uint8_t out[BTHOME_MAX_PAYLOAD];
    size_t n = bthome_encode(&r, out);
    for (size_t i = 0; i < n; i++)
        printf("%02x", out[i]);
    putchar('\n');
    return 0;
}
