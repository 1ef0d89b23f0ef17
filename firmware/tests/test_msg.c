/* Message bodies: what the shared vectors do not cover (limits of the encoder). */
#include <string.h>

#include "check.h"
#include "gw_msg.h"
#include "suites.h"

static void unknown_types(void)
{
    const uint8_t types[] = {0x00, 0x09, 0x7F, 0x80, 0x89, 0xFE, 0xFF};
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

static void peer_list_limits(void)
{
    /* count is a u8, but the body must stay within GW_MAX_BODY: 191 records. */
    static uint8_t records[255 * GW_PEER_RECORD_SIZE];
    static uint8_t out[GW_MAX_FRAME + 64];
    gw_msg_t msg = {.type = GW_PEER_LIST};
    msg.u.peer_list.records = records;
    msg.u.peer_list.count = (uint8_t)GW_PEER_LIST_RECORDS_MAX;
    CHECK_EQ(GW_PEER_LIST_RECORDS_MAX, 191);
    CHECK_EQ(gw_msg_encode(&msg, out, sizeof out), GW_OVERHEAD + 5 + 8 * 191);
    msg.u.peer_list.count = (uint8_t)(GW_PEER_LIST_RECORDS_MAX + 1);
    CHECK_EQ(gw_msg_body_size(&msg), -1);
    CHECK_EQ(gw_msg_encode(&msg, out, sizeof out), 0);

    /* A record as the wire has it: mac, channel, flags. */
    const gw_peer_t peer = {{0x84, 0xF7, 0x03, 0x12, 0x34, 0x56}, 6, GW_PEER_FLAG_ENCRYPT};
    uint8_t wire[GW_PEER_RECORD_SIZE * 2] = {0};
    CHECK(gw_peer_record_write(wire + GW_PEER_RECORD_SIZE, &peer) == wire + sizeof wire);
    const uint8_t want[] = {0x84, 0xF7, 0x03, 0x12, 0x34, 0x56, 0x06, 0x01};
    CHECK(memcmp(wire + GW_PEER_RECORD_SIZE, want, sizeof want) == 0);
    gw_peer_t back;
    gw_peer_record_read(wire, 1, &back);
    CHECK(memcmp(&back, &peer, sizeof peer) == 0);

    /* A count whose records the body does not hold: malformed. */
    const uint8_t body[] = {1, 0, 20, 7, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0};
    CHECK_EQ(gw_msg_parse(GW_PEER_LIST, body, sizeof body, &msg), GW_MALFORMED);
    CHECK_EQ(gw_msg_parse(GW_PEER_LIST, body, sizeof body - 8, &msg), GW_MALFORMED);
    uint8_t one[sizeof body];
    memcpy(one, body, sizeof body);
    one[4] = 1;
    CHECK_EQ(gw_msg_parse(GW_PEER_LIST, one, sizeof one, &msg), GW_PARSED);
    CHECK_EQ(msg.u.peer_list.count, 1);
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
    RUN("msg", peer_list_limits);
    RUN("msg", get_info_is_an_empty_frame);
    RUN("msg", signed_fields);
}
