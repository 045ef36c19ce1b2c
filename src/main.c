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
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <llhttp.h>

#include "htracr/capture.h"
#include "htracr/export.h"
#include "htracr/llhttp_simd.h"
#include "htracr/log.h"
#include "htracr/pipeline.h"
#include "htracr/export_api.h"
#include "htracr/priv.h"
#include "htracr/replay.h"
#include "htracr/server.h"
#include "htracr/store.h"

#define DEFAULT_MAX_MEMORY (256ULL << 20)
#define DEFAULT_BODY_LIMIT (1ULL << 20)
#define CAPTURE_NICE (-10) /* the live capture thread's nice value: raise_capture_priority() */

struct output {
    const char *path; /* NULL = not wanted; "-" = stdout */
    FILE *f;
    char *buf;    /* f's stdio buffer */
    int reported; /* a write error was said already: close_output adds none */
};

#define OUTPUT_BUF (256 * 1024)

struct cli {
    const char *read;
    const char *iface;
    const char *write;
    uint64_t write_size;  /* -C: bytes a -w file may pass before the next; 0 one file */
    uint32_t write_files; /* -W: files in -C's ring; 0 no bound */
    const char *listen_addr;
    char listen_buf[96]; /* --listen's value, cut apart (argv stays as given) */
    const char *web_root;
    int listen_port;
    enum capture_backend backend;
    enum capture_attach attach;
    uint32_t snaplen;
    uint64_t count;     /* -c: stop after this many packets */
    int64_t seconds;    /* -G: stop after this many seconds */
    int stats_interval; /* --stats-interval: seconds, 0 off */
    size_t upload_limit;
    size_t buffer_bytes; /* --buffer: ring / kernel buffer, 0 default */
    int no_dns;
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
    fprintf(f, "usage: htracr [options] [listen-port] [iface]\n"
               "       htracr -r FILE [--json FILE|-] [--jsonl FILE|-] [--har FILE|-]\n"
               "\n"
               "See HTTP on the wire: every connection, packet and message.\n"
               "\n"
               "options:\n"
               "  -r, --read FILE        read a pcap/pcapng file (gzip'd too; - is stdin)\n"
               "  -i, --iface IFACE      interface to capture on (default: all)\n"
               "  -w, --write FILE       write the captured packets as pcap (mode 0600)\n"
               "  -C SIZE                with -w: a new file past SIZE (FILE, FILE1, ...);\n"
               "                         a bare number is millions of bytes, as tcpdump's\n"
               "  -W COUNT               with -C: a ring of COUNT files (FILE0...), the\n"
               "                         oldest written over: the last COUNT x SIZE kept\n"
               "  -s, --snaplen BYTES    bytes kept per packet, live (default: all of it)\n"
               "      --backend KIND     live capture: bpf, pcap or auto (default auto:\n"
               "                         eBPF, else libpcap)\n"
               "      --attach WHERE     eBPF: tc (the interface's TCX hooks, Linux 6.6+),\n"
               "                         socket (a packet socket's filter) or auto (default:\n"
               "                         tc on one interface without a queue, else socket)\n"
               "  -c COUNT               live: stop capturing after COUNT packets\n"
               "  -G SECONDS             live: stop capturing after SECONDS\n"
               "      --stats-interval S print capture counters to stderr every S seconds\n"
               "      --listen ADDR[:PORT]  where the web UI listens (default 127.0.0.1:8000)\n"
               "      --web-root DIR     serve the UI's files from DIR (development)\n"
               "      --upload-limit SIZE   largest pcap upload (default 256M)\n"
               "      --no-dns           live: do not capture DNS (UDP 53)\n"
               "      --buffer SIZE      live: ring buffer (eBPF, default 32M) or kernel\n"
               "                         buffer (libpcap, default 32M)\n"
               "  -p, --port PORT[,..]   HTTP server ports (repeatable; default 80). In files,\n"
               "                         HTTP on other ports is found unless -p is given\n"
               "      --json FILE|-      write the whole model as JSON (docs/json.md)\n"
               "      --jsonl FILE|-     write one JSON line per HTTP transaction\n"
               "      --har FILE|-       write HAR 1.2\n"
               "      --no-ui            do not serve the web UI\n"
               "      --max-memory SIZE  memory budget for the model (default 256M)\n"
               "      --body-limit SIZE  decoded body bytes kept per message (default 1M\n"
               "                         with the UI, --json or --har; else 0)\n"
               "  -v, --verbose          debug messages (-vv: libbpf's too)\n"
               "  -q, --quiet            errors only\n"
               "      --version          print the version\n"
               "  -h, --help             this text\n"
               "\n"
               "SIZE takes a K, M or G suffix.\n"
               "\n"
               "Without -r, htracr captures live (root, or the capabilities named in\n"
               "docs) and serves the UI on listen-port (default 8000); with --no-ui it\n"
               "captures until Ctrl-C, -c or -G, then writes the outputs. With -r and no\n"
               "listen port it writes the outputs (or a summary) and exits; with a\n"
               "listen port it serves the file's timeline.\n");
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
        case 'k':
        case 'K': mul = 1ULL << 10; break;
        case 'm':
        case 'M': mul = 1ULL << 20; break;
        case 'g':
        case 'G': mul = 1ULL << 30; break;
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

/* Add port to ports[*n] unless it is there already (-p 80,80 is one
 * port, in the API too). 0, or -E2BIG when max are there. */
static int port_add_unique(uint16_t *ports, int *n, int max, uint16_t port)
{
    for (int i = 0; i < *n; i++)
        if (ports[i] == port)
            return 0;
    if (*n >= max)
        return -E2BIG;
    ports[(*n)++] = port;
    return 0;
}

static int add_ports(struct cli *cli, const char *arg)
{
    char buf[512];
    size_t len = strlen(arg);
    if (!len || arg[0] == ',' || arg[len - 1] == ',' || strstr(arg, ",,")) {
        log_msg(LOG_ERROR, "bad -p '%s': give ports 1-65535 separated by commas, e.g. -p 80,8080",
                arg);
        return -EINVAL;
    }
    snprintf(buf, sizeof(buf), "%s", arg);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        uint16_t port;
        if (parse_port(tok, &port) < 0) {
            log_msg(LOG_ERROR, "bad port '%s' in -p %s: give numbers 1-65535, e.g. -p 80,8080", tok,
                    arg);
            return -EINVAL;
        }
        if (port_add_unique(cli->flow.ports, &cli->flow.nports, FLOW_MAX_PORTS, port) < 0) {
            log_msg(LOG_ERROR, "too many ports in -p: at most %d", FLOW_MAX_PORTS);
            return -EINVAL;
        }
    }
    return 0;
}

enum {
    OPT_JSON = 1000,
    OPT_JSONL,
    OPT_HAR,
    OPT_NO_UI,
    OPT_MAX_MEMORY,
    OPT_BODY_LIMIT,
    OPT_VERSION,
    OPT_BACKEND,
    OPT_LISTEN,
    OPT_WEB_ROOT,
    OPT_UPLOAD_LIMIT,
    OPT_STATS_INTERVAL,
    OPT_NO_DNS,
    OPT_BUFFER,
    OPT_ATTACH
};

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* "ADDR", "ADDR:PORT", ":PORT", "[v6]:PORT" */
struct choice {
    const char *name;
    int value;
};

/* The value of keyword arg of option opt in tab (ended by a NULL name), or
 * -1 after an error line that says what to give. */
static int parse_choice(const char *opt, const char *arg, const struct choice *tab,
                        const char *give)
{
    for (; tab->name; tab++)
        if (strcmp(arg, tab->name) == 0)
            return tab->value;
    log_msg(LOG_ERROR, "bad %s '%s': give %s", opt, arg, give);
    return -1;
}

static int parse_listen(struct cli *cli, const char *given)
{
    char *port = NULL, *arg = cli->listen_buf;
    if (strlen(given) >= sizeof(cli->listen_buf))
        return -EINVAL;
    snprintf(cli->listen_buf, sizeof(cli->listen_buf), "%s", given);
    if (arg[0] == '[') {
        char *end = strchr(arg, ']');
        if (!end)
            return -EINVAL;
        *end = '\0';
        if (end[1] == ':')
            port = end + 2;
        else if (end[1])
            return -EINVAL;
        cli->listen_addr = arg + 1;
    } else {
        char *colon = strrchr(arg, ':');
        if (colon && strchr(arg, ':') == colon) {
            *colon = '\0';
            port = colon + 1;
        }
        cli->listen_addr = arg;
    }
    if (!cli->listen_addr[0])
        cli->listen_addr = NULL;
    if (port) {
        uint16_t p;
        if (parse_port(port, &p) < 0)
            return -EINVAL;
        cli->listen_port = p;
    }
    return 0;
}

/* A path that exists and is not a regular file: a device (/dev/null), a
 * pipe; two outputs may share it. */
static int not_a_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && !S_ISREG(sb.st_mode);
}

static int parse_args(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"read", required_argument, NULL, 'r'},
        {"write", required_argument, NULL, 'w'},
        {"snaplen", required_argument, NULL, 's'},
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"attach", required_argument, NULL, OPT_ATTACH},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"web-root", required_argument, NULL, OPT_WEB_ROOT},
        {"upload-limit", required_argument, NULL, OPT_UPLOAD_LIMIT},
        {"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL},
        {"no-dns", no_argument, NULL, OPT_NO_DNS},
        {"buffer", required_argument, NULL, OPT_BUFFER},
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
    cli->upload_limit = 256u << 20;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":r:i:p:w:s:c:G:C:W:vqh", longopts, NULL)) != -1) {
        unsigned long long v;
        switch (c) {
        case 'r': cli->read = optarg; break;
        case 'w': cli->write = optarg; break;
        case 's':
            if (parse_uint(optarg, 262144, &v) < 0 || v < 64) {
                log_msg(LOG_ERROR, "bad snaplen '%s': give 64-262144 bytes, e.g. -s 65535", optarg);
                return -EINVAL;
            }
            cli->snaplen = (uint32_t)v;
            break;
        case 'c':
            if (parse_uint(optarg, UINT64_MAX, &v) < 0 || v == 0) {
                log_msg(LOG_ERROR, "bad packet count '%s': give a number above 0, e.g. -c 1000",
                        optarg);
                return -EINVAL;
            }
            cli->count = v;
            break;
        case 'C': {
            /* tcpdump's unit, millions of bytes; or a SIZE with its suffix */
            size_t bytes = 0;
            int plain = parse_uint(optarg, UINT64_MAX / 1000000, &v) == 0;
            if (plain)
                bytes = (size_t)(v * 1000000);
            if ((!plain && parse_size(optarg, &bytes) < 0) || bytes < 1024) {
                log_msg(LOG_ERROR,
                        "bad -C '%s': give a file size of 1K or more, e.g. -C 100 (100 "
                        "million bytes, as tcpdump) or -C 64M",
                        optarg);
                return -EINVAL;
            }
            cli->write_size = bytes;
            break;
        }
        case 'W':
            if (parse_uint(optarg, CAPTURE_DUMP_MAX_FILES, &v) < 0 || v == 0) {
                log_msg(LOG_ERROR, "bad -W '%s': give a number of files, 1-%d, e.g. -W 10", optarg,
                        CAPTURE_DUMP_MAX_FILES);
                return -EINVAL;
            }
            cli->write_files = (uint32_t)v;
            break;
        case 'G':
            if (parse_uint(optarg, 100000000, &v) < 0 || v == 0) {
                log_msg(LOG_ERROR, "bad -G '%s': give seconds above 0, e.g. -G 60", optarg);
                return -EINVAL;
            }
            cli->seconds = (int64_t)v;
            break;
        case OPT_STATS_INTERVAL:
            if (parse_uint(optarg, 86400, &v) < 0 || v == 0) {
                log_msg(LOG_ERROR, "bad --stats-interval '%s': give seconds, e.g. 5", optarg);
                return -EINVAL;
            }
            cli->stats_interval = (int)v;
            break;
        case OPT_BACKEND: {
            static const struct choice tab[] = {{"bpf", CAPTURE_BPF},   {"ebpf", CAPTURE_BPF},
                                                {"pcap", CAPTURE_PCAP}, {"libpcap", CAPTURE_PCAP},
                                                {"auto", CAPTURE_AUTO}, {NULL, 0}};
            int k = parse_choice("--backend", optarg, tab, "bpf, pcap or auto");
            if (k < 0)
                return -EINVAL;
            cli->backend = (enum capture_backend)k;
            break;
        }
        case OPT_ATTACH: {
            static const struct choice tab[] = {{"tc", CAPTURE_ATTACH_TC},
                                                {"socket", CAPTURE_ATTACH_SOCKET},
                                                {"auto", CAPTURE_ATTACH_AUTO},
                                                {NULL, 0}};
            int k = parse_choice("--attach", optarg, tab, "tc, socket or auto");
            if (k < 0)
                return -EINVAL;
            cli->attach = (enum capture_attach)k;
            break;
        }
        case OPT_LISTEN:
            if (parse_listen(cli, optarg) < 0) {
                log_msg(LOG_ERROR,
                        "bad --listen '%s': give ADDR, ADDR:PORT or :PORT, "
                        "e.g. --listen 127.0.0.1:8000",
                        optarg);
                return -EINVAL;
            }
            if (cli->listen_port < 0)
                cli->listen_port = 8000;
            break;
        case OPT_WEB_ROOT: cli->web_root = optarg; break;
        case OPT_UPLOAD_LIMIT:
            if (parse_size(optarg, &cli->upload_limit) < 0 || cli->upload_limit < 1024) {
                log_msg(LOG_ERROR, "bad --upload-limit '%s': give a size, e.g. 512M", optarg);
                return -EINVAL;
            }
            break;
        case OPT_NO_DNS: cli->no_dns = 1; break;
        case OPT_BUFFER:
            if (parse_size(optarg, &cli->buffer_bytes) < 0 || cli->buffer_bytes < (64u << 10) ||
                cli->buffer_bytes > (1ULL << 30)) {
                log_msg(LOG_ERROR, "bad --buffer '%s': give a size from 64K to 1G, e.g. 64M",
                        optarg);
                return -EINVAL;
            }
            break;
        case 'i':
            if (cli->iface) {
                log_msg(LOG_ERROR,
                        "interface given twice ('%s' and '%s'): htracr captures on one, "
                        "or on all when -i is left out",
                        cli->iface, optarg);
                return -EINVAL;
            }
            cli->iface = optarg;
            break;
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
        case OPT_VERSION:
            printf("htracr %s (llhttp %d.%d.%d, %s)\n", HTRACR_VERSION, LLHTTP_VERSION_MAJOR,
                   LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH, llhttp_simd_name());
            exit(0);
        case 'h': usage(stdout); exit(0);
        case '?':
            if (optopt) {
                log_msg(LOG_ERROR, "unknown option '-%c' (see htracr --help)", optopt);
                return -EINVAL;
            }
            log_msg(LOG_ERROR, "unknown option '%s' (see htracr --help)", argv[optind - 1]);
            return -EINVAL;
        case ':':
            log_msg(LOG_ERROR, "option '%s' needs a value (see htracr --help)", argv[optind - 1]);
            return -EINVAL;
        default:
            log_msg(LOG_ERROR, "unknown option '%s' (see htracr --help)", argv[optind - 1]);
            return -EINVAL;
        }
    }
    log_set_level(quiet ? LOG_ERROR : verbose ? LOG_DEBUG : LOG_INFO);
    log_set_verbosity(quiet ? 0 : verbose);
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
    /* --attach tc is a request for one interface's hooks; refused rather
     * than quietly put on a socket on all of them. */
    if (cli->attach == CAPTURE_ATTACH_TC && !cli->read &&
        (!cli->iface || !*cli->iface || strcmp(cli->iface, "any") == 0)) {
        log_msg(LOG_ERROR, "--attach tc needs one interface (-i IFACE): the tc hooks are an "
                           "interface's own");
        return -EINVAL;
    }
    if (cli->attach != CAPTURE_ATTACH_AUTO && cli->backend == CAPTURE_PCAP)
        log_msg(LOG_WARN, "--attach is for the eBPF backend; --backend pcap ignores it");
    if ((cli->write_size || cli->write_files) && (!cli->write || strcmp(cli->write, "-") == 0)) {
        log_msg(LOG_ERROR, "-C and -W rotate the files of -w FILE: give one (not standard output)");
        return -EINVAL;
    }
    if (cli->write_files && !cli->write_size) {
        log_msg(LOG_ERROR, "-W %u counts the files -C makes: give -C SIZE too, e.g. -C 100 -W %u",
                cli->write_files, cli->write_files);
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
    /* Two outputs into one file: the second would write over the first
     * (a device, /dev/null say, or a pipe takes both). */
    const char *files[] = {cli->json.path, cli->jsonl.path, cli->har.path, cli->write, cli->read};
    const char *names[] = {"--json", "--jsonl", "--har", "-w", "-r"};
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (files[i] && files[j] && strcmp(files[i], "-") != 0 &&
                strcmp(files[i], files[j]) == 0 && !not_a_file(files[i])) {
                log_msg(LOG_ERROR, "%s and %s name the same file '%s': give each its own", names[i],
                        names[j], files[i]);
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
        /* Never freed: stdio may still touch stdout's buffer at exit. */
        static char stdout_buf[OUTPUT_BUF];
        o->f = stdout;
        setvbuf(stdout, stdout_buf, _IOFBF, sizeof(stdout_buf));
        return 0;
    }
    o->f = fopen(o->path, "w");
    if (!o->f) {
        log_msg(LOG_ERROR, "cannot write %s output '%s': %s", what, o->path, strerror(errno));
        return -errno;
    }
    /* glibc ignores the size when it allocates the buffer itself (it takes
     * the file's block size, 4 KiB): give it one, or a JSONL file is
     * written 4 KiB per write(2). */
    o->buf = malloc(OUTPUT_BUF);
    if (o->buf)
        setvbuf(o->f, o->buf, _IOFBF, OUTPUT_BUF);
    return 0;
}

/* A write error on output o (what: "JSON", ...), said once with its reason
 * however often it recurs; close_output then adds none. Sets *write_error
 * (when not NULL). */
static void output_failed(struct output *o, const char *what, int err, int *write_error)
{
    if (!o->reported)
        log_msg(LOG_ERROR, "writing %s output '%s' failed: %s", what, o->path,
                strerror(err < 0 ? -err : EIO));
    o->reported = 1;
    if (write_error)
        *write_error = 1;
}

static int close_output(struct output *o, const char *what)
{
    int r = 0;
    if (!o->f)
        return 0;
    /* the reason is the failing call's errno, not whatever errno held
     * (a signal's EINTR from long before, say) */
    errno = 0;
    if (fflush(o->f) != 0)
        r = errno ? -errno : -EIO;
    else if (ferror(o->f))
        r = -EIO;
    errno = 0;
    if (o->f != stdout && fclose(o->f) != 0 && r == 0)
        r = errno ? -errno : -EIO;
    if (r < 0 || o->reported) {
        output_failed(o, what, r, NULL);
        r = -EIO;
    }
    o->f = NULL;
    free(o->buf);
    o->buf = NULL;
    return r;
}

struct run_ctx {
    struct cli *cli;
    struct capture *live; /* for body-skip hints */
    uint64_t skip_hints, skip_errors;
    int summary;
    int write_error;
};

/* Summary mode: the lines of a connection the budget evicts, printed
 * before it goes; the summary at the end lists only what is left. */
static void on_evict(void *ctx, struct store *st, struct store_conn *c)
{
    (void)ctx, (void)st;
    export_summary_conn(c, stdout); /* a write error shows at the end's flush */
}

static void on_finish(void *ctx, struct store *st, struct store_conn *c)
{
    struct run_ctx *rc = ctx;
    int r;
    /* said when it happens: a full line's write(2) leaves no mark on the
     * stream for close_output to find */
    if (rc->cli->jsonl.f && (r = export_jsonl_conn(st, c, rc->cli->jsonl.f)) < 0)
        output_failed(&rc->cli->jsonl, "JSONL", r, &rc->write_error);
}

/*
 * The controller: owns the store, the pipeline, the capture source, the
 * pcap writer and the server, and runs the capture loop on the main thread.
 * The server's callbacks come from civetweb's threads: they change the
 * model only under the store lock, and ask the capture thread (through
 * app->ctl_lock) for changes that touch the capture handle, which is not
 * thread-safe for libpcap.
 */
struct app {
    struct cli *cli;
    struct run_ctx *rc;
    struct store *st;
    struct pipeline *pl;
    struct capture *cap; /* live source, or the file being read */
    struct capture_dump *dump;
    struct server *srv;
    int live;
    int locked;       /* the capture thread holds the store lock */
    int wanting;      /* ...and has told readers it wants it */
    uint64_t records; /* records taken from the source */
    /* Records taken from the source while a reader held the store lock, in
     * order, each a struct capture_rec then its bytes (see take_lock). */
    uint8_t *held;
    size_t held_len, held_cap;
    uint64_t held_records;    /* records that ever waited there */
    uint64_t held_snap;       /* held_records when they were last fed (store lock) */
    struct capture_stats cst; /* snapshot, under the store lock */
    uint64_t dump_files;      /* -w: files started, snapshot under the store lock */
    int dump_err;             /* -w: its sticky error, snapshot under the store lock */
    /* requests from the server threads, applied by the capture thread */
    pthread_mutex_t ctl_lock;
    /* Each request is numbered; the capture thread says which it applied,
     * so that a start, stop or port change is in force before the API
     * answers (traffic right after a "stop" must not be recorded). */
    pthread_cond_t ctl_cond;
    uint64_t ctl_asked, ctl_applied;
    int want_enabled, enabled;
    int ports_changed;
    uint16_t ports[FLOW_MAX_PORTS]; /* asked for */
    int nports;
    uint16_t ports_on[FLOW_MAX_PORTS]; /* in force: what status and settings say */
    int nports_on;
    int clear_on_start; /* the model shows an upload: start clears it */
    /* (store lock) The model is an upload's: live records that come after
     * it (taken from the kernel's ring, or waiting in held, after capture
     * went off) belonged to the model it replaced, and go into none. */
    int upload_shown;
    uint64_t left_out;      /* (store lock) records so left out */
    uint64_t left_out_said; /* (store lock) ... of which the log told */
    /* (store lock) the source's drop count when the model began (a clear,
     * an upload): the model's stats.dropped counts the drops after it */
    uint64_t drops_base;
    /* (atomic) a new model began: the capture thread's next refresh takes
     * drops_base from the source's counters as they are then (the snapshot
     * in cst may be a second old, and would put drops from before a clear
     * after it) */
    int rebase_drops;
    /* With the UI, -c or -G reached: capture is switched off and records
     * still in the kernel's buffers are not taken, until a start. */
    int limit_paused;
    /* Benchmark hook (bench/live's "capture only" row): records are taken
     * from the source and counted, then dropped unanalysed, so the cost of
     * the capture path can be told from that of the model. Set only by the
     * environment variable HTRACR_BENCH_CAPTURE_ONLY, with a warning. */
    int capture_only;
    char source[256];
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* While a reader holds the store lock (a download being written, the UI's
 * model), the capture thread does not wait for it: records are copied out
 * of the kernel's ring, which so keeps draining, into a->held, up to
 * HELD_MAX bytes, and fed in order once the lock is ours. Past the bound
 * it waits for the lock as before, and the kernel's ring takes the rest. */
#define HELD_MAX (64u << 20)
#define HELD_ALIGN 8

static size_t held_size(uint32_t caplen)
{
    return (sizeof(struct capture_rec) + caplen + HELD_ALIGN - 1) & ~(size_t)(HELD_ALIGN - 1);
}

/* Keep a copy of rec; 0, or -1 (bound reached, out of memory). */
static int held_add(struct app *a, const struct capture_rec *rec)
{
    size_t need = held_size(rec->caplen);
    if (a->held_len + need > HELD_MAX)
        return -1;
    if (a->held_len + need > a->held_cap) {
        size_t cap = a->held_cap ? a->held_cap : 1u << 20;
        while (cap < a->held_len + need)
            cap *= 2;
        uint8_t *p = realloc(a->held, cap);
        if (!p)
            return -1;
        a->held = p;
        a->held_cap = cap;
    }
    struct capture_rec *r = (struct capture_rec *)(a->held + a->held_len);
    *r = *rec;
    r->data = NULL; /* the bytes follow; the buffer may move before they are fed */
    memcpy(r + 1, rec->data, rec->caplen);
    a->held_len += need;
    a->held_records++;
    return 0;
}

/* With the lock: feed what waited, in order, and let its memory go when it
 * was a lot. */
static void held_feed(struct app *a)
{
    for (size_t off = 0; off < a->held_len;) {
        struct capture_rec r = *(const struct capture_rec *)(a->held + off);
        r.data = a->held + off + sizeof(r);
        if (a->upload_shown)
            a->left_out++;
        else
            pipeline_record(a->pl, &r);
        off += held_size(r.caplen);
    }
    a->held_len = 0;
    if (a->held_cap > (4u << 20)) {
        free(a->held);
        a->held = NULL;
        a->held_cap = 0;
    }
}

/* Take the store lock for the capture thread. wait: as store_lock();
 * otherwise only when free (0 when not). With it, what waited is fed. */
static int take_lock(struct app *a, int wait)
{
    if (a->locked)
        return 1;
    if (store_trylock(a->st) != 0) {
        if (!wait) {
            if (!a->wanting) {
                store_want_lock(a->st, 1);
                a->wanting = 1;
            }
            return 0;
        }
        store_lock(a->st);
    }
    if (a->wanting) {
        store_want_lock(a->st, 0);
        a->wanting = 0;
    }
    a->locked = 1;
    if (a->held_len) {
        held_feed(a);
        a->held_snap = a->held_records; /* for /api/status, as the model shows them */
    }
    return 1;
}

static void drop_lock(struct app *a)
{
    if (a->locked) {
        store_unlock(a->st);
        a->locked = 0;
    }
}

/* A record while the capture thread does not hold the lock (the first of
 * a batch, or each one while a reader has the model): 1 with the lock, or
 * 0 when rec waits in a->held for it. */
static __attribute__((noinline)) int lock_or_hold(struct app *a, const struct capture_rec *rec)
{
    if (take_lock(a, 0) || held_add(a, rec) < 0)
        return take_lock(a, 1);
    return 0;
}

static void on_record(void *ctx, const struct capture_rec *rec)
{
    struct app *a = ctx;
    if ((a->cli->count && a->records >= a->cli->count) || a->limit_paused)
        return; /* -c reached inside a batch, or (UI) paused there: not ours */
    a->records++;
    if (a->dump)
        capture_dump_write(a->dump, rec);
    if (__builtin_expect(a->capture_only, 0))
        return;
    if (__builtin_expect(!a->locked, 0) && !lock_or_hold(a, rec))
        return;
    if (__builtin_expect(a->upload_shown, 0)) {
        a->left_out++;
        return;
    }
    pipeline_record(a->pl, rec);
}

static void print_stats(struct app *a)
{
    const struct capture_stats *c = &a->cst;
    fprintf(stderr,
            "htracr: %llu packets, %llu bytes, %llu ring drops, %llu socket drops, "
            "%llu decode errors, %llu skipped payload bytes, %llu held while the model "
            "was busy\n",
            (unsigned long long)c->records, (unsigned long long)c->bytes,
            (unsigned long long)c->ring_drops, (unsigned long long)c->socket_drops,
            (unsigned long long)store_stats(a->st)->decode_errors,
            (unsigned long long)c->skipped_bytes, (unsigned long long)a->held_records);
}

/* Take the counters the source keeps into the snapshot and the model
 * (the capture thread, the lock held). */
static void refresh_stats_locked(struct app *a)
{
    struct capture_stats cs;
    capture_get_stats(a->cap, &cs);
    a->cst = cs;
    /* the drops while this model was captured: since it began live (a
     * clear meanwhile sets the flag again: the next refresh), none of an
     * upload's (its packets came from a file) */
    if (__atomic_exchange_n(&a->rebase_drops, 0, __ATOMIC_ACQ_REL))
        a->drops_base = cs.dropped;
    store_stats(a->st)->dropped =
        a->upload_shown || cs.dropped < a->drops_base ? 0 : cs.dropped - a->drops_base;
    a->dump_files = capture_dump_files(a->dump);
    a->dump_err = capture_dump_error(a->dump);
}

static void refresh_stats(struct app *a)
{
    take_lock(a, 1);
    refresh_stats_locked(a);
    drop_lock(a);
}

/* Apply what the server asked for (capture thread only). */
static void apply_requests(struct app *a)
{
    pthread_mutex_lock(&a->ctl_lock);
    uint64_t asked = a->ctl_asked;
    int want = a->want_enabled, ports_changed = a->ports_changed;
    uint16_t ports[FLOW_MAX_PORTS];
    int nports = a->nports;
    memcpy(ports, a->ports, sizeof(ports));
    a->ports_changed = 0;
    pthread_mutex_unlock(&a->ctl_lock);
    if (want != a->enabled) {
        int r = capture_set_enabled(a->cap, want);
        if (r < 0)
            log_msg(LOG_WARN, "cannot switch capture %s: %s", want ? "on" : "off", strerror(-r));
        else
            a->enabled = want;
        if (r == 0 && want)
            a->limit_paused = 0; /* started again from the page: no limit now */
    }
    if (ports_changed) {
        int r = capture_set_ports(a->cap, ports, nports);
        if (r < 0) {
            log_msg(LOG_WARN, "cannot change the captured ports: %s", strerror(-r));
        } else {
            pthread_mutex_lock(&a->ctl_lock);
            memcpy(a->ports_on, ports, sizeof(ports));
            a->nports_on = nports;
            pthread_mutex_unlock(&a->ctl_lock);
        }
    }
    if (asked != a->ctl_applied) {
        pthread_mutex_lock(&a->ctl_lock);
        a->ctl_applied = asked;
        pthread_cond_broadcast(&a->ctl_cond);
        pthread_mutex_unlock(&a->ctl_lock);
    }
}

/* Wait (server thread, ctl_lock held) until the capture thread has applied
 * request n: it does between two reads of the source, at most 100 ms
 * apart. 0, -ESHUTDOWN once htracr is stopping (the capture thread applies
 * nothing more: said at once, not after the 3 s), or -ETIMEDOUT after 3 s
 * (the capture thread stuck). */
static int ctl_wait_applied(struct app *a, uint64_t n, char *errbuf)
{
    int64_t until = wall_us() + 3000000;
    while (a->ctl_applied < n) {
        if (g_stop) {
            snprintf(errbuf, SERVER_ERRBUF, "htracr is stopping: capture takes no changes now");
            return -ESHUTDOWN;
        }
        int64_t now = wall_us();
        if (now >= until) {
            snprintf(errbuf, SERVER_ERRBUF, "the capture did not take the change within 3 s");
            return -ETIMEDOUT;
        }
        /* in slices of 100 ms: a signal sets g_stop, but cannot wake this */
        int64_t t = now + 100000 < until ? now + 100000 : until;
        struct timespec ts = {.tv_sec = t / 1000000, .tv_nsec = (t % 1000000) * 1000};
        pthread_cond_timedwait(&a->ctl_cond, &a->ctl_lock, &ts);
    }
    return 0;
}

/* Stopping: take what the kernel already captured (the ring's records, the
 * libpcap blocks it hands over on its block timeout) before the outputs are
 * written, so the last packets before Ctrl-C or -G are in the model. Ends
 * after 150 ms with nothing new, or 2 s in all. */
static void drain(struct app *a)
{
    char errbuf[CAPTURE_ERRBUF];
    int64_t start = wall_us(), last_data = start;

    while (!(a->cli->count && a->records >= a->cli->count)) {
        int n = capture_dispatch(a->cap, 4096, 20, on_record, a, errbuf);
        drop_lock(a);
        int64_t now = wall_us();
        if (n > 0)
            last_data = now;
        if (n < 0 || now - last_data >= 150000 || now - start >= 2000000)
            break;
    }
}

static int live_loop(struct app *a)
{
    char errbuf[CAPTURE_ERRBUF];
    int64_t start = wall_us(), last_tick = start, last_stats = start;
    int ret = 0;

    /* the snapshot the status and /metrics read, right from the start (the
     * first once-a-second refresh comes a second later: until then a -w
     * run said it had started no file) */
    refresh_stats(a);
    while (!g_stop) {
        apply_requests(a);
        if (__atomic_load_n(&a->rebase_drops, __ATOMIC_ACQUIRE))
            refresh_stats(a); /* a new model: its drops count from now */
        int n = capture_dispatch(a->cap, 4096, 100, on_record, a, errbuf);
        if (a->held_len)
            take_lock(a, 0); /* what waited need not wait for more records */
        drop_lock(a);
        if (n > 0 && a->srv)
            server_notify(a->srv);
        if (n < 0 && n != -EINTR && n != -EAGAIN) {
            log_msg(LOG_ERROR, "live capture failed: %s", errbuf[0] ? errbuf : strerror(-n));
            ret = -1;
            break;
        }
        /* A headless run is for its outputs: one that cannot be written
         * (a full disk, `| head` gone) ends it, as tcpdump -w does. With
         * the UI the page is the output: capture goes on. */
        if (a->rc->write_error && !a->srv) {
            log_msg(LOG_ERROR, "stopping the capture: an output cannot be written");
            break;
        }
        int64_t now = wall_us();
        int by_count = a->cli->count && a->records >= a->cli->count;
        if (by_count || (a->cli->seconds && now - start >= a->cli->seconds * 1000000)) {
            if (!a->srv)
                break;
            /* With the UI, the limit ends the capture, not the page: what
             * was captured stays to be looked at, and Start captures again
             * (without a limit). */
            log_msg(LOG_INFO,
                    "%s reached: capture stopped; the page still serves it (Start "
                    "captures again), Ctrl-C quits",
                    by_count ? "-c" : "-G");
            a->limit_paused = 1;
            a->cli->count = 0;
            a->cli->seconds = 0;
            pthread_mutex_lock(&a->ctl_lock);
            a->want_enabled = 0;
            a->ctl_asked++;
            pthread_mutex_unlock(&a->ctl_lock);
            server_notify(a->srv);
        }
        if (now - last_tick >= 1000000 && take_lock(a, 0)) {
            /* (a reader holding the model: next time round) */
            last_tick = now;
            pipeline_tick(a->pl, now);
            refresh_stats_locked(a);
            drop_lock(a);
            if (a->dump && capture_dump_flush(a->dump) < 0)
                a->rc->write_error = 1; /* said by the dump */
            /* JSONL is the mode left running: each line in the file within
             * a second, not when 256 KiB of them have filled the buffer (or
             * at exit, or never after a SIGKILL). */
            errno = 0;
            if (a->cli->jsonl.f && fflush(a->cli->jsonl.f) != 0)
                output_failed(&a->cli->jsonl, "JSONL", -errno, &a->rc->write_error);
            if (a->srv)
                server_notify(a->srv);
        }
        if (a->cli->stats_interval && now - last_stats >= a->cli->stats_interval * 1000000LL) {
            last_stats = now;
            print_stats(a);
        }
    }
    if (ret == 0)
        drain(a);
    refresh_stats(a);
    return ret;
}

/* Offline with a UI: serve until Ctrl-C. */
static void serve_loop(void)
{
    while (!g_stop)
        usleep(100 * 1000);
}

/* ---- the server's callbacks (civetweb threads) ---- */

static void ctl_status(void *ctx, struct server_status *o)
{
    struct app *a = ctx;
    memset(o, 0, sizeof(*o));
    o->live = a->live;
    pthread_mutex_lock(&a->ctl_lock);
    o->capturing = a->live && a->want_enabled;
    o->nports = a->nports_on < SERVER_MAX_PORTS ? a->nports_on : SERVER_MAX_PORTS;
    memcpy(o->ports, a->ports_on, sizeof(uint16_t) * (size_t)o->nports);
    pthread_mutex_unlock(&a->ctl_lock);
    store_lock(a->st);
    snprintf(o->source, sizeof(o->source), "%s", store_source(a->st));
    snprintf(o->backend, sizeof(o->backend), "%s", capture_backend_name(a->cap));
    snprintf(o->attach, sizeof(o->attach), "%s", capture_attach_name(a->cap));
    snprintf(o->iface, sizeof(o->iface), "%s", a->live && a->cli->iface ? a->cli->iface : "");
    o->ring_drops = a->cst.ring_drops;
    o->socket_drops = a->cst.socket_drops;
    o->skipped_bytes = a->cst.skipped_bytes;
    o->held = a->held_snap;
    o->writing = a->dump ? !a->dump_err : -1;
    o->write_files = a->dump_files;
    o->left_out = a->left_out;
    o->memory_used = store_memory(a->st);
    o->memory_budget = a->cli->max_memory;
    store_unlock(a->st);
}

static int ctl_set_enabled(struct app *a, int on, char *errbuf)
{
    if (!a->live) {
        snprintf(errbuf, SERVER_ERRBUF,
                 "not capturing live: this is a capture file "
                 "(run htracr without -r to capture)");
        return -EOPNOTSUPP;
    }
    pthread_mutex_lock(&a->ctl_lock);
    int clear = on && a->clear_on_start;
    a->want_enabled = on;
    a->clear_on_start = 0;
    uint64_t n = ++a->ctl_asked;
    pthread_mutex_unlock(&a->ctl_lock);
    if (clear) {
        store_lock(a->st);
        pipeline_clear(a->pl);
        store_set_source(a->st, a->source);
        a->upload_shown = 0;
        __atomic_store_n(&a->rebase_drops, 1, __ATOMIC_RELEASE);
        if (a->left_out > a->left_out_said)
            log_msg(LOG_INFO,
                    "%llu packets captured before an upload were left out of it (they "
                    "belonged to the live model it replaced; see stats.left_out)",
                    (unsigned long long)(a->left_out - a->left_out_said));
        a->left_out_said = a->left_out;
        store_unlock(a->st);
    }
    pthread_mutex_lock(&a->ctl_lock);
    int r = ctl_wait_applied(a, n, errbuf);
    pthread_mutex_unlock(&a->ctl_lock);
    return r;
}

static int ctl_start(void *ctx, char *errbuf)
{
    return ctl_set_enabled(ctx, 1, errbuf);
}

static int ctl_stop(void *ctx, char *errbuf)
{
    return ctl_set_enabled(ctx, 0, errbuf);
}

static int ctl_clear(void *ctx, char *errbuf)
{
    struct app *a = ctx;
    (void)errbuf;
    store_lock(a->st);
    pipeline_clear(a->pl); /* the model's stats, dropped among them, start at 0 */
    __atomic_store_n(&a->rebase_drops, 1, __ATOMIC_RELEASE);
    store_unlock(a->st);
    if (a->srv)
        server_notify(a->srv);
    return 0;
}

static int ctl_set_ports(void *ctx, const uint16_t *ports, int nports, char *errbuf)
{
    struct app *a = ctx;
    if (nports < 1 || nports > FLOW_MAX_PORTS) {
        snprintf(errbuf, SERVER_ERRBUF, "give 1 to %d ports", FLOW_MAX_PORTS);
        return -EINVAL;
    }
    for (int i = 0; i < nports; i++)
        if (!ports[i]) {
            snprintf(errbuf, SERVER_ERRBUF, "port 0 is not a port: give 1-65535");
            return -EINVAL;
        }
    uint16_t uniq[FLOW_MAX_PORTS];
    int nu = 0;
    for (int i = 0; i < nports; i++)
        port_add_unique(uniq, &nu, FLOW_MAX_PORTS, ports[i]); /* nports is checked above */
    pthread_mutex_lock(&a->ctl_lock);
    memcpy(a->ports, uniq, sizeof(uint16_t) * (size_t)nu);
    a->nports = nu;
    a->ports_changed = 1;
    uint64_t n = ++a->ctl_asked;
    pthread_mutex_unlock(&a->ctl_lock);
    store_lock(a->st);
    pipeline_set_ports(a->pl, uniq, nu);
    store_unlock(a->st);
    if (!a->live) {
        /* a file's ports are the pipeline's alone: in force now */
        pthread_mutex_lock(&a->ctl_lock);
        memcpy(a->ports_on, uniq, sizeof(uint16_t) * (size_t)nu);
        a->nports_on = nu;
        pthread_mutex_unlock(&a->ctl_lock);
        return 0;
    }
    pthread_mutex_lock(&a->ctl_lock);
    int r = ctl_wait_applied(a, n, errbuf);
    pthread_mutex_unlock(&a->ctl_lock);
    return r;
}

static void load_record(void *ctx, const struct capture_rec *rec)
{
    pipeline_record(ctx, rec);
}

static int ctl_load_pcap(void *ctx, const void *data, size_t len, const char *name, char *errbuf)
{
    struct app *a = ctx;
    char cerr[CAPTURE_ERRBUF];
    struct capture *cap = capture_open_mem(data, len, cerr);
    if (!cap) {
        snprintf(errbuf, SERVER_ERRBUF, "%s", cerr);
        return -EINVAL;
    }
    if (a->live) {
        /* Show the file, not live traffic mixed into it: capture is off
         * before the file goes in. */
        pthread_mutex_lock(&a->ctl_lock);
        a->want_enabled = 0;
        a->clear_on_start = 1;
        int r = ctl_wait_applied(a, ++a->ctl_asked, errbuf);
        pthread_mutex_unlock(&a->ctl_lock);
        if (r < 0) {
            capture_close(cap);
            return r;
        }
    }
    store_lock(a->st);
    pipeline_clear(a->pl);
    a->upload_shown = a->live;
    __atomic_store_n(&a->rebase_drops, 1, __ATOMIC_RELEASE);
    int r;
    while ((r = capture_dispatch(cap, 0, 0, load_record, a->pl, cerr)) > 0)
        ;
    pipeline_finish(a->pl);
    char src[64];
    if (name)
        snprintf(src, sizeof(src), "upload:%.48s", name);
    else
        snprintf(src, sizeof(src), "upload:%zu bytes", len);
    store_set_source(a->st, src);
    store_unlock(a->st);
    capture_close(cap);
    if (a->srv)
        server_notify(a->srv);
    if (r < 0 && r != -ENODATA)
        log_msg(LOG_WARN, "uploaded capture: %s (the records before it are shown)", cerr);
    return 0;
}

static int ctl_write_pcap(void *ctx, FILE *f, char *errbuf)
{
    struct app *a = ctx;
    uint64_t skipped = 0;
    store_lock(a->st);
    int r = export_pcap(a->st, f, &skipped);
    store_unlock(a->st);
    if (r == -ENOENT)
        snprintf(errbuf, SERVER_ERRBUF,
                 "no packets were kept (nothing captured yet, or "
                 "evicted by the memory budget)");
    else if (r < 0)
        snprintf(errbuf, SERVER_ERRBUF, "writing the pcap failed: %s", strerror(-r));
    else if (skipped)
        log_msg(LOG_WARN, "pcap download: %llu packets of another link type left out",
                (unsigned long long)skipped);
    return r;
}

static int ctl_replay(void *ctx, uint64_t msg_id, char *errbuf)
{
    struct app *a = ctx;
    struct store_message *m = NULL;
    struct ip_addr addr;
    uint16_t port = 0;
    char *head = malloc(REPLAY_MAX);
    int n = -ENOENT;

    if (!head)
        return -ENOMEM;
    store_lock(a->st);
    struct store_conn *c = export_api_find_message(a->st, msg_id, &m);
    if (c && m) {
        n = replay_format(m, head, REPLAY_MAX);
        addr = c->server_addr;
        port = c->server_port;
    }
    store_unlock(a->st);
    if (n == -ENOENT)
        snprintf(errbuf, SERVER_ERRBUF, "no message %llu in the model", (unsigned long long)msg_id);
    else if (n == -E2BIG)
        snprintf(errbuf, SERVER_ERRBUF, "request %llu is too big to send again",
                 (unsigned long long)msg_id);
    else if (n < 0)
        snprintf(errbuf, SERVER_ERRBUF, "message %llu is not a request that can be sent again",
                 (unsigned long long)msg_id);
    else {
        int r = replay_send(&addr, port, head, (size_t)n);
        if (r < 0) {
            snprintf(errbuf, SERVER_ERRBUF, "cannot start the request: %s", strerror(-r));
            n = r;
        }
    }
    free(head);
    return n < 0 ? n : 0;
}

static void report_end(struct app *a, struct capture *cap)
{
    struct store *st = a->st;
    const struct store_stats *ss = store_stats(st);
    const struct decode_stats *ds = pipeline_decode_stats(a->pl);
    const struct flow_stats *fs = pipeline_flow_stats(a->pl);
    log_msg(LOG_DEBUG,
            "%llu packets (%llu TCP), %llu connections, %llu requests, %llu responses, "
            "%llu decode errors, %llu non-HTTP flows ignored, %llu evicted (%llu open)",
            (unsigned long long)ss->packets, (unsigned long long)ds->tcp,
            (unsigned long long)ss->connections, (unsigned long long)ss->requests,
            (unsigned long long)ss->responses, (unsigned long long)ss->decode_errors,
            (unsigned long long)fs->ignored_flows, (unsigned long long)ss->evicted_connections,
            (unsigned long long)ss->evicted_open);
    struct capture_stats cst;
    capture_get_stats(cap, &cst);
    if (cst.bad_timestamps)
        log_msg(LOG_WARN,
                "%llu records had impossible timestamps (before 1970 or after 2255): "
                "clamped",
                (unsigned long long)cst.bad_timestamps);
    if (ds->unknown_linktype)
        log_msg(LOG_WARN, "%llu records of a link type htracr does not decode were skipped",
                (unsigned long long)ds->unknown_linktype);
    if (ss->decode_errors > ds->unknown_linktype)
        log_msg(LOG_WARN, "%llu malformed packets skipped (see stats.decode_errors)",
                (unsigned long long)(ss->decode_errors - ds->unknown_linktype));
    if (ss->alloc_failures)
        log_msg(LOG_WARN, "%llu allocations failed under the memory budget: data was lost",
                (unsigned long long)ss->alloc_failures);
    if (a->live && (cst.dropped || cst.ring_drops || cst.socket_drops))
        log_msg(LOG_WARN,
                "%llu packets were dropped before htracr saw them (%llu ring, %llu "
                "socket): a larger --buffer (now %zuK) rides out longer bursts",
                (unsigned long long)cst.dropped, (unsigned long long)cst.ring_drops,
                (unsigned long long)cst.socket_drops,
                (a->cli->buffer_bytes ? a->cli->buffer_bytes : CAPTURE_DEFAULT_BUFFER) >> 10);
}

/* Make the output files belong to the user privileges go to. */
static void chown_outputs(struct cli *cli, struct capture_dump *dump, uid_t uid, gid_t gid)
{
    struct output *outs[] = {&cli->json, &cli->jsonl, &cli->har};
    for (int i = 0; i < 3; i++)
        if (outs[i]->f && outs[i]->f != stdout && fchown(fileno(outs[i]->f), uid, gid) < 0)
            log_msg(LOG_DEBUG, "chown %s: %s", outs[i]->path, strerror(errno));
    capture_dump_chown(dump, uid, gid);
}

/* A body past the limit: let the kernel filter leave its payload out. */
static void on_skip(void *ctx, struct store_conn *c, int dir, uint32_t from_seq, uint32_t until_seq)
{
    struct run_ctx *rc = ctx;
    struct capture_skip sk = {.from_seq = from_seq, .until_seq = until_seq};
    const struct ip_addr *src = dir == DIR_S2C ? &c->server_addr : &c->client_addr;
    const struct ip_addr *dst = dir == DIR_S2C ? &c->client_addr : &c->server_addr;
    size_t alen = src->family == 6 ? 16 : 4;
    sk.family = src->family == 6 ? AF_INET6 : AF_INET;
    memcpy(sk.saddr, src->a, alen);
    memcpy(sk.daddr, dst->a, alen);
    sk.sport = dir == DIR_S2C ? c->server_port : c->client_port;
    sk.dport = dir == DIR_S2C ? c->client_port : c->server_port;
    int r = capture_skip(rc->live, &sk);
    if (r == 0)
        rc->skip_hints++;
    else if (r != -EOPNOTSUPP && rc->skip_errors++ == 0)
        log_msg(LOG_WARN, "body-skip hint failed: %s (bodies are copied whole)", strerror(-r));
}

/* The capture thread (the calling one) empties the kernel's ring, which
 * holds well under a second of a busy link. Where the CPUs are all busy, a
 * thread at the default priority can wait its turn that long; the server's
 * threads writing the page's updates are among those it waits for
 * (docs/performance.md, "The capture thread's priority"). So it runs at
 * CAPTURE_NICE (on Linux a thread's own), set while htracr may still; the
 * server's threads go back to 0 as they start (server_opts.reset_nice).
 * Its work is the same either way: it is only run sooner. Not when htracr
 * was started with a nice value of its own, and not without CAP_SYS_NICE (a
 * setcap install): then every thread keeps the process's. 1 when raised. */
static int raise_capture_priority(void)
{
    errno = 0;
    int base = getpriority(PRIO_PROCESS, 0);
    if (errno != 0)
        log_msg(LOG_DEBUG, "getpriority: %s", strerror(errno));
    else if (base != 0)
        log_msg(LOG_DEBUG, "capture thread at the nice value given, %d", base);
    else if (setpriority(PRIO_PROCESS, 0, CAPTURE_NICE) < 0)
        log_msg(LOG_DEBUG, "capture thread at nice 0: setpriority: %s", strerror(errno));
    else
        return 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    struct run_ctx rc = {.cli = &cli};
    struct app app = {.cli = &cli, .rc = &rc};
    struct store *st = NULL;
    struct pipeline *pl = NULL;
    struct capture *cap = NULL;
    char errbuf[CAPTURE_ERRBUF] = "";
    int ret = 1;

    if (parse_args(&cli, argc, argv) < 0)
        return 2;
    app.live = !cli.read;
    int ui = !cli.no_ui && (app.live || cli.listen_port >= 0);
    if (ui && cli.listen_port < 0)
        cli.listen_port = 8000;
    if (!app.live && (cli.count || cli.seconds || cli.stats_interval))
        log_msg(LOG_WARN, "-c, -G and --stats-interval apply to live capture only: ignored "
                          "with -r");
    cli.flow.sniff_http = !cli.ports_explicit && !app.live;
    cli.flow.idle_timeout_us = 300LL * 1000000;
    cli.flow.close_linger_us = 10LL * 1000000;
    pthread_mutex_init(&app.ctl_lock, NULL);
    pthread_cond_init(&app.ctl_cond, NULL);
    memcpy(app.ports, cli.flow.ports, sizeof(app.ports));
    app.nports = cli.flow.nports;
    memcpy(app.ports_on, app.ports, sizeof(app.ports_on));
    app.nports_on = app.nports;

    rc.summary = !ui && !cli.json.path && !cli.jsonl.path && !cli.har.path && !cli.write;
    int stream = !ui && cli.jsonl.path && !cli.json.path && !cli.har.path;
    /* Bodies are kept for what shows them: the UI, the HAR (content.text)
     * and the JSON (body_kept). JSONL and the summary carry none: unless
     * asked, they are neither decoded nor kept, which saves their memory and
     * the CPU that reads them. */
    if (!ui && !cli.json.path && !cli.har.path && !cli.body_limit_given)
        cli.body_limit = 0;
    if (cli.body_limit)
        log_msg(LOG_DEBUG, "bodies: up to %zu bytes of each kept", cli.body_limit);
    else
        log_msg(LOG_DEBUG, "bodies: none kept (%s)",
                cli.body_limit_given ? "--body-limit 0"
                                     : "no output shows them; --body-limit keeps them");
    struct store_opts so = {
        .max_memory = cli.max_memory,
        .body_limit = cli.body_limit,
        /* Only JSONL: stream, so memory stays flat on any file size. */
        .stream = stream,
        /* The UI shows payloads and offers the capture as pcap. */
        .keep_raw = ui,
        .on_finish = on_finish,
        .on_evict = rc.summary ? on_evict : NULL,
        .ctx = &rc,
    };
    /* Live, body bytes past what is kept are left in the kernel (body
     * skip), but not with -w: a pcap is written to be read by other tools,
     * which want every packet whole (up to -s), as tcpdump -w gives it. */
    if (!cli.read && !cli.write)
        so.on_skip = on_skip;
    else if (!cli.read)
        log_msg(LOG_DEBUG, "no body skip: -w writes every packet whole");

    if (app.live) {
        struct capture_live_opts lo = {
            .iface = cli.iface,
            .ports = cli.flow.ports,
            .nports = cli.flow.nports,
            .dns = !cli.no_dns,
            .snaplen = cli.snaplen,
            .buffer_bytes = cli.buffer_bytes,
            .enabled = 1,
            .attach = cli.attach,
        };
        cap = capture_open_live(cli.backend, &lo, errbuf);
        if (!cap) {
            log_msg(LOG_ERROR, "%s", errbuf);
            goto out;
        }
        app.enabled = app.want_enabled = 1;
        rc.live = cap;
    } else {
        cap = capture_open_file(cli.read, errbuf);
        if (!cap) {
            log_msg(LOG_ERROR, "%s", errbuf);
            goto out;
        }
    }
    app.cap = cap;
    if (open_output(&cli.json, "JSON") < 0 || open_output(&cli.jsonl, "JSONL") < 0 ||
        open_output(&cli.har, "HAR") < 0)
        goto out;
    if (cli.write) {
        int lt = capture_linktype(cap);
        if (lt < 0)
            lt = LINK_ETHERNET;
        app.dump = capture_dump_open_rotating(cli.write, lt, cli.snaplen ? cli.snaplen : 262144,
                                              cli.write_size, cli.write_files, errbuf);
        if (!app.dump) {
            log_msg(LOG_ERROR, "%s", errbuf);
            goto out;
        }
    }
    int capture_nice = app.live && raise_capture_priority();
    /* Everything privileged is open: give root up before parsing a packet. */
    if (geteuid() == 0 || app.live) {
        uid_t uid;
        gid_t gid;
        if (priv_target(&uid, &gid) < 0) {
            log_msg(LOG_ERROR, "cannot drop privileges: no SUDO_UID and no user 'nobody'");
            goto out;
        }
        if (geteuid() == 0)
            chown_outputs(&cli, app.dump, uid, gid);
        int r = priv_drop(uid, gid);
        if (r < 0) {
            log_msg(LOG_ERROR, "cannot drop privileges to uid %u: %s", (unsigned)uid, strerror(-r));
            goto out;
        }
    }

    st = store_new(&so);
    if (!st) {
        log_msg(LOG_ERROR, "out of memory");
        goto out;
    }
    app.st = st;
    snprintf(app.source, sizeof(app.source), "%s", capture_describe(cap));
    store_set_source(st, app.source);
    pl = pipeline_new(st, &cli.flow);
    if (!pl) {
        log_msg(LOG_ERROR, "out of memory");
        goto out;
    }
    app.pl = pl;

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A hangup (the ssh session of a headless run ending) stops the run
     * the same way: the outputs are written, not left empty. */
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!app.live) {
        /* The file first, whole; then serve it (with a UI). */
        store_lock(st);
        app.locked = 1;
        int r;
        while ((r = capture_dispatch(cap, 65536, 0, on_record, &app, errbuf)) > 0)
            ;
        if (r < 0 && r != -ENODATA)
            log_msg(LOG_WARN, "%s (the records before it are shown)", errbuf);
        pipeline_finish(pl);
        app.locked = 0;
        store_unlock(st);
    }
    if (ui) {
        char serr[SERVER_ERRBUF];
        struct server_ctl ctl = {
            .ctx = &app,
            .status = ctl_status,
            .start = ctl_start,
            .stop = ctl_stop,
            .clear = ctl_clear,
            .set_ports = ctl_set_ports,
            .load_pcap = ctl_load_pcap,
            .write_pcap = ctl_write_pcap,
            .replay = ctl_replay,
        };
        struct server_opts sopt = {
            .listen_addr = cli.listen_addr,
            .port = cli.listen_port,
            .web_root = cli.web_root,
            .upload_limit = cli.upload_limit,
            .reset_nice = capture_nice,
        };
        app.srv = server_new(&sopt, st, &ctl, serr);
        if (!app.srv) {
            log_msg(LOG_ERROR, "%s", serr);
            goto out;
        }
        log_msg(LOG_INFO, "%s: open %s in a browser", app.source, server_url(app.srv));
    }
    if (app.live) {
        if (getenv("HTRACR_BENCH_CAPTURE_ONLY")) {
            app.capture_only = 1;
            log_msg(LOG_WARN, "HTRACR_BENCH_CAPTURE_ONLY is set: packets are captured and "
                              "counted, not analysed (a benchmark's setting)");
        }
        if (!ui)
            log_msg(LOG_INFO, "capturing on %s (%s); Ctrl-C to stop", app.source,
                    capture_backend_name(cap));
        if (live_loop(&app) < 0)
            rc.write_error = 1;
        store_lock(st);
        pipeline_finish(pl);
        store_unlock(st);
    } else if (ui) {
        serve_loop();
    }
    server_free(app.srv);
    app.srv = NULL;

    /* An error here went unsaid (the writer's own write(2) leaves no mark
     * on the stream for close_output to find): say it, with its reason. */
    int wr;
    if (cli.json.f && (wr = export_json(st, cli.json.f)) < 0)
        output_failed(&cli.json, "JSON", wr, &rc.write_error);
    if (cli.har.f && (wr = export_har(st, cli.har.f)) < 0)
        output_failed(&cli.har, "HAR", wr, &rc.write_error);
    /* A reader that stopped early (`| head`) is not an error: EPIPE is quiet. */
    if (rc.summary && export_summary(st, stdout) < 0 && errno != EPIPE) {
        log_msg(LOG_ERROR, "writing the summary to standard output failed: %s", strerror(errno));
        rc.write_error = 1;
    } else if (rc.summary && store_stats(st)->connections == 0) {
        /* an empty summary read as a broken run: say what was looked at */
        printf("no HTTP connections among %llu packets\n",
               (unsigned long long)store_stats(st)->packets);
        if (fflush(stdout) != 0 && errno != EPIPE)
            rc.write_error = 1;
    }
    report_end(&app, cap);
    if (cli.stats_interval && app.live)
        print_stats(&app);
    ret = rc.write_error ? 1 : 0;
out:
    server_free(app.srv);
    if (app.dump && capture_dump_skipped(app.dump))
        log_msg(LOG_WARN,
                "'%s' is missing %llu packets of another link type than its first "
                "(capture on one interface with -i to keep them all)",
                cli.write, (unsigned long long)capture_dump_skipped(app.dump));
    if (app.dump && capture_dump_close(app.dump) < 0)
        ret = 1; /* said, with its reason, where it happened */
    if (close_output(&cli.json, "JSON") < 0 || close_output(&cli.jsonl, "JSONL") < 0 ||
        close_output(&cli.har, "HAR") < 0)
        ret = 1;
    pipeline_free(pl);
    store_free(st);
    capture_close(cap);
    free(app.held);
    pthread_cond_destroy(&app.ctl_cond);
    pthread_mutex_destroy(&app.ctl_lock);
    return ret;
}
