/* SPDX-License-Identifier: MIT */
/*
 * web_assets.h - the web UI's files (web/), embedded into the binary at
 * build time so that `sudo htracr` is one file.
 *
 * Beside the server at the end of the pipeline: scripts/embed-web.sh turns
 * every file under web/ into a byte array in the generated
 * $(OUT)/web_assets.c (mk/web.mk), and server.c serves them unless
 * --web-root points it at a directory on disk. The table may be empty (a
 * build without web/): the server then says so on "/".
 */
#ifndef HTRACR_WEB_ASSETS_H
#define HTRACR_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *path;          /* "/index.html", "/js/app.js": as in the URL */
    const char *type;          /* Content-Type, from the file name's extension */
    const unsigned char *data; /* the file's bytes, followed by one NUL not counted in len */
    size_t len;
};

/* Every embedded file, sorted by path (byte order), and how many there are. */
extern const struct web_asset web_assets[];
extern const size_t web_assets_count;

#endif
