/* SPDX-License-Identifier: MIT */
/*
 * server.h - the web UI's server: static assets from web/ (embedded at build
 * time, or from --web-root), the REST API under /api/ and a websocket feed of
 * changes. Only server.c includes civetweb.
 *
 * Last stage of the pipeline beside export: it reads the store (under
 * store_lock(), copying out what it needs, never holding the lock while it
 * writes to a socket) and changes nothing in it directly; what changes the
 * capture (start, stop, clear, ports, a loaded file, a request made again)
 * goes through the callbacks in struct server_ctl, which the program's
 * controller (main.c) implements. The API is documented in docs/api.md.
 */
#ifndef HTRACR_SERVER_H
#define HTRACR_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct store;
struct server;

#define SERVER_ERRBUF 256
#define SERVER_MAX_PORTS 64

/* What the status call and the page show about the capture. Filled by the
 * controller (it takes the store lock itself when it needs to). */
struct server_status {
    int live;         /* a live source (start/stop make sense) */
    int capturing;    /* live and switched on */
    char source[256]; /* "file:trace.pcap", "bpf:eth0", ... */
    char backend[16]; /* "file", "bpf", "pcap" */
    char attach[8];   /* bpf: "tc" or "socket"; else "" */
    char iface[64];   /* "" for all / not live */
    uint16_t ports[SERVER_MAX_PORTS];
    int nports;
    /* capture-side counters (store-side ones the server reads itself) */
    uint64_t ring_drops, socket_drops, skipped_bytes;
    uint64_t held; /* records that waited while a reader held the model */
    /* live records left out of an uploaded model (captured before it) */
    uint64_t left_out;
    /* -w: 1 writing, 0 stopped by an error (disk full...), -1 no -w; and
     * the files it started (-C) */
    int writing;
    uint64_t write_files;
    size_t memory_used, memory_budget;
};

/* Callbacks into the controller, made from civetweb's worker threads without
 * the store lock held. Each returns 0 or a negative errno, with a one-line
 * reason in errbuf (SERVER_ERRBUF bytes) for the page to show. */
struct server_ctl {
    void *ctx;
    void (*status)(void *ctx, struct server_status *out);
    int (*start)(void *ctx, char *errbuf);
    int (*stop)(void *ctx, char *errbuf);
    int (*clear)(void *ctx, char *errbuf);
    int (*set_ports)(void *ctx, const uint16_t *ports, int nports, char *errbuf);
    /* Replace the model with a capture file's (an upload); data borrowed.
     * name: the file's name as the page gave it (printable, no '/'), or
     * NULL. */
    int (*load_pcap)(void *ctx, const void *data, size_t len, const char *name, char *errbuf);
    /* Write what was captured (kept raw packets) as pcap to f. */
    int (*write_pcap)(void *ctx, FILE *f, char *errbuf);
    /* Make a request again (message id of a request): the controller sends it
     * to the same server; the exchange is captured like any other. */
    int (*replay)(void *ctx, uint64_t msg_id, char *errbuf);
};

struct server_opts {
    const char *listen_addr; /* default "127.0.0.1" */
    int port;                /* TCP port to listen on */
    const char *web_root;    /* serve web/ from this directory; NULL: embedded */
    size_t upload_limit;     /* bytes; 0: 256 MiB */
    int reset_nice;          /* 1: the caller's thread (the capture's,
                              * main.c) runs at a higher priority than nice
                              * 0; the server's threads, made with it, go
                              * back to nice 0 as they start */
};

/* Start serving. NULL with a one-line reason in errbuf (e.g. the port is
 * taken: name it, and what to do). The token for state-changing calls is
 * made here (random, per run). */
struct server *server_new(const struct server_opts *o, struct store *st,
                          const struct server_ctl *ctl, char errbuf[SERVER_ERRBUF]);

/* The model changed (call after a batch of records, outside the store lock):
 * wakes the websocket feed. Cheap; may be called often. */
void server_notify(struct server *srv);

/* "http://127.0.0.1:8000/" for the log line. */
const char *server_url(const struct server *srv);

/* Stop serving and free; server_free(NULL) is a no-op. */
void server_free(struct server *srv);

#endif
