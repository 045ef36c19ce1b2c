/* SPDX-License-Identifier: MIT */
/*
 * api_drv.c - a stand-in controller for tests/integration/api.py: loads a
 * capture file into a store through the pipeline, as `htracr -r FILE`
 * does, and serves it with server.c until SIGINT or SIGTERM.
 *
 * It sits where main.c sits in the real program (the controller behind
 * struct server_ctl), so the API can be tested on its own: start and stop
 * answer "not live" (409), clear and upload replace the model under the
 * store lock, settings change the sniffed ports, the pcap download writes
 * the kept raw packets, and replay is not offered (501).
 *
 *   api_drv CAPTURE PORT [UPLOAD_LIMIT [WEB_ROOT]]
 *
 * With API_DRV_LIVE=1 in the environment, the status says live and
 * capturing (nothing else changes), so the feed's stats frames show.
 * With API_DRV_TRICKLE=N, the capture is fed after the server starts, N
 * records at a time under the store lock with a millisecond between, as
 * live capture grows the model; "fed" goes to stdout once it is all in and
 * finished.
 * PORT 0 picks a free port. The first line on stdout is the server's URL;
 * the process then waits for a signal, frees everything and exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "htracr/capture.h"
#include "htracr/export.h"
#include "htracr/log.h"
#include "htracr/pipeline.h"
#include "htracr/server.h"
#include "htracr/store.h"

struct drv {
    struct store *st;
    struct pipeline *pl;
    struct flow_opts fo;
    int live;
};

static void drv_status(void *ctx, struct server_status *out)
{
    struct drv *d = ctx;

    out->live = d->live;
    out->capturing = d->live;
    store_lock(d->st);
    snprintf(out->source, sizeof(out->source), "%s",
             store_source(d->st) ? store_source(d->st) : "");
    store_unlock(d->st);
    snprintf(out->backend, sizeof(out->backend), "file");
    out->nports = d->fo.nports < SERVER_MAX_PORTS ? d->fo.nports : SERVER_MAX_PORTS;
    for (int i = 0; i < out->nports; i++)
        out->ports[i] = d->fo.ports[i];
}

static int drv_not_live(void *ctx, char *errbuf)
{
    (void)ctx;
    snprintf(errbuf, SERVER_ERRBUF, "not live: this run shows a capture file");
    return -EOPNOTSUPP;
}

static int drv_clear(void *ctx, char *errbuf)
{
    struct drv *d = ctx;
    (void)errbuf;
    store_lock(d->st);
    pipeline_clear(d->pl);
    store_unlock(d->st);
    return 0;
}

static int drv_set_ports(void *ctx, const uint16_t *ports, int nports, char *errbuf)
{
    struct drv *d = ctx;
    if (nports > FLOW_MAX_PORTS) {
        snprintf(errbuf, SERVER_ERRBUF, "too many ports: at most %d", FLOW_MAX_PORTS);
        return -EINVAL;
    }
    store_lock(d->st);
    pipeline_set_ports(d->pl, ports, nports);
    store_unlock(d->st);
    for (int i = 0; i < nports; i++)
        d->fo.ports[i] = ports[i];
    d->fo.nports = nports;
    return 0;
}

static int drv_load(void *ctx, const void *data, size_t len, const char *name, char *errbuf)
{
    struct drv *d = ctx;
    char cerr[CAPTURE_ERRBUF] = "";
    struct capture *cap = capture_open_mem(data, len, cerr);

    if (!cap) {
        snprintf(errbuf, SERVER_ERRBUF, "%s", cerr);
        return -EINVAL;
    }
    store_lock(d->st);
    pipeline_clear(d->pl);
    char src[160];
    snprintf(src, sizeof(src), "upload:%s", name ? name : "(no name)");
    store_set_source(d->st, src);
    if (pipeline_run(d->pl, cap, cerr) < 0)
        log_msg(LOG_WARN, "%s (the records before it are shown)", cerr);
    pipeline_finish(d->pl);
    store_unlock(d->st);
    capture_close(cap);
    return 0;
}

static int drv_write_pcap(void *ctx, FILE *f, char *errbuf)
{
    struct drv *d = ctx;
    int r;

    store_lock(d->st);
    r = export_pcap(d->st, f, NULL);
    store_unlock(d->st);
    if (r == -ENOENT)
        snprintf(errbuf, SERVER_ERRBUF, "no raw packets were kept to write");
    else if (r < 0)
        snprintf(errbuf, SERVER_ERRBUF, "writing the pcap failed: %s", strerror(-r));
    return r;
}

int main(int argc, char **argv)
{
    struct drv d = {0};
    struct server *srv = NULL;
    struct capture *cap = NULL;
    char errbuf[SERVER_ERRBUF > CAPTURE_ERRBUF ? SERVER_ERRBUF : CAPTURE_ERRBUF] = "";
    sigset_t set;
    int sig, ret = 1;

    if (argc < 3) {
        fprintf(stderr, "usage: api_drv CAPTURE PORT [UPLOAD_LIMIT [WEB_ROOT]]\n");
        return 2;
    }
    /* block the signals before any thread starts, then wait for one */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    struct store_opts so = {
        .max_memory = 256u << 20,
        .body_limit = 1u << 20,
        .keep_raw = 1,
    };
    d.live = getenv("API_DRV_LIVE") && strcmp(getenv("API_DRV_LIVE"), "1") == 0;
    d.fo.ports[0] = 80;
    d.fo.nports = 1;
    d.fo.sniff_http = 1;
    d.fo.idle_timeout_us = 300LL * 1000000;
    d.fo.close_linger_us = 10LL * 1000000;
    d.st = store_new(&so);
    if (!d.st)
        goto out;
    d.pl = pipeline_new(d.st, &d.fo);
    if (!d.pl)
        goto out;
    cap = capture_open_file(argv[1], errbuf);
    if (!cap) {
        fprintf(stderr, "api_drv: %s\n", errbuf);
        goto out;
    }
    store_set_source(d.st, capture_describe(cap));
    int trickle = getenv("API_DRV_TRICKLE") ? atoi(getenv("API_DRV_TRICKLE")) : 0;
    if (!trickle) {
        if (pipeline_run(d.pl, cap, errbuf) < 0)
            fprintf(stderr, "api_drv: %s\n", errbuf);
        pipeline_finish(d.pl);
    }

    struct server_ctl ctl = {
        .ctx = &d,
        .status = drv_status,
        .start = drv_not_live,
        .stop = drv_not_live,
        .clear = drv_clear,
        .set_ports = drv_set_ports,
        .load_pcap = drv_load,
        .write_pcap = drv_write_pcap,
    };
    struct server_opts o = {
        .listen_addr = "127.0.0.1",
        .port = atoi(argv[2]),
        .upload_limit = argc > 3 ? strtoull(argv[3], NULL, 10) : 0,
        .web_root = argc > 4 && argv[4][0] ? argv[4] : NULL,
    };
    srv = server_new(&o, d.st, &ctl, errbuf);
    if (!srv) {
        fprintf(stderr, "api_drv: %s\n", errbuf);
        goto out;
    }
    printf("%s\n", server_url(srv));
    fflush(stdout);
    if (trickle) {
        struct capture_rec rec = {0};
        int r = 1;
        while (r == 1) {
            store_lock(d.st);
            for (int i = 0; i < trickle && (r = capture_next(cap, &rec, errbuf)) == 1; i++)
                pipeline_record(d.pl, &rec);
            if (r != 1)
                pipeline_finish(d.pl);
            store_unlock(d.st);
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        if (r < 0)
            fprintf(stderr, "api_drv: %s\n", errbuf);
        printf("fed\n");
        fflush(stdout);
    }
    if (sigwait(&set, &sig) == 0)
        ret = 0;
out:
    server_free(srv);
    capture_close(cap);
    pipeline_free(d.pl);
    store_free(d.st);
    return ret;
}
