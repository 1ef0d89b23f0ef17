/* Messages as text, "Name field=value ...", in the notation of the shared test
 * vectors (firmware/tests/vectors.txt): field names of espnowgw.messages, integers in
 * decimal, MACs, bytes and text in hex; PEER_LIST records as mac/channel/flags joined
 * by commas. Used by the tests and by --trace. */
#ifndef GW_TEXT_H
#define GW_TEXT_H

#include <stddef.h>

#include "gw_msg.h"

/* Write the text (NUL-terminated, cut to room); return the length it needs. */
size_t gw_msg_format(const gw_msg_t *msg, char *out, size_t room);

#endif
