/* Message bodies: what the shared vectors do not cover (limits of the encoder). */
#include <string.h>

#include "check.h"
#include "gw_msg.h"
#include "suites.h"

static void unknown_types(void)
{
    const uint8_t types[] = {0x00, 0x08, 0x7F, 0x80, 0x87, 0xFE, 0xFF};
    gw_msg_t msg;
    for (size_t i = 0; i < sizeof types; i++) {
        CHECK_EQ(gw_msg_parse(types[i], (const uint8_t *)"abcd", 4, &msg), GW_UNKNOWN_TYPE);
        CHECK(gw_msg_name(types[i]) == NULL);
        msg.type = types[i];
        CHECK_EQ(gw_msg_body_size(&msg), -1);
    }
}

static void refuses_what_it_cannot_encode(void)
{
    static uint8_t payload[GW_MAX_BODY];
    static uint8_t out[GW_MAX_FRAME + 64];
    gw_msg_t msg = {.type = GW_PACKET};
    msg.u.packet.payload = payload;
    msg.u.packet.payload_len = GW_MAX_PAYLOAD;
    CHECK_EQ(gw_msg_encode(&msg, out, sizeof out), GW_OVERHEAD + 30 + GW_MAX_PAYLOAD);
    CHECK_EQ(gw_msg_encode(&msg, out, GW_OVERHEAD + 30 + GW_MAX_PAYLOAD - 1), 0); /* no room */
    msg.u.packet.payload_len = GW_MAX_PAYLOAD + 1;
    CHECK_EQ(gw_msg_body_size(&msg), -1);
    CHECK_EQ(gw_msg_encode(&msg, out, sizeof out), 0);

    gw_msg_t send = {.type = GW_SEND};
    send.u.send.payload = payload;
    send.u.send.payload_len = GW_MAX_BODY - 10; /* the frame layer's limit */
    CHECK_EQ(gw_msg_encode(&send, out, sizeof out), GW_MAX_FRAME);
    send.u.send.payload_len = GW_MAX_BODY - 9;
    CHECK_EQ(gw_msg_encode(&send, out, sizeof out), 0);

    gw_msg_t reserved = {.type = 0xFF};
    CHECK_EQ(gw_msg_encode(&reserved, out, sizeof out), 0);
}

static void get_info_is_an_empty_frame(void)
{
    uint8_t out[16];
    gw_msg_t msg = {.type = GW_GET_INFO};
    CHECK_EQ(gw_msg_encode(&msg, out, sizeof out), GW_OVERHEAD);
    const uint8_t want[] = {0xe5, 0xa7, 0x82, 0x00, 0x00, 0x7d, 0x2d, 0xac, 0xa0, 0x48};
    CHECK(memcmp(out, want, sizeof want) == 0);
}

static void signed_fields(void)
{
    uint8_t body[30] = {0};
    body[12] = 0x80; /* rssi -128 */
    body[13] = 0xFF; /* noise floor -1 */
    gw_msg_t msg;
    CHECK_EQ(gw_msg_parse(GW_PACKET, body, sizeof body, &msg), GW_PARSED);
    CHECK_EQ(msg.u.packet.rssi, -128);
    CHECK_EQ(msg.u.packet.noise_floor, -1);
}

void suite_msg(void)
{
    RUN("msg", unknown_types);
    RUN("msg", refuses_what_it_cannot_encode);
    RUN("msg", get_info_is_an_empty_frame);
    RUN("msg", signed_fields);
}
