/* SPDX-License-Identifier: MIT */
/* Temporary (integration): weak fallbacks until server.c and capture_dump.c land. */
#include <errno.h>
#include <stdio.h>
#include "htracr/capture.h"
#include "htracr/server.h"
__attribute__((weak)) struct server *server_new(const struct server_opts *o, struct store *st,
                                                const struct server_ctl *ctl, char errbuf[SERVER_ERRBUF])
{ (void)o; (void)st; (void)ctl; snprintf(errbuf, SERVER_ERRBUF, "web UI not built yet"); return NULL; }
__attribute__((weak)) void server_notify(struct server *srv) { (void)srv; }
__attribute__((weak)) const char *server_url(const struct server *srv) { (void)srv; return ""; }
__attribute__((weak)) void server_free(struct server *srv) { (void)srv; }
__attribute__((weak)) struct capture_dump *capture_dump_open(const char *path, int linktype, uint32_t snaplen, char errbuf[CAPTURE_ERRBUF])
{ (void)path; (void)linktype; (void)snaplen; snprintf(errbuf, CAPTURE_ERRBUF, "-w not built yet"); errno = ENOTSUP; return NULL; }
__attribute__((weak)) int capture_dump_write(struct capture_dump *d, const struct capture_rec *rec) { (void)d; (void)rec; return 0; }
__attribute__((weak)) int capture_dump_flush(struct capture_dump *d) { (void)d; return 0; }
__attribute__((weak)) int capture_dump_close(struct capture_dump *d) { (void)d; return 0; }
