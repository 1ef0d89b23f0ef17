/* Messages of the gateway link protocol 1.1 (docs/protocol.md, section 3): the
 * constants, one struct per message, and a parser and an encoder for every type in
 * both directions (the gateway needs only half of them; the tests and the host tools
 * use the rest, and a linker with --gc-sections drops what a firmware does not call).
 *
 * Variable-length tails (payload, text) are not copied: a parsed message points into
 * the body it came from. Portable C11, no allocation.
 */
#ifndef GW_MSG_H
#define GW_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_frame.h"

#define GW_PROTOCOL_MAJOR 1u
#define GW_PROTOCOL_MINOR 1u /* 1.1: GET_PEERS/PEER_LIST, SET_PMK */
#define GW_MAX_PAYLOAD 1470u /* ESP-NOW v2; v1 peers send at most 250 */
#define GW_V1_PAYLOAD 250u
#define GW_MAC_LEN 6u
#define GW_LMK_LEN 16u
#define GW_PMK_LEN 16u
#define GW_TEXT_MAX 255u

enum gw_type {
    GW_HELLO = 0x01,
    GW_PACKET = 0x02,
    GW_STATS = 0x03,
    GW_SEND_RESULT = 0x04,
    GW_COMMAND_RESULT = 0x05,
    GW_PONG = 0x06,
    GW_LOG = 0x07,
    GW_PEER_LIST = 0x08, /* 1.1 */
    GW_PING = 0x81,
    GW_GET_INFO = 0x82,
    GW_SET_CHANNEL = 0x83,
    GW_SEND = 0x84,
    GW_ADD_PEER = 0x85,
    GW_REMOVE_PEER = 0x86,
    GW_GET_PEERS = 0x87, /* 1.1 */
    GW_SET_PMK = 0x88,   /* 1.1 */
};

enum gw_capability {
    GW_CAP_SEND = 0x01,
    GW_CAP_PEERS = 0x02,
    GW_CAP_SET_CHANNEL = 0x04,
    GW_CAP_ENCRYPTION = 0x08,
    GW_CAP_ESPNOW_V2 = 0x10,
    GW_CAP_NOISE_FLOOR = 0x20,
    GW_CAP_STATS = 0x40,
    GW_CAP_PEER_LIST = 0x80, /* 1.1: GET_PEERS, answered by PEER_LIST */
    GW_CAP_SET_PMK = 0x100,  /* 1.1: SET_PMK */
};

enum gw_status {
    GW_OK = 0,
    GW_ERROR = 1,
    GW_NO_ACK = 2,
    GW_UNKNOWN_PEER = 3,
    GW_INVALID_ARGUMENT = 4,
    GW_BUSY = 5,
    GW_NOT_SUPPORTED = 6,
    GW_PEER_TABLE_FULL = 7,
};

enum gw_log_level {
    GW_LOG_ERROR = 1,
    GW_LOG_WARNING = 2,
    GW_LOG_INFO = 3,
    GW_LOG_DEBUG = 4,
    GW_LOG_VERBOSE = 5,
};

#define GW_ADD_PEER_FLAG_ENCRYPT 0x01u
#define GW_PEER_FLAG_ENCRYPT 0x01u /* PEER_LIST record: encrypted */
#define GW_PEER_RECORD_SIZE 8u     /* mac[6] channel flags */
#define GW_PEER_LIST_FIXED 5u
/* The most records a PEER_LIST body can carry within GW_MAX_BODY (191). */
#define GW_PEER_LIST_RECORDS_MAX ((GW_MAX_BODY - GW_PEER_LIST_FIXED) / GW_PEER_RECORD_SIZE)

typedef struct gw_hello {
    uint8_t protocol_major;
    uint8_t protocol_minor;
    uint8_t mac[GW_MAC_LEN];
    uint8_t channel;
    uint16_t max_payload;
    uint32_t capabilities;
    uint8_t firmware_len;
    const uint8_t *firmware; /* UTF-8, not NUL-terminated */
} gw_hello_t;

typedef struct gw_packet {
    uint8_t src[GW_MAC_LEN];
    uint8_t dst[GW_MAC_LEN];
    int8_t rssi;
    int8_t noise_floor;
    uint8_t channel;
    uint8_t rate;
    uint32_t seq;
    uint64_t timestamp_us;
    uint16_t payload_len;
    const uint8_t *payload;
} gw_packet_t;

typedef struct gw_stats {
    uint32_t uptime_s;
    uint32_t rx_packets;
    uint32_t rx_dropped;
    uint32_t tx_packets;
    uint32_t tx_failed;
    uint32_t host_frames_bad;
    uint32_t free_heap;
    uint32_t min_free_heap;
    uint16_t queue_peak;
    uint16_t queue_capacity;
} gw_stats_t;

typedef struct gw_send_result {
    uint16_t request_id;
    uint8_t dst[GW_MAC_LEN];
    uint8_t status;
} gw_send_result_t;

typedef struct gw_command_result {
    uint16_t request_id;
    uint8_t command;
    uint8_t status;
} gw_command_result_t;

typedef struct gw_request_id {
    uint16_t request_id;
} gw_request_id_t; /* PONG and PING */

typedef struct gw_log {
    uint8_t level;
    uint8_t text_len;
    const uint8_t *text;
} gw_log_t;

typedef struct gw_set_channel {
    uint16_t request_id;
    uint8_t channel;
} gw_set_channel_t;

typedef struct gw_send {
    uint16_t request_id;
    uint8_t dst[GW_MAC_LEN];
    uint16_t payload_len;
    const uint8_t *payload;
} gw_send_t;

typedef struct gw_add_peer {
    uint16_t request_id;
    uint8_t mac[GW_MAC_LEN];
    uint8_t channel;
    uint8_t flags;
    uint8_t lmk[GW_LMK_LEN];
} gw_add_peer_t;

typedef struct gw_remove_peer {
    uint16_t request_id;
    uint8_t mac[GW_MAC_LEN];
} gw_remove_peer_t;

/* One entry of the radio's peer table: a PEER_LIST record. */
typedef struct gw_peer {
    uint8_t mac[GW_MAC_LEN];
    uint8_t channel; /* as registered; 0: the gateway's current channel */
    uint8_t flags;   /* GW_PEER_FLAG_ENCRYPT; other bits reserved, 0 */
} gw_peer_t;

typedef struct gw_peer_list {
    uint16_t request_id;
    uint8_t max_peers;     /* capacity of the table, every entry */
    uint8_t max_encrypted; /* of which encrypted at most */
    uint8_t count;         /* records */
    const uint8_t *records; /* count x GW_PEER_RECORD_SIZE bytes as on the wire: read
                              them with gw_peer_record_read() */
} gw_peer_list_t;

typedef struct gw_set_pmk {
    uint16_t request_id;
    uint8_t pmk[GW_PMK_LEN];
} gw_set_pmk_t;

typedef struct gw_msg {
    uint8_t type; /* enum gw_type */
    union {
        gw_hello_t hello;
        gw_packet_t packet;
        gw_stats_t stats;
        gw_send_result_t send_result;
        gw_command_result_t command_result;
        gw_request_id_t pong;
        gw_log_t log;
        gw_request_id_t ping;
        gw_set_channel_t set_channel;
        gw_send_t send;
        gw_add_peer_t add_peer;
        gw_remove_peer_t remove_peer;
        gw_peer_list_t peer_list;
        gw_request_id_t get_peers;
        gw_set_pmk_t set_pmk;
    } u;
} gw_msg_t;

typedef enum gw_parse_result {
    GW_PARSED = 0,
    GW_UNKNOWN_TYPE = 1, /* not a type of protocol 1.1 */
    GW_MALFORMED = 2,    /* shorter than the fixed part, or a tail beyond the body */
} gw_parse_result_t;

/* Parse a body. Longer bodies are accepted (fields of later minor versions). */
gw_parse_result_t gw_msg_parse(uint8_t type, const uint8_t *body, size_t len, gw_msg_t *out);

/* Size of the body of msg, or -1 if it cannot be encoded (an unknown type, or a tail
 * longer than its length field allows). */
int gw_msg_body_size(const gw_msg_t *msg);

/* Write the body (gw_msg_body_size() bytes, which must not be -1); return its size. */
size_t gw_msg_encode_body(const gw_msg_t *msg, uint8_t *out);

/* Encode a complete frame into out (room bytes); return its size, or 0 if the
 * message cannot be encoded or does not fit. */
size_t gw_msg_encode(const gw_msg_t *msg, uint8_t *out, size_t room);

/* The record at index of a PEER_LIST's records; write one (GW_PEER_RECORD_SIZE bytes)
 * and return the end. */
void gw_peer_record_read(const uint8_t *records, size_t index, gw_peer_t *out);
uint8_t *gw_peer_record_write(uint8_t *out, const gw_peer_t *peer);

/* Message names as in the Python library ("Hello", "SetChannel", ...); NULL if
 * unknown. */
const char *gw_msg_name(uint8_t type);

#endif
