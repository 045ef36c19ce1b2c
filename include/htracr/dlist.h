/* SPDX-License-Identifier: MIT */
/*
 * dlist.h - appending to and unlinking from an intrusive doubly-linked list
 * kept as a head and a tail pointer, whatever its fields are called: the
 * store's connections (in store order, and the finished ones in the order
 * they finished), its idle servers, the flow table's activity list.
 *
 * head and tail are lvalues (the list's ends), node a pointer to an
 * element, prev and next the names of the element's link fields. Arguments
 * are evaluated more than once: pass plain names.
 */
#ifndef HTRACR_DLIST_H
#define HTRACR_DLIST_H

#include <stddef.h>

/* node goes at the tail. */
#define DLIST_APPEND(head, tail, node, prev, next)                                                 \
    do {                                                                                           \
        (node)->prev = (tail);                                                                     \
        (node)->next = NULL;                                                                       \
        if (tail)                                                                                  \
            (tail)->next = (node);                                                                 \
        else                                                                                       \
            (head) = (node);                                                                       \
        (tail) = (node);                                                                           \
    } while (0)

/* node leaves the list; its own links are cleared. */
#define DLIST_UNLINK(head, tail, node, prev, next)                                                 \
    do {                                                                                           \
        if ((node)->prev)                                                                          \
            (node)->prev->next = (node)->next;                                                     \
        else                                                                                       \
            (head) = (node)->next;                                                                 \
        if ((node)->next)                                                                          \
            (node)->next->prev = (node)->prev;                                                     \
        else                                                                                       \
            (tail) = (node)->prev;                                                                 \
        (node)->prev = (node)->next = NULL;                                                        \
    } while (0)

#endif
