/* SPDX-License-Identifier: MIT */
/*
 * arena.c - bump allocator in chained chunks. See arena.h.
 *
 * Chunks start small (most connections keep a few hundred bytes of strings)
 * and double up to 64 KiB; an allocation larger than that gets a chunk of its
 * own, so big decoded bodies do not waste the tail of a shared chunk.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "htracr/arena.h"

#define ARENA_MIN_CHUNK 1024
#define ARENA_MAX_CHUNK (64 * 1024)

struct arena_chunk {
    struct arena_chunk *prev;
    size_t size; /* usable bytes in data */
    size_t off;  /* next free byte */
    _Alignas(16) unsigned char data[];
};

void arena_init(struct arena *a)
{
    a->head = NULL;
    a->used = 0;
    a->reserved = 0;
}

void arena_release(struct arena *a)
{
    struct arena_chunk *c = a->head;
    while (c) {
        struct arena_chunk *prev = c->prev;
        free(c);
        c = prev;
    }
    arena_init(a);
}

void *arena_alloc(struct arena *a, size_t n)
{
    struct arena_chunk *c = a->head;
    size_t need = (n + 7) & ~(size_t)7;

    if (need < n) {
        errno = ENOMEM;
        return NULL;
    }
    if (!c || c->size - c->off < need) {
        size_t size = c ? c->size * 2 : ARENA_MIN_CHUNK;
        if (size > ARENA_MAX_CHUNK)
            size = ARENA_MAX_CHUNK;
        if (size < need)
            size = need;
        if (size > SIZE_MAX - sizeof(*c)) {
            errno = ENOMEM;
            return NULL;
        }
        struct arena_chunk *nc = malloc(sizeof(*nc) + size);
        if (!nc) {
            errno = ENOMEM;
            return NULL;
        }
        nc->size = size;
        nc->off = 0;
        if (c && need > ARENA_MAX_CHUNK / 2 && c->size - c->off >= ARENA_MIN_CHUNK) {
            /* Oversized block: keep filling the current chunk afterwards. */
            nc->prev = c->prev;
            c->prev = nc;
        } else {
            nc->prev = c;
            a->head = nc;
        }
        a->reserved += sizeof(*nc) + size;
        c = nc;
    }
    void *p = c->data + c->off;
    c->off += need;
    a->used += need;
    return p;
}
