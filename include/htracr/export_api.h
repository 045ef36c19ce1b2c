/* SPDX-License-Identifier: MIT */
/*
 * export_api.h - the JSON documents of the web API (docs/api.md): the
 * compact model for the timeline with incremental fetching, one packet in
 * full with its payload, the status object and the websocket feed's frames.
 *
 * Last stage beside export.h, and like it read-only on the store: the
 * server (server.c) calls these with the store lock held, writing into a
 * memory buffer, and sends the bytes after releasing the lock. Connection
 * and message objects are spelled as in docs/json.md (export_json.c), except
 * the compact packets.
 */
#ifndef HTRACR_EXPORT_API_H
#define HTRACR_EXPORT_API_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct store;
struct store_conn;
struct store_message;
struct server_status;

/* The model for /api/model. When have_gen is the store's generation, only
 * the connections changed after seq since are written ("full": false);
 * otherwise every connection ("full": true). The document's "reply" is a
 * new number (store_reply_next); have_reply is the one of the last reply
 * the reader merged (0: none known). Caller holds the store lock.
 *
 * opts: EXPORT_API_TAILS, the reader merges tails (docs/api.md). A changed
 * connection a mark covers is then written from that mark on, with a "tail"
 * member saying where; every connection written is marked
 * (store_conn_mark), with this reply's number, so that the reader's next
 * fetch can be given a tail even of a connection written after the lock
 * was let go (its change is then after this document's "seq").
 * EXPORT_API_ROWS: messages as rows ("message_fields").
 * EXPORT_API_REL ("relative": true): a packet's time, and a message row's
 * start_us, count from its connection's start_us; a row's end_us from its
 * own start.
 *
 * yield (may be NULL) is called between connections every
 * EXPORT_API_YIELD_WORK packets and messages written, with the current
 * connection pinned (store_pin): the server's store_lock_yield(), so the
 * capture thread is not kept waiting for the whole model. What changed
 * meanwhile is in the document or has a mod_seq above its "seq" (the seq
 * when writing began), so the next fetch has it. When the model was
 * replaced or the pinned connection went away meanwhile, -EAGAIN: what was
 * written to f is to be thrown away.
 * 0 or -errno (-ENOMEM, -EIO for a write error, -EAGAIN). */
#define EXPORT_API_YIELD_WORK 20000
#define EXPORT_API_TAILS 1u
#define EXPORT_API_ROWS 2u
#define EXPORT_API_REL 4u
int export_api_model(struct store *st, uint64_t have_gen, uint64_t since, uint64_t have_reply,
                     unsigned opts, FILE *f, int (*yield)(void *ctx), void *ctx);

/* Packet idx of connection conn_id in full, with its payload (hex and
 * printable text) from the kept raw bytes. -ENOENT when the connection, the
 * packet or its bytes are not in the store, with the reason (a one-line,
 * lower-case sentence for the user) in errbuf; nothing is written then.
 * Caller holds the store lock. 0 or -errno. */
int export_api_packet(struct store *st, uint64_t conn_id, uint32_t idx, FILE *f, char *errbuf,
                      size_t errlen);

/* The status object of /api/status: ss as the controller filled it, plus
 * what the store knows (counters, generation, seq, memory). Caller holds
 * the store lock. 0 or -errno. */
int export_api_status(struct store *st, const struct server_status *ss, FILE *f);

/* One websocket feed frame: {"generation":G,"seq":S}, with "stats" (as in
 * the status object) when ss is not NULL. Caller holds the store lock.
 * 0 or -errno. */
int export_api_feed(struct store *st, const struct server_status *ss, FILE *f);

/* The connection holding message msg_id, and the message in *m; NULL when
 * no connection in the store has it. Linear in connections (each checked by
 * its id range, then a binary search). Caller holds the store lock. */
struct store_conn *export_api_find_message(struct store *st, uint64_t msg_id,
                                           struct store_message **m);

/* The connection with id conn_id, or NULL. Caller holds the store lock. */
struct store_conn *export_api_find_conn(struct store *st, uint64_t conn_id);

#endif
