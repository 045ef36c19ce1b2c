/* SPDX-License-Identifier: MIT */
/*
 * testlib.h - the unit test harness: TEST() registers a function, CHECK*()
 * record a failure and return from it. The runner (runner.c) runs every
 * registered test, or those whose name contains argv[1], and ends with the
 * line "N passed, N failed".
 */
#ifndef HTRACR_TESTLIB_H
#define HTRACR_TESTLIB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* in compressed with zlib into out (wbits 15 + 16 gzip, 15 zlib, -15 raw
 * deflate): its length, or 0 when it does not fit (testzip.c). */
size_t test_zip(const uint8_t *in, size_t n, uint8_t *out, size_t cap, int wbits);

#define TEST(name)                                                                                 \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void reg_##name(void)                                     \
    {                                                                                              \
        test_register(#name, name);                                                                \
    }                                                                                              \
    static void name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            test_fail(__FILE__, __LINE__, "%s", #cond);                                            \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long _a = (long long)(a), _b = (long long)(b);                                        \
        if (_a != _b) {                                                                            \
            test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, _a, #b, _b);     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                                                   \
            test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, _a ? _a : "(null)", \
                      _b ? _b : "(null)");                                                         \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#endif
