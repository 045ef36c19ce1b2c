/* SPDX-License-Identifier: MIT */
/*
 * llhttp_simd.h - which build of llhttp this process parses with (see
 * src/llhttp_simd.c and mk/llhttp.mk).
 */
#ifndef HTRACR_LLHTTP_SIMD_H
#define HTRACR_LLHTTP_SIMD_H

/* "sse4.2" or "plain". */
const char *llhttp_simd_name(void);

#endif
