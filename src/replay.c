/* SPDX-License-Identifier: MIT */
/*
 * replay.c - send a captured request again. See replay.h.
 *
 * Headers go out as they were captured, except the ones that describe the
 * old connection or a body (Connection, Keep-Alive, Content-Length,
 * Transfer-Encoding, Expect, Upgrade): the new request has none, and asks
 * the server to close, so reading to the end is reading the response.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "htracr/log.h"
#include "htracr/replay.h"
#include "htracr/store.h"

static int skip_header(const char *name)
{
    static const char *const skip[] = {"connection",        "keep-alive", "content-length",
                                       "transfer-encoding", "expect",     "upgrade",
                                       "proxy-connection",  "te"};
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (strcasecmp(name, skip[i]) == 0)
            return 1;
    return 0;
}

/* A header value or start-line part must not smuggle a line break in. */
static int clean(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

int replay_format(const struct store_message *m, char *buf, size_t size)
{
    size_t n = 0;
    int r;

    if (m->kind != MSG_REQUEST || !m->method || !m->url || !clean(m->method) || !clean(m->url))
        return -EINVAL;
    r = snprintf(buf, size, "%s %s HTTP/1.1\r\n", m->method, m->url);
    if (r < 0 || (size_t)r >= size)
        return -E2BIG;
    n = (size_t)r;
    for (uint32_t i = 0; i < m->nheaders; i++) {
        const struct store_header *h = &m->headers[i];
        if (!h->name || !h->value || skip_header(h->name) || !clean(h->name) || !clean(h->value))
            continue;
        r = snprintf(buf + n, size - n, "%s: %s\r\n", h->name, h->value);
        if (r < 0 || (size_t)r >= size - n)
            return -E2BIG;
        n += (size_t)r;
    }
    r = snprintf(buf + n, size - n, "Connection: close\r\n\r\n");
    if (r < 0 || (size_t)r >= size - n)
        return -E2BIG;
    return (int)(n + (size_t)r);
}

struct replay_job {
    struct ip_addr addr;
    uint16_t port;
    size_t len;
    char head[];
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *replay_thread(void *arg)
{
    struct replay_job *j = arg;
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd = -1;
    char buf[16384];
    size_t got = 0;

    memset(&ss, 0, sizeof(ss));
    if (j->addr.family == 6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(j->port);
        memcpy(&s6->sin6_addr, j->addr.a, 16);
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(j->port);
        memcpy(&s4->sin_addr, j->addr.a, 4);
        sl = sizeof(*s4);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        log_msg(LOG_WARN, "making a request again: cannot connect: %s", strerror(errno));
        goto out;
    }
    for (size_t off = 0; off < j->len;) {
        ssize_t w = send(fd, j->head + off, j->len - off, MSG_NOSIGNAL);
        if (w <= 0) {
            log_msg(LOG_WARN, "making a request again: send failed: %s", strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    /* Read the response to its end (the server closes: Connection: close). */
    int64_t deadline = mono_ms() + 10000;
    for (;;) {
        int64_t left = deadline - mono_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    log_msg(LOG_INFO, "made a request again: %zu response bytes", got);
out:
    if (fd >= 0)
        close(fd);
    free(j);
    return NULL;
}

int replay_send(const struct ip_addr *addr, uint16_t port, const char *head, size_t len)
{
    struct replay_job *j = malloc(sizeof(*j) + len);
    pthread_t t;
    pthread_attr_t attr;
    int r;

    if (!j)
        return -ENOMEM;
    j->addr = *addr;
    j->port = port;
    j->len = len;
    memcpy(j->head, head, len);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    r = pthread_create(&t, &attr, replay_thread, j);
    pthread_attr_destroy(&attr);
    if (r) {
        free(j);
        return -r;
    }
    return 0;
}
