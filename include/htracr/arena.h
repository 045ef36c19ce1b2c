/* SPDX-License-Identifier: MIT */
/*
 * arena.h - bump allocator for bytes that live as long as their owner.
 *
 * The store keeps one arena per connection: header names, URLs, decoded
 * bodies all go there, and evicting a connection frees its arena whole. No
 * per-string free; memory use is tracked so the store can enforce its budget.
 */
#ifndef HTRACR_ARENA_H
#define HTRACR_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head; /* current chunk; older ones chained behind */
    size_t used;              /* bytes handed out */
    size_t reserved;          /* bytes malloc'd (what the budget counts) */
};

/* Embedded value: zero-initialise or call arena_init(). */
void arena_init(struct arena *a);
/* Free every chunk; the arena is empty and reusable afterwards. */
void arena_release(struct arena *a);

/* n bytes aligned to 8, or NULL (errno ENOMEM). n == 0 gives a valid pointer. */
void *arena_alloc(struct arena *a, size_t n);

#endif
