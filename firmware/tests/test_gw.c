/* The gateway's behaviour (docs/protocol.md section 5) against a fake HAL. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fake_hal.h"
#include "suites.h"

static fake_t fake;
static gw_t gw;
static fake_msgs_t out;

static const uint8_t PEER[6] = {0x84, 0xF7, 0x03, 0x12, 0x34, 0x56};
static const uint8_t BCAST[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

static void start_with(const gw_config_t *cfg)
{
    fake_init(&fake);
    gw_init(&gw, &fake.hal, cfg);
    gw_boot(&gw);
}

/* A HAL written for protocol 1.0: no fetch_peer, no set_pmk. */
static void start_1_0(void)
{
    gw_config_t cfg = fake_config();
    fake_init_1_0(&fake);
    gw_init(&gw, &fake.hal, &cfg);
    gw_boot(&gw);
    fake_read(&fake, &out);
}

static void start(void)
{
    gw_config_t cfg = fake_config();
    start_with(&cfg);
    fake_read(&fake, &out);
}

static void advance_ms(uint32_t ms)
{
    fake.now += (uint64_t)ms * 1000u;
}

/* Service, then decode everything written since the last read. */
static void service_and_read(void)
{
    gw_service(&gw);
    fake_read(&fake, &out);
}

static void ping(uint16_t id)
{
    gw_msg_t msg = {.type = GW_PING};
    msg.u.ping.request_id = id;
    fake_command(&gw, &msg);
}

static void send(uint16_t id, const uint8_t *dst, uint16_t len)
{
    static uint8_t payload[GW_MAX_BODY];
    gw_msg_t msg = {.type = GW_SEND};
    msg.u.send.request_id = id;
    memcpy(msg.u.send.dst, dst, 6);
    msg.u.send.payload = payload;
    msg.u.send.payload_len = len;
    fake_command(&gw, &msg);
}

static void radio(uint8_t id, uint16_t len)
{
    static uint8_t payload[GW_MAX_PAYLOAD];
    memset(payload, id, len);
    gw_rx_meta_t meta = {.src = {0x0A, 0, 0, 0, 0, id}, .dst = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
                         .rssi = -61, .noise_floor = -95, .channel = 1, .rate = 11};
    gw_radio_received(&gw, &meta, payload, len);
}

static const gw_stats_t *stats_now(void)
{
    static gw_stats_t stats;
    gw_get_stats(&gw, &stats);
    return &stats;
}

static const gw_command_result_t *command_result(void)
{
    const gw_msg_t *m = fake_find(&out, GW_COMMAND_RESULT);
    CHECK(m != NULL);
    return m ? &m->u.command_result : &(gw_command_result_t){0xFFFF, 0, 0xFF};
}

static const gw_send_result_t *send_result_at(size_t index)
{
    size_t seen = 0;
    for (size_t i = 0; i < out.n; i++)
        if (out.msg[i].type == GW_SEND_RESULT && seen++ == index)
            return &out.msg[i].u.send_result;
    CHECK(!"no such SEND_RESULT");
    static gw_send_result_t none = {0xFFFF, {0}, 0xFF};
    return &none;
}

/* ---- handshake ------------------------------------------------------------------ */

static void boot_sends_hello_then_a_log(void)
{
    gw_config_t cfg = fake_config();
    start_with(&cfg);
    fake_read(&fake, &out);
    CHECK_EQ(out.n, 2);
    CHECK_EQ(out.msg[0].type, GW_HELLO);
    const gw_hello_t *h = &out.msg[0].u.hello;
    CHECK_EQ(h->protocol_major, 1);
    CHECK_EQ(h->protocol_minor, 1);
    CHECK(memcmp(h->mac, cfg.mac, 6) == 0);
    CHECK_EQ(h->channel, 1);
    CHECK_EQ(h->max_payload, 250);
    CHECK_EQ(h->capabilities, cfg.capabilities);
    CHECK(h->capabilities & GW_CAP_PEER_LIST);
    CHECK(h->capabilities & GW_CAP_SET_PMK);
    CHECK(h->firmware_len == strlen(cfg.firmware) && memcmp(h->firmware, cfg.firmware, h->firmware_len) == 0);
    CHECK_EQ(out.msg[1].type, GW_LOG);
    CHECK_EQ(out.msg[1].u.log.level, GW_LOG_INFO);
}

static void hello_only_at_boot_and_on_get_info(void)
{
    start();
    for (int i = 0; i < 30; i++) {
        advance_ms(1000);
        service_and_read();
        CHECK_EQ(fake_count(&out, GW_HELLO), 0);
    }
    gw_msg_t get_info = {.type = GW_GET_INFO};
    fake_command(&gw, &get_info);
    service_and_read();
    CHECK_EQ(fake_count(&out, GW_HELLO), 1);
}

static void ping_gets_pong_with_same_id(void)
{
    start();
    const uint16_t ids[] = {7, 0, 65535};
    for (size_t i = 0; i < 3; i++) {
        ping(ids[i]);
        service_and_read();
        CHECK_EQ(out.n, 1);
        CHECK_EQ(out.msg[0].type, GW_PONG);
        CHECK_EQ(out.msg[0].u.pong.request_id, ids[i]);
    }
}

/* ---- SET_CHANNEL, ADD_PEER, REMOVE_PEER ------------------------------------------ */

static void set_channel(uint16_t id, uint8_t channel)
{
    gw_msg_t msg = {.type = GW_SET_CHANNEL};
    msg.u.set_channel.request_id = id;
    msg.u.set_channel.channel = channel;
    fake_command(&gw, &msg);
    service_and_read();
}

static void set_channel_checks_and_applies(void)
{
    start();
    set_channel(8, 6);
    CHECK_EQ(command_result()->request_id, 8);
    CHECK_EQ(command_result()->command, GW_SET_CHANNEL);
    CHECK_EQ(command_result()->status, GW_OK);
    CHECK_EQ(fake.last_channel, 6);
    gw_msg_t get_info = {.type = GW_GET_INFO};
    fake_command(&gw, &get_info);
    service_and_read();
    CHECK_EQ(fake_find(&out, GW_HELLO)->u.hello.channel, 6);

    /* Out of range: refused without asking the radio. */
    fake.channels = 0;
    set_channel(9, 0);
    CHECK_EQ(command_result()->status, GW_INVALID_ARGUMENT);
    set_channel(10, 15);
    CHECK_EQ(command_result()->status, GW_INVALID_ARGUMENT);
    CHECK_EQ(fake.channels, 0);

    /* The radio refuses (a country without channel 14): the channel stays. */
    fake.channel_status = GW_INVALID_ARGUMENT;
    set_channel(11, 14);
    CHECK_EQ(command_result()->status, GW_INVALID_ARGUMENT);
    CHECK_EQ(gw.channel, 6);
}

static void set_channel_not_supported_without_capability(void)
{
    gw_config_t cfg = fake_config();
    cfg.capabilities &= ~(uint32_t)GW_CAP_SET_CHANNEL;
    start_with(&cfg);
    fake_read(&fake, &out);
    set_channel(1, 6);
    CHECK_EQ(command_result()->status, GW_NOT_SUPPORTED);
    CHECK_EQ(fake.channels, 0);
}

static void add_peer(uint16_t id, const uint8_t *mac, uint8_t channel, uint8_t flags)
{
    gw_msg_t msg = {.type = GW_ADD_PEER};
    msg.u.add_peer.request_id = id;
    memcpy(msg.u.add_peer.mac, mac, 6);
    msg.u.add_peer.channel = channel;
    msg.u.add_peer.flags = flags;
    for (uint8_t i = 0; i < 16; i++)
        msg.u.add_peer.lmk[i] = i;
    fake_command(&gw, &msg);
    service_and_read();
}

static void add_peer_passes_key_and_channel(void)
{
    start();
    add_peer(9, PEER, 0, GW_ADD_PEER_FLAG_ENCRYPT);
    CHECK_EQ(command_result()->request_id, 9);
    CHECK_EQ(command_result()->command, GW_ADD_PEER);
    CHECK_EQ(command_result()->status, GW_OK);
    CHECK(fake.last_encrypted && fake.last_lmk[15] == 15 && fake.last_channel == 0);
    CHECK(memcmp(fake.last_dst, PEER, 6) == 0);

    add_peer(10, PEER, 3, 0xFE); /* reserved flag bits are ignored */
    CHECK_EQ(command_result()->status, GW_OK);
    CHECK(!fake.last_encrypted);
    CHECK_EQ(fake.last_channel, 3);

    fake.peer_status = GW_PEER_TABLE_FULL;
    add_peer(11, PEER, 0, 0);
    CHECK_EQ(command_result()->status, GW_PEER_TABLE_FULL);
}

static void add_peer_refusals(void)
{
    start();
    add_peer(1, PEER, 15, 0);
    CHECK_EQ(command_result()->status, GW_INVALID_ARGUMENT);
    add_peer(2, BCAST, 0, GW_ADD_PEER_FLAG_ENCRYPT); /* a group address cannot be encrypted */
    CHECK_EQ(command_result()->status, GW_INVALID_ARGUMENT);
    CHECK_EQ(fake.adds, 0);

    gw_config_t cfg = fake_config();
    cfg.capabilities &= ~(uint32_t)GW_CAP_ENCRYPTION;
    start_with(&cfg);
    fake_read(&fake, &out);
    add_peer(3, PEER, 0, GW_ADD_PEER_FLAG_ENCRYPT);
    CHECK_EQ(command_result()->status, GW_NOT_SUPPORTED);
    add_peer(4, PEER, 0, 0);
    CHECK_EQ(command_result()->status, GW_OK);

    cfg.capabilities &= ~(uint32_t)GW_CAP_PEERS;
    start_with(&cfg);
    fake_read(&fake, &out);
    add_peer(5, PEER, 0, 0);
    CHECK_EQ(command_result()->status, GW_NOT_SUPPORTED);
    gw_msg_t remove = {.type = GW_REMOVE_PEER};
    remove.u.remove_peer.request_id = 6;
    fake_command(&gw, &remove);
    service_and_read();
    CHECK_EQ(command_result()->status, GW_NOT_SUPPORTED);
}

static void remove_peer_reports_the_radio(void)
{
    start();
    gw_msg_t msg = {.type = GW_REMOVE_PEER};
    msg.u.remove_peer.request_id = 10;
    memcpy(msg.u.remove_peer.mac, PEER, 6);
    fake.peer_status = GW_UNKNOWN_PEER;
    fake_command(&gw, &msg);
    service_and_read();
    CHECK_EQ(command_result()->request_id, 10);
    CHECK_EQ(command_result()->command, GW_REMOVE_PEER);
    CHECK_EQ(command_result()->status, GW_UNKNOWN_PEER);
    CHECK(memcmp(fake.last_dst, PEER, 6) == 0);
}

/* ---- GET_PEERS and SET_PMK (1.1) ------------------------------------------------- */

static void get_peers(uint16_t id)
{
    gw_msg_t msg = {.type = GW_GET_PEERS};
    msg.u.get_peers.request_id = id;
    fake_command(&gw, &msg);
    service_and_read();
}

static void set_pmk(uint16_t id, const char *key)
{
    gw_msg_t msg = {.type = GW_SET_PMK};
    msg.u.set_pmk.request_id = id;
    memcpy(msg.u.set_pmk.pmk, key, GW_PMK_LEN);
    fake_command(&gw, &msg);
    service_and_read();
}

static void fake_peer(const uint8_t *mac, uint8_t channel, uint8_t flags)
{
    gw_peer_t *peer = &fake.peers[fake.npeers++];
    memcpy(peer->mac, mac, 6);
    peer->channel = channel;
    peer->flags = flags;
}

static const gw_peer_list_t *peer_list(void)
{
    const gw_msg_t *m = fake_find(&out, GW_PEER_LIST);
    CHECK(m != NULL);
    static const gw_peer_list_t none = {0xFFFF, 0, 0, 0, NULL};
    return m ? &m->u.peer_list : &none;
}

static void get_peers_lists_the_radio_table(void)
{
    start();
    fake_peer(BCAST, 0, 0);
    fake_peer(PEER, 6, GW_PEER_FLAG_ENCRYPT | 0xF0u); /* reserved bits: not passed on */
    get_peers(11);
    CHECK_EQ(out.n, 1);
    const gw_peer_list_t *list = peer_list();
    CHECK_EQ(list->request_id, 11);
    CHECK_EQ(list->max_peers, 20);
    CHECK_EQ(list->max_encrypted, 7);
    CHECK_EQ(list->count, 2);
    gw_peer_t peer = {{0}, 0xFF, 0xFF};
    if (list->count == 2) {
        gw_peer_record_read(list->records, 0, &peer);
        CHECK(memcmp(peer.mac, BCAST, 6) == 0);
        CHECK_EQ(peer.channel, 0);
        CHECK_EQ(peer.flags, 0);
        gw_peer_record_read(list->records, 1, &peer);
        CHECK(memcmp(peer.mac, PEER, 6) == 0);
        CHECK_EQ(peer.channel, 6);
        CHECK_EQ(peer.flags, GW_PEER_FLAG_ENCRYPT);
    }
    CHECK_EQ(fake.fetches, 3); /* two entries, then the end */

    /* An empty table (the radio has not even the broadcast entry): no records. */
    fake.npeers = 0;
    get_peers(12);
    CHECK_EQ(peer_list()->request_id, 12);
    CHECK_EQ(peer_list()->count, 0);
    CHECK_EQ(stats_now()->host_frames_bad, 0);
}

static void get_peers_is_bounded(void)
{
    start();
    for (uint8_t i = 0; i < 30; i++)
        fake_peer((const uint8_t[6]){0x02, 0, 0, 0, 0, i}, 0, 0);
    get_peers(1);
    CHECK_EQ(peer_list()->count, GW_PEER_LIST_MAX);
    CHECK_EQ(fake.fetches, GW_PEER_LIST_MAX + 1); /* never past what fits */
    const gw_msg_t *log = fake_find(&out, GW_LOG);
    CHECK(log != NULL && log->u.log.level == GW_LOG_WARNING);
    gw_peer_t last;
    gw_peer_record_read(peer_list()->records, GW_PEER_LIST_MAX - 1, &last);
    CHECK_EQ(last.mac[5], GW_PEER_LIST_MAX - 1);
}

static void set_pmk_passes_the_key(void)
{
    start();
    set_pmk(12, "pmk1234567890123");
    CHECK_EQ(command_result()->request_id, 12);
    CHECK_EQ(command_result()->command, GW_SET_PMK);
    CHECK_EQ(command_result()->status, GW_OK);
    CHECK_EQ(fake.pmks, 1);
    CHECK(memcmp(fake.pmk, "pmk1234567890123", 16) == 0);
    fake.pmk_status = GW_ERROR; /* the radio refuses (ESP-NOW not initialised) */
    set_pmk(13, "0123456789abcdef");
    CHECK_EQ(command_result()->status, GW_ERROR);
    CHECK_EQ(fake.pmks, 2);
}

static void hal_without_1_1_hooks(void)
{
    /* HELLO: protocol 1.1, but not the capabilities the HAL cannot back. */
    start_1_0();
    const gw_config_t cfg = fake_config();
    gw_msg_t get_info = {.type = GW_GET_INFO};
    fake_command(&gw, &get_info);
    service_and_read();
    const gw_msg_t *hello = fake_find(&out, GW_HELLO);
    CHECK(hello != NULL);
    if (hello) {
        CHECK_EQ(hello->u.hello.protocol_minor, 1);
        CHECK_EQ(hello->u.hello.capabilities,
                 cfg.capabilities & ~(uint32_t)(GW_CAP_PEER_LIST | GW_CAP_SET_PMK));
    }
    /* Both commands answered once, refused, and not bad frames. */
    get_peers(21);
    CHECK_EQ(out.n, 1);
    CHECK_EQ(fake_count(&out, GW_PEER_LIST), 0);
    CHECK_EQ(command_result()->request_id, 21);
    CHECK_EQ(command_result()->command, GW_GET_PEERS);
    CHECK_EQ(command_result()->status, GW_NOT_SUPPORTED);
    set_pmk(22, "pmk1234567890123");
    CHECK_EQ(command_result()->request_id, 22);
    CHECK_EQ(command_result()->command, GW_SET_PMK);
    CHECK_EQ(command_result()->status, GW_NOT_SUPPORTED);
    CHECK_EQ(stats_now()->host_frames_bad, 0);
    /* A reboot keeps the gateway as it was set up. */
    gw_boot(&gw);
    fake_read(&fake, &out);
    CHECK(!(fake_find(&out, GW_HELLO)->u.hello.capabilities & (GW_CAP_PEER_LIST | GW_CAP_SET_PMK)));
}

static void capabilities_1_1_left_out_by_the_config(void)
{
    /* Hooks, but a configuration that does not announce them: refused the same way. */
    gw_config_t cfg = fake_config();
    cfg.capabilities &= ~(uint32_t)(GW_CAP_PEER_LIST | GW_CAP_SET_PMK);
    start_with(&cfg);
    fake_read(&fake, &out);
    CHECK_EQ(out.msg[0].u.hello.capabilities, cfg.capabilities);
    fake_peer(BCAST, 0, 0);
    get_peers(1);
    CHECK_EQ(command_result()->status, GW_NOT_SUPPORTED);
    set_pmk(2, "pmk1234567890123");
    CHECK_EQ(command_result()->status, GW_NOT_SUPPORTED);
    CHECK_EQ(fake.fetches, 0);
    CHECK_EQ(fake.pmks, 0);
}

static void short_1_1_commands_are_bad_frames(void)
{
    start();
    uint8_t frame[64] = {0};
    gw_frame_seal(frame, GW_GET_PEERS, 1); /* GET_PEERS needs 2 bytes */
    gw_host_input(&gw, frame, GW_OVERHEAD + 1);
    gw_frame_seal(frame, GW_SET_PMK, 17); /* SET_PMK needs 18 */
    gw_host_input(&gw, frame, GW_OVERHEAD + 17);
    gw_frame_seal(frame, GW_PEER_LIST, 5); /* the other direction */
    gw_host_input(&gw, frame, GW_OVERHEAD + 5);
    memset(frame + GW_HEADER_SIZE, 0, 7);
    frame[6] = 3; /* a longer GET_PEERS (a later minor version): answered */
    gw_frame_seal(frame, GW_GET_PEERS, 7);
    gw_host_input(&gw, frame, GW_OVERHEAD + 7);
    service_and_read();
    CHECK_EQ(out.n, 1);
    CHECK_EQ(peer_list()->request_id, 3);
    CHECK_EQ(stats_now()->host_frames_bad, 3);
    CHECK_EQ(fake.pmks, 0);
}

/* ---- SEND ------------------------------------------------------------------------ */

static void send_answers_after_the_callback(void)
{
    start();
    send(7, PEER, 2);
    service_and_read();
    CHECK_EQ(fake.sends, 1);
    CHECK_EQ(fake.last_len, 2);
    CHECK_EQ(fake_count(&out, GW_SEND_RESULT), 0); /* in flight */
    gw_radio_sent(&gw, PEER, true);
    service_and_read();
    CHECK_EQ(send_result_at(0)->request_id, 7);
    CHECK(memcmp(send_result_at(0)->dst, PEER, 6) == 0);
    CHECK_EQ(send_result_at(0)->status, GW_OK);
    CHECK_EQ(stats_now()->tx_packets, 1);
    CHECK_EQ(stats_now()->tx_failed, 0);
}

static void send_failures(void)
{
    start();
    send(1, PEER, 2);
    gw_radio_sent(&gw, PEER, false);
    service_and_read();
    CHECK_EQ(send_result_at(0)->status, GW_NO_ACK); /* unicast: not acknowledged */
    send(2, BCAST, 2);
    gw_radio_sent(&gw, NULL, false);
    service_and_read();
    CHECK_EQ(send_result_at(0)->status, GW_ERROR); /* broadcast: not transmitted */
    fake.send_status = GW_UNKNOWN_PEER;
    send(3, PEER, 2);
    service_and_read();
    CHECK_EQ(send_result_at(0)->status, GW_UNKNOWN_PEER); /* the radio refused at once */
    CHECK_EQ(stats_now()->tx_packets, 3);
    CHECK_EQ(stats_now()->tx_failed, 3);
}

static void send_checks_length_and_capability(void)
{
    start();
    send(1, PEER, 251); /* max_payload is 250 */
    service_and_read();
    CHECK_EQ(send_result_at(0)->status, GW_INVALID_ARGUMENT);
    send(2, PEER, 250);
    service_and_read();
    CHECK_EQ(fake.sends, 1);

    gw_config_t cfg = fake_config();
    cfg.capabilities &= ~(uint32_t)GW_CAP_SEND;
    start_with(&cfg);
    fake_read(&fake, &out);
    send(3, PEER, 2);
    service_and_read();
    CHECK_EQ(send_result_at(0)->status, GW_NOT_SUPPORTED);
    CHECK_EQ(fake.sends, 0);
}

static void sends_queue_in_order_then_busy(void)
{
    start();
    for (uint16_t id = 1; id <= GW_SEND_QUEUE + 1; id++)
        send(id, PEER, 2);
    service_and_read();
    /* One in flight, GW_SEND_QUEUE held in all; the one after is refused. */
    CHECK_EQ(fake.sends, 1);
    CHECK_EQ(fake_count(&out, GW_SEND_RESULT), 1);
    CHECK_EQ(send_result_at(0)->request_id, GW_SEND_QUEUE + 1);
    CHECK_EQ(send_result_at(0)->status, GW_BUSY);
    for (uint16_t id = 1; id <= GW_SEND_QUEUE; id++) {
        gw_radio_sent(&gw, PEER, true);
        service_and_read();
        CHECK_EQ(send_result_at(0)->request_id, id);
        CHECK_EQ(send_result_at(0)->status, GW_OK);
    }
    CHECK_EQ(fake.sends, GW_SEND_QUEUE);
}

static void send_times_out_without_callback(void)
{
    start();
    send(1, PEER, 2);
    send(2, PEER, 2);
    service_and_read();
    advance_ms(999);
    service_and_read();
    CHECK_EQ(fake_count(&out, GW_SEND_RESULT), 0);
    advance_ms(1);
    service_and_read();
    CHECK_EQ(send_result_at(0)->request_id, 1);
    CHECK_EQ(send_result_at(0)->status, GW_ERROR);
    const gw_msg_t *log = fake_find(&out, GW_LOG);
    CHECK(log != NULL && log->u.log.level == GW_LOG_ERROR);
    CHECK_EQ(fake.sends, 2); /* the next one started */
    /* Every SEND is answered within 5 s even if the radio never calls back. */
    for (uint16_t id = 3; id < 3 + GW_SEND_QUEUE - 1; id++)
        send(id, PEER, 2);
    advance_ms(GW_SEND_QUEUE * 1000u);
    for (int i = 0; i < (int)GW_SEND_QUEUE; i++) {
        advance_ms(1000);
        service_and_read();
    }
    CHECK_EQ(stats_now()->tx_packets, GW_SEND_QUEUE + 1u);
}

static void stray_callback_is_ignored_and_reported(void)
{
    start();
    send(1, PEER, 2);
    service_and_read();
    gw_radio_sent(&gw, BCAST, true); /* another destination */
    service_and_read();
    CHECK_EQ(fake_count(&out, GW_SEND_RESULT), 0);
    gw_radio_sent(&gw, PEER, true);
    service_and_read();
    CHECK_EQ(send_result_at(0)->status, GW_OK);
    advance_ms(10000);
    service_and_read();
    CHECK_EQ(fake_count(&out, GW_STATS), 1);
    const gw_msg_t *log = fake_find(&out, GW_LOG);
    CHECK(log != NULL && log->u.log.level == GW_LOG_WARNING);
}

/* ---- bad frames ------------------------------------------------------------------ */

static void bad_frames_are_counted_not_answered(void)
{
    start();
    uint8_t frame[64];
    gw_msg_t msg = {.type = GW_PING};
    size_t n = gw_msg_encode(&msg, frame, sizeof frame);

    frame[5] ^= 1; /* header check */
    gw_host_input(&gw, frame, n);
    frame[5] ^= 1;
    frame[6] ^= 1; /* CRC */
    gw_host_input(&gw, frame, n);
    frame[6] ^= 1;
    uint8_t oversize[6] = {0xE5, 0xA7, 0x84, 0x01, 0x06, gw_header_check(0x84, 0x0601)};
    gw_host_input(&gw, oversize, sizeof oversize);
    uint8_t unknown[16] = {0};
    gw_frame_seal(unknown, 0x90, 2);
    gw_host_input(&gw, unknown, 12);
    gw_frame_seal(unknown, GW_PONG, 2); /* a gateway -> host type from the host */
    gw_host_input(&gw, unknown, 12);
    gw_frame_seal(unknown, GW_PING, 1); /* malformed: PING needs 2 bytes */
    gw_host_input(&gw, unknown, 11);
    ping(42); /* the decoder is back in step */
    service_and_read();
    CHECK_EQ(out.n, 1);
    CHECK_EQ(out.msg[0].u.pong.request_id, 42);
    CHECK_EQ(stats_now()->host_frames_bad, 6);
    CHECK_EQ(gw.rx.n, 0);
}

static void longer_bodies_are_accepted(void)
{
    start();
    uint8_t frame[32] = {0};
    frame[6] = 5; /* PING request_id 5, then 3 bytes of a later minor version */
    gw_frame_seal(frame, GW_PING, 5);
    gw_host_input(&gw, frame, 15);
    service_and_read();
    CHECK_EQ(fake_find(&out, GW_PONG)->u.pong.request_id, 5);
    CHECK_EQ(stats_now()->host_frames_bad, 0);
}

static void stale_partial_command_is_given_up(void)
{
    start();
    /* A SEND header announcing 100 bytes whose body never comes, then a PING inside
     * its announced length. */
    uint8_t buf[32];
    uint8_t header[6] = {0xE5, 0xA7, GW_SEND, 100, 0, gw_header_check(GW_SEND, 100)};
    memcpy(buf, header, 6);
    gw_msg_t msg = {.type = GW_PING};
    msg.u.ping.request_id = 77;
    size_t n = 6 + gw_msg_encode(&msg, buf + 6, sizeof buf - 6);
    gw_host_input(&gw, buf, n);
    advance_ms(249);
    service_and_read();
    CHECK_EQ(out.n, 0);
    CHECK(gw_service(&gw) <= 1); /* it wants to be called back for the deadline */
    advance_ms(1);
    service_and_read();
    CHECK_EQ(fake_find(&out, GW_PONG)->u.pong.request_id, 77);
    CHECK_EQ(stats_now()->host_frames_bad, 1);
    CHECK_EQ(gw.rx.n, 0);
    /* A lone SOF byte left over is not a frame. */
    gw_host_input(&gw, (const uint8_t *)"\xE5", 1);
    advance_ms(300);
    service_and_read();
    CHECK_EQ(stats_now()->host_frames_bad, 1);
    CHECK_EQ(gw.rx.n, 0);
}

/* ---- PACKET, queue and STATS ------------------------------------------------------- */

static void packets_carry_metadata_and_sequence(void)
{
    start();
    uint64_t t0 = fake.now;
    radio(1, 3);
    advance_ms(1);
    radio(2, 0);
    radio(3, 250);
    service_and_read();
    CHECK_EQ(fake_count(&out, GW_PACKET), 3);
    for (size_t i = 0; i < 3; i++) {
        const gw_packet_t *p = &out.msg[i].u.packet;
        CHECK_EQ(p->seq, i);
        CHECK_EQ(p->src[5], i + 1);
        CHECK(memcmp(p->dst, BCAST, 6) == 0);
        CHECK_EQ(p->rssi, -61);
        CHECK_EQ(p->noise_floor, -95);
        CHECK_EQ(p->channel, 1);
        CHECK_EQ(p->rate, 11);
    }
    CHECK_EQ(out.msg[0].u.packet.timestamp_us, t0);
    CHECK_EQ(out.msg[1].u.packet.timestamp_us, t0 + 1000);
    CHECK_EQ(out.msg[2].u.packet.payload_len, 250);
    CHECK_EQ(out.msg[2].u.packet.payload[249], 3);
    CHECK_EQ(out.msg[1].u.packet.payload_len, 0);
}

static void sequence_wraps(void)
{
    start();
    gw.seq = 0xFFFFFFFFu;
    radio(1, 1);
    radio(2, 1);
    service_and_read();
    CHECK_EQ(out.msg[0].u.packet.seq, 0xFFFFFFFFu);
    CHECK_EQ(out.msg[1].u.packet.seq, 0);
}

static void overflow_is_counted_and_reported(void)
{
    start();
    for (uint8_t i = 0; i < GW_QUEUE_CAPACITY + 8; i++)
        radio(i, 10);
    service_and_read();
    CHECK_EQ(fake_count(&out, GW_PACKET), GW_QUEUE_CAPACITY);
    /* Dropped frames take no sequence number. */
    CHECK_EQ(out.msg[GW_QUEUE_CAPACITY - 1].u.packet.seq, GW_QUEUE_CAPACITY - 1);
    advance_ms(10000);
    service_and_read();
    const gw_msg_t *stats = fake_find(&out, GW_STATS);
    CHECK(stats != NULL);
    if (!stats)
        return;
    CHECK_EQ(stats->u.stats.rx_packets, GW_QUEUE_CAPACITY + 8);
    CHECK_EQ(stats->u.stats.rx_dropped, 8);
    CHECK_EQ(stats->u.stats.queue_peak, GW_QUEUE_CAPACITY);
    CHECK_EQ(stats->u.stats.queue_capacity, GW_QUEUE_CAPACITY);
    const gw_msg_t *log = fake_find(&out, GW_LOG);
    CHECK(log != NULL && log->u.log.level == GW_LOG_WARNING &&
          memcmp(log->u.log.text, "receive queue full: 8 frames", 28) == 0);
    /* Reported once: the next STATS without new drops has no warning. */
    advance_ms(10000);
    service_and_read();
    CHECK_EQ(fake_count(&out, GW_LOG), 0);
}

static void stats_every_interval(void)
{
    start();
    advance_ms(9999);
    service_and_read();
    CHECK_EQ(fake_count(&out, GW_STATS), 0);
    advance_ms(1);
    service_and_read();
    const gw_msg_t *stats = fake_find(&out, GW_STATS);
    CHECK(stats && stats->u.stats.uptime_s == 10 && stats->u.stats.free_heap == 200000);
    /* Far behind (a long stall): one STATS, not a burst. */
    advance_ms(100000);
    service_and_read();
    CHECK_EQ(fake_count(&out, GW_STATS), 1);
    CHECK_EQ(fake_find(&out, GW_STATS)->u.stats.uptime_s, 110);
    CHECK_EQ(gw_service(&gw), 1000); /* at most a second between calls */
    advance_ms(9500);
    CHECK_EQ(gw_service(&gw), 500);

    gw_config_t cfg = fake_config();
    cfg.capabilities &= ~(uint32_t)GW_CAP_STATS;
    start_with(&cfg);
    fake_read(&fake, &out);
    advance_ms(60000);
    service_and_read();
    CHECK_EQ(fake_count(&out, GW_STATS), 0);
    CHECK_EQ(gw_service(&gw), 1000);
}

/* ---- the link ---------------------------------------------------------------------- */

static void stalled_link_fills_queue_not_memory(void)
{
    start();
    fake.write_limit = 0; /* no host reads */
    for (int round = 0; round < 10; round++) {
        for (uint8_t i = 0; i < GW_QUEUE_CAPACITY; i++)
            radio(i, 250);
        gw_service(&gw);
    }
    CHECK(gw_queue_fill(&gw.queue) == GW_QUEUE_CAPACITY);
    CHECK(gw.out_tail <= GW_OUT_SIZE);
    uint32_t dropped = gw_queue_dropped(&gw.queue);
    CHECK(dropped > 0);
    /* An answer still fits in the space PACKETs leave. */
    ping(5);
    fake.write_limit = (size_t)-1;
    service_and_read();
    CHECK_EQ(out.bad, 0);
    CHECK_EQ(fake.rx.stats.bytes_skipped, 0);
    CHECK_EQ(fake_find(&out, GW_PONG)->u.pong.request_id, 5);
    CHECK_EQ(fake_count(&out, GW_PACKET) + dropped, 10 * GW_QUEUE_CAPACITY);
}

static void answers_lost_when_the_output_is_full(void)
{
    start();
    fake.write_limit = 0;
    for (uint16_t id = 0; id < 2000; id++)
        ping(id);
    gw_service(&gw);
    CHECK(gw.answers_lost > 0);
    fake.write_limit = (size_t)-1;
    advance_ms(10000);
    service_and_read();
    CHECK_EQ(fake_count(&out, GW_PONG) + gw.answers_lost, 2000);
    int warnings = 0;
    for (size_t i = 0; i < out.n; i++)
        warnings += out.msg[i].type == GW_LOG && out.msg[i].u.log.level == GW_LOG_WARNING;
    CHECK_EQ(warnings, 1);
    CHECK_EQ(out.bad, 0);
}

static void byte_at_a_time_link(void)
{
    start();
    fake.write_limit = 1;
    for (uint8_t i = 0; i < 10; i++)
        radio(i, (uint16_t)(i * 20));
    ping(3);
    for (int i = 0; i < 5000 && gw_output_pending(&gw); i++)
        gw_service(&gw);
    fake_read(&fake, &out);
    CHECK(!gw_output_pending(&gw));
    CHECK_EQ(fake_count(&out, GW_PACKET), 10);
    CHECK_EQ(fake_count(&out, GW_PONG), 1);
    CHECK_EQ(fake.rx.stats.bytes_skipped, 0);
}

static void log_is_cut_at_a_character(void)
{
    start();
    char text[300];
    for (size_t i = 0; i + 1 < sizeof text; i += 2) {
        text[i] = (char)0xC3; /* é */
        text[i + 1] = (char)0xA9;
    }
    CHECK(gw_log(&gw, GW_LOG_INFO, text, sizeof text));
    CHECK(gw_log(&gw, GW_LOG_INFO, "abc", 3));
    service_and_read();
    CHECK_EQ(out.msg[0].u.log.text_len, 254); /* 255 would split the last é */
    CHECK_EQ(out.msg[1].u.log.text_len, 3);
}

static void reboot_starts_over(void)
{
    start();
    radio(1, 1);
    ping(1);
    send(1, PEER, 1);
    service_and_read();
    gw_boot(&gw);
    radio(2, 1);
    service_and_read();
    CHECK_EQ(out.msg[0].type, GW_HELLO);
    CHECK_EQ(fake_find(&out, GW_PACKET)->u.packet.seq, 0);
    CHECK_EQ(stats_now()->rx_packets, 1);
    CHECK_EQ(stats_now()->tx_packets, 0);
    CHECK(!gw.sending);
}

static void espnow_v2_payloads(void)
{
    gw_config_t cfg = fake_config();
    cfg.max_payload = GW_MAX_PAYLOAD;
    cfg.capabilities |= GW_CAP_ESPNOW_V2;
    start_with(&cfg);
    fake_read(&fake, &out);
    radio(1, GW_MAX_PAYLOAD);
    send(2, PEER, GW_MAX_PAYLOAD);
    send(3, PEER, GW_MAX_PAYLOAD + 1);
    service_and_read();
    CHECK_EQ(fake_find(&out, GW_PACKET)->u.packet.payload_len, GW_MAX_PAYLOAD);
    CHECK_EQ(fake.last_len, GW_MAX_PAYLOAD);
    CHECK_EQ(send_result_at(0)->request_id, 3);
    CHECK_EQ(send_result_at(0)->status, GW_INVALID_ARGUMENT);
}

void suite_gw(void)
{
    RUN("gw", boot_sends_hello_then_a_log);
    RUN("gw", hello_only_at_boot_and_on_get_info);
    RUN("gw", ping_gets_pong_with_same_id);
    RUN("gw", set_channel_checks_and_applies);
    RUN("gw", set_channel_not_supported_without_capability);
    RUN("gw", add_peer_passes_key_and_channel);
    RUN("gw", add_peer_refusals);
    RUN("gw", remove_peer_reports_the_radio);
    RUN("gw", get_peers_lists_the_radio_table);
    RUN("gw", get_peers_is_bounded);
    RUN("gw", set_pmk_passes_the_key);
    RUN("gw", hal_without_1_1_hooks);
    RUN("gw", capabilities_1_1_left_out_by_the_config);
    RUN("gw", short_1_1_commands_are_bad_frames);
    RUN("gw", send_answers_after_the_callback);
    RUN("gw", send_failures);
    RUN("gw", send_checks_length_and_capability);
    RUN("gw", sends_queue_in_order_then_busy);
    RUN("gw", send_times_out_without_callback);
    RUN("gw", stray_callback_is_ignored_and_reported);
    RUN("gw", bad_frames_are_counted_not_answered);
    RUN("gw", longer_bodies_are_accepted);
    RUN("gw", stale_partial_command_is_given_up);
    RUN("gw", packets_carry_metadata_and_sequence);
    RUN("gw", sequence_wraps);
    RUN("gw", overflow_is_counted_and_reported);
    RUN("gw", stats_every_interval);
    RUN("gw", stalled_link_fills_queue_not_memory);
    RUN("gw", answers_lost_when_the_output_is_full);
    RUN("gw", byte_at_a_time_link);
    RUN("gw", log_is_cut_at_a_character);
    RUN("gw", reboot_starts_over);
    RUN("gw", espnow_v2_payloads);
}
