/* SPDX-License-Identifier: MIT */
/*
 * testzip.c - compressed bodies for the HTTP and TCP tests.
 */
#include <zlib.h>

#include "testlib.h"

size_t test_zip(const uint8_t *in, size_t n, uint8_t *out, size_t cap, int wbits)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return r == Z_STREAM_END ? len : 0;
}
