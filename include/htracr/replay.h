/* SPDX-License-Identifier: MIT */
/*
 * replay.h - making a captured request again ("click a request to re-make
 * it" in the UI).
 *
 * Not a pipeline stage: the controller copies a request out of the model
 * (under the store lock) and hands it here; a detached thread sends it to
 * the same server and reads the answer to the end, so the exchange crosses
 * the wire and is captured like any other. Only requests without a body.
 */
#ifndef HTRACR_REPLAY_H
#define HTRACR_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "htracr/decode.h"

struct store_message;

#define REPLAY_MAX 65536 /* bytes of request head */

/* Build the request head of m (its method, URL, version 1.1 and headers as
 * captured, with Connection: close) into buf. Returns its length, or
 * -E2BIG / -EINVAL (no method or URL). */
int replay_format(const struct store_message *m, char *buf, size_t size);

/* Send head (len bytes, copied) to addr:port from a new thread, read the
 * response until the server closes (at most 10 s), then close. 0, or a
 * negative errno when the thread could not start. */
int replay_send(const struct ip_addr *addr, uint16_t port, const char *head, size_t len);

#endif
