/* SPDX-License-Identifier: MIT */
/*
 * export.h - the model as JSON, JSONL and HAR 1.2.
 *
 * Last stage; reads the store, never changes it. Field names and meanings are
 * the contract in docs/json.md. Times are integer µs since the Unix epoch.
 * Strings from the wire are written as valid JSON: valid UTF-8 passes through,
 * other bytes become \u00XX (Latin-1), control characters are escaped.
 */
#ifndef HTRACR_EXPORT_H
#define HTRACR_EXPORT_H

#include <stdio.h>

struct store;
struct store_conn;

#define EXPORT_JSON_VERSION 1

/* The whole model as one JSON document. 0 or -errno (write error). */
int export_json(struct store *st, FILE *f);

/* One line per HTTP transaction of c (request + its response; a request with
 * no response, or a response with no request, is a line too). Called per
 * connection as it finishes. 0 or -errno. */
int export_jsonl_conn(struct store *st, const struct store_conn *c, FILE *f);

/* HAR 1.2 of every transaction in the store. 0 or -errno. */
int export_har(struct store *st, FILE *f);

#endif
