/* SPDX-License-Identifier: MIT */
/*
 * main.c - the command line: parse options, open the capture source, run the
 * pipeline, write the outputs.
 *
 *   htracr [options] [listen-port] [iface]
 *   htracr -r trace.pcap --har out.har
 *
 * Errors name the bad value and the fix, and exit 2 (usage) or 1 (runtime).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "htracr/capture.h"
#include "htracr/export.h"
#include "htracr/log.h"
#include "htracr/pipeline.h"
#include "htracr/store.h"

#define DEFAULT_MAX_MEMORY (256ULL << 20)
#define DEFAULT_BODY_LIMIT (1ULL << 20)

struct output {
    const char *path; /* NULL = not wanted; "-" = stdout */
    FILE *f;
};

struct cli {
    const char *read;
    const char *iface;
    int listen_port;
    struct flow_opts flow;
    int ports_explicit;
    size_t max_memory;
    size_t body_limit;
    int body_limit_given;
    int no_ui;
    struct output json, jsonl, har;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: htracr [options] [listen-port] [iface]\n"
            "       htracr -r FILE [--json FILE|-] [--jsonl FILE|-] [--har FILE|-]\n"
            "\n"
            "See HTTP on the wire: every connection, packet and message.\n"
            "\n"
            "options:\n"
            "  -r, --read FILE        read a pcap/pcapng file (gzip'd too; - is stdin)\n"
            "  -i, --iface IFACE      interface to capture on (live capture)\n"
            "  -p, --port PORT[,..]   HTTP server ports (repeatable; default 80). In files,\n"
            "                         HTTP on other ports is found unless -p is given\n"
            "      --json FILE|-      write the whole model as JSON (docs/json.md)\n"
            "      --jsonl FILE|-     write one JSON line per HTTP transaction\n"
            "      --har FILE|-       write HAR 1.2\n"
            "      --no-ui            do not serve the web UI\n"
            "      --max-memory SIZE  memory budget for the model (default 256M)\n"
            "      --body-limit SIZE  decoded body bytes kept per message (default 1M)\n"
            "  -v, --verbose          more messages (repeat for debug)\n"
            "  -q, --quiet            errors only\n"
            "      --version          print the version\n"
            "  -h, --help             this text\n"
            "\n"
            "SIZE takes a K, M or G suffix. Without any output option a summary of\n"
            "the transactions is printed.\n");
}

/* "256M" -> bytes. 0 on success. */
static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return -EINVAL;
    unsigned long long mul = 1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mul = 1ULL << 10; break;
        case 'm': case 'M': mul = 1ULL << 20; break;
        case 'g': case 'G': mul = 1ULL << 30; break;
        default: return -EINVAL;
        }
        end++;
        if (*end == 'B' || *end == 'b' || (*end == 'i' && (end[1] == 'B' || end[1] == 'b')))
            end += *end == 'i' ? 2 : 1;
        if (*end)
            return -EINVAL;
    }
    if (v > SIZE_MAX / mul)
        return -ERANGE;
    *out = (size_t)(v * mul);
    return 0;
}

static int parse_port(const char *s, uint16_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > 65535)
        return -EINVAL;
    *out = (uint16_t)v;
    return 0;
}

static int add_ports(struct cli *cli, const char *arg)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", arg);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint16_t port;
        if (parse_port(tok, &port) < 0) {
            log_msg(LOG_ERROR, "bad port '%s' in -p %s: give numbers 1-65535, e.g. -p 80,8080",
                    tok, arg);
            return -EINVAL;
        }
        if (cli->flow.nports >= FLOW_MAX_PORTS) {
            log_msg(LOG_ERROR, "too many ports in -p: at most %d", FLOW_MAX_PORTS);
            return -EINVAL;
        }
        cli->flow.ports[cli->flow.nports++] = port;
    }
    return 0;
}

enum { OPT_JSON = 1000, OPT_JSONL, OPT_HAR, OPT_NO_UI, OPT_MAX_MEMORY, OPT_BODY_LIMIT,
       OPT_VERSION };

static int parse_args(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"read", required_argument, NULL, 'r'},
        {"iface", required_argument, NULL, 'i'},
        {"port", required_argument, NULL, 'p'},
        {"json", required_argument, NULL, OPT_JSON},
        {"jsonl", required_argument, NULL, OPT_JSONL},
        {"har", required_argument, NULL, OPT_HAR},
        {"no-ui", no_argument, NULL, OPT_NO_UI},
        {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
        {"body-limit", required_argument, NULL, OPT_BODY_LIMIT},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int verbose = 0, quiet = 0, c;

    cli->max_memory = DEFAULT_MAX_MEMORY;
    cli->body_limit = DEFAULT_BODY_LIMIT;
    cli->listen_port = -1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":r:i:p:vqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': cli->read = optarg; break;
        case 'i': cli->iface = optarg; break;
        case 'p':
            if (add_ports(cli, optarg) < 0)
                return -EINVAL;
            cli->ports_explicit = 1;
            break;
        case OPT_JSON: cli->json.path = optarg; break;
        case OPT_JSONL: cli->jsonl.path = optarg; break;
        case OPT_HAR: cli->har.path = optarg; break;
        case OPT_NO_UI: cli->no_ui = 1; break;
        case OPT_MAX_MEMORY:
            if (parse_size(optarg, &cli->max_memory) < 0 || cli->max_memory < (1u << 20)) {
                log_msg(LOG_ERROR, "bad --max-memory '%s': give a size of at least 1M, e.g. 512M",
                        optarg);
                return -EINVAL;
            }
            break;
        case OPT_BODY_LIMIT:
            cli->body_limit_given = 1;
            if (parse_size(optarg, &cli->body_limit) < 0 || cli->body_limit > (1u << 30)) {
                log_msg(LOG_ERROR, "bad --body-limit '%s': give a size up to 1G, e.g. 64K or 0",
                        optarg);
                return -EINVAL;
            }
            break;
        case 'v': verbose++; break;
        case 'q': quiet = 1; break;
        case OPT_VERSION: printf("htracr %s\n", HTRACR_VERSION); exit(0);
        case 'h': usage(stdout); exit(0);
        case ':':
            log_msg(LOG_ERROR, "option '%s' needs a value (see htracr --help)", argv[optind - 1]);
            return -EINVAL;
        default:
            log_msg(LOG_ERROR, "unknown option '%s' (see htracr --help)", argv[optind - 1]);
            return -EINVAL;
        }
    }
    log_set_level(quiet ? LOG_ERROR : verbose ? LOG_DEBUG : LOG_INFO);
    /* The original's positional form: [listen-port] [iface]. */
    if (optind < argc) {
        uint16_t port;
        if (parse_port(argv[optind], &port) < 0) {
            log_msg(LOG_ERROR, "bad listen port '%s': give a number 1-65535, e.g. htracr 8000",
                    argv[optind]);
            return -EINVAL;
        }
        cli->listen_port = port;
        optind++;
    }
    if (optind < argc) {
        if (cli->iface) {
            log_msg(LOG_ERROR, "interface given twice ('%s' and '%s')", cli->iface, argv[optind]);
            return -EINVAL;
        }
        cli->iface = argv[optind++];
    }
    if (optind < argc) {
        log_msg(LOG_ERROR, "unexpected argument '%s' (see htracr --help)", argv[optind]);
        return -EINVAL;
    }
    int to_stdout = 0;
    const struct output *outs[] = {&cli->json, &cli->jsonl, &cli->har};
    for (int i = 0; i < 3; i++)
        to_stdout += outs[i]->path && strcmp(outs[i]->path, "-") == 0;
    if (to_stdout > 1) {
        log_msg(LOG_ERROR, "only one of --json, --jsonl, --har can write to standard output");
        return -EINVAL;
    }
    if (!cli->ports_explicit) {
        cli->flow.ports[0] = 80;
        cli->flow.nports = 1;
    }
    return 0;
}

static int open_output(struct output *o, const char *what)
{
    if (!o->path)
        return 0;
    if (strcmp(o->path, "-") == 0) {
        o->f = stdout;
        return 0;
    }
    o->f = fopen(o->path, "w");
    if (!o->f) {
        log_msg(LOG_ERROR, "cannot write %s output '%s': %s", what, o->path, strerror(errno));
        return -errno;
    }
    setvbuf(o->f, NULL, _IOFBF, 256 * 1024);
    return 0;
}

static int close_output(struct output *o, const char *what)
{
    int r = 0;
    if (!o->f)
        return 0;
    if (fflush(o->f) != 0 || ferror(o->f))
        r = -EIO;
    if (o->f != stdout && fclose(o->f) != 0)
        r = -EIO;
    if (r < 0)
        log_msg(LOG_ERROR, "writing %s output '%s' failed: %s", what, o->path, strerror(errno));
    o->f = NULL;
    return r;
}

struct run_ctx {
    struct cli *cli;
    int summary;
    int write_error;
};

static void print_summary_conn(const struct store_conn *c, struct store *st)
{
    char ca[64], sa[64];
    decode_addr_str(&c->client_addr, ca, sizeof(ca));
    decode_addr_str(&c->server_addr, sa, sizeof(sa));
    printf("connection %u  %s:%u -> %s:%u  %u packets  %s\n", c->id, ca, c->client_port, sa,
           c->server_port, c->npackets,
           c->close == CLOSE_FIN ? "closed" : c->close == CLOSE_RST ? "reset" : "open");
    for (uint32_t i = 0; i < c->nmessages; i++) {
        const struct store_message *m = c->messages[i];
        if (m->kind == MSG_REQUEST) {
            const struct store_message *r = m->response ? store_conn_message(c, m->response) : NULL;
            printf("  %s %s", m->method ? m->method : "?", m->url ? m->url : "?");
            if (r && r->http_major == 0)
                printf("  -> (HTTP/0.9 response)  %llu B", (unsigned long long)r->body_bytes);
            else if (r)
                printf("  -> %u %s  %llu B", r->status, r->reason ? r->reason : "",
                       (unsigned long long)r->body_bytes);
            if (r && r->ttfb_us >= 0)
                printf("  ttfb %.1f ms", r->ttfb_us / 1000.0);
            if (m->error)
                printf("  [%s]", m->error);
            if (r && r->error)
                printf("  [%s]", r->error);
            printf("\n");
        } else if (!m->request) {
            printf("  (no request) -> %u %s%s%s\n", m->status, m->reason ? m->reason : "",
                   m->error ? "  " : "", m->error ? m->error : "");
        }
    }
}

static void on_finish(void *ctx, struct store *st, struct store_conn *c)
{
    struct run_ctx *rc = ctx;
    if (rc->cli->jsonl.f && export_jsonl_conn(st, c, rc->cli->jsonl.f) < 0)
        rc->write_error = 1;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    struct run_ctx rc = {.cli = &cli};
    struct store *st = NULL;
    struct pipeline *pl = NULL;
    struct capture *cap = NULL;
    char errbuf[CAPTURE_ERRBUF] = "";
    int ret = 1;

    if (parse_args(&cli, argc, argv) < 0)
        return 2;
    if (!cli.read) {
        log_msg(LOG_ERROR, "live capture is not built yet: read a capture file with -r FILE "
                           "(e.g. one written by tcpdump -w)");
        return 2;
    }
    if (cli.listen_port >= 0 && !cli.no_ui)
        log_msg(LOG_WARN, "the web UI is not built yet: ignoring listen port %d",
                cli.listen_port);
    cli.flow.sniff_http = !cli.ports_explicit;
    cli.flow.idle_timeout_us = 300LL * 1000000;
    cli.flow.close_linger_us = 10LL * 1000000;

    rc.summary = !cli.json.path && !cli.jsonl.path && !cli.har.path;
    int stream = cli.jsonl.path && !cli.json.path && !cli.har.path;
    /* JSONL carries no bodies: unless asked, do not decode or keep them. */
    if (stream && !cli.body_limit_given)
        cli.body_limit = 0;
    struct store_opts so = {
        .max_memory = cli.max_memory,
        .body_limit = cli.body_limit,
        /* Only JSONL: stream, so memory stays flat on any file size. */
        .stream = stream,
        .on_finish = on_finish,
        .ctx = &rc,
    };

    cap = capture_open_file(cli.read, errbuf);
    if (!cap) {
        log_msg(LOG_ERROR, "%s", errbuf);
        goto out;
    }
    if (open_output(&cli.json, "JSON") < 0 || open_output(&cli.jsonl, "JSONL") < 0 ||
        open_output(&cli.har, "HAR") < 0)
        goto out;
    st = store_new(&so);
    if (!st) {
        log_msg(LOG_ERROR, "out of memory");
        goto out;
    }
    store_set_source(st, capture_describe(cap));
    pl = pipeline_new(st, &cli.flow);
    if (!pl) {
        log_msg(LOG_ERROR, "out of memory");
        goto out;
    }
    int r = pipeline_run(pl, cap, errbuf);
    if (r < 0)
        log_msg(LOG_WARN, "%s (the records before it are shown)", errbuf);
    pipeline_finish(pl);

    if (cli.json.f && export_json(st, cli.json.f) < 0)
        rc.write_error = 1;
    if (cli.har.f && export_har(st, cli.har.f) < 0)
        rc.write_error = 1;
    if (rc.summary)
        for (struct store_conn *c = store_first(st); c; c = store_next(c))
            print_summary_conn(c, st);

    const struct store_stats *ss = store_stats(st);
    const struct decode_stats *ds = pipeline_decode_stats(pl);
    const struct flow_stats *fs = pipeline_flow_stats(pl);
    log_msg(LOG_DEBUG,
            "%llu packets (%llu TCP), %llu connections, %llu requests, %llu responses, "
            "%llu decode errors, %llu non-HTTP flows ignored, %llu evicted",
            (unsigned long long)ss->packets, (unsigned long long)ds->tcp,
            (unsigned long long)ss->connections, (unsigned long long)ss->requests,
            (unsigned long long)ss->responses, (unsigned long long)ss->decode_errors,
            (unsigned long long)fs->ignored_flows, (unsigned long long)ss->evicted_connections);
    struct capture_stats cst;
    capture_get_stats(cap, &cst);
    if (cst.bad_timestamps)
        log_msg(LOG_WARN, "%llu records had impossible timestamps (before 1970 or after 2255): "
                "clamped", (unsigned long long)cst.bad_timestamps);
    if (ds->unknown_linktype)
        log_msg(LOG_WARN, "%llu records of a link type htracr does not decode were skipped",
                (unsigned long long)ds->unknown_linktype);
    if (ss->decode_errors > ds->unknown_linktype)
        log_msg(LOG_WARN, "%llu malformed packets skipped (see stats.decode_errors)",
                (unsigned long long)(ss->decode_errors - ds->unknown_linktype));
    if (ss->alloc_failures)
        log_msg(LOG_WARN, "%llu allocations failed under the memory budget: data was lost",
                (unsigned long long)ss->alloc_failures);
    ret = rc.write_error ? 1 : 0;
out:
    if (close_output(&cli.json, "JSON") < 0 || close_output(&cli.jsonl, "JSONL") < 0 ||
        close_output(&cli.har, "HAR") < 0)
        ret = 1;
    pipeline_free(pl);
    store_free(st);
    capture_close(cap);
    return ret;
}
