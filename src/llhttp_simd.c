/* SPDX-License-Identifier: MIT */
/*
 * llhttp_simd.c - which llhttp parses: the plain build, or the one compiled
 * with SSE4.2 (mk/llhttp.mk builds both on x86-64 and renames their entry
 * points). llhttp__internal_execute, what llhttp_execute() calls, is an
 * ifunc: the dynamic loader runs resolve() once, before main, and binds the
 * symbol to the copy this CPU can run. Both copies come from the same
 * source, so their parser states mean the same thing; only one is ever
 * used in a process.
 */
#include "htracr/llhttp_simd.h"

#if defined(HTRACR_LLHTTP_SIMD) && defined(__x86_64__)
#include <llhttp.h>

typedef int execute_fn(llhttp_t *state, const char *p, const char *endp);
execute_fn llhttp__internal_execute_base, llhttp__internal_execute_sse42;
execute_fn llhttp__internal_execute;

static execute_fn *resolve(void)
{
    __builtin_cpu_init(); /* a resolver runs before constructors */
    return __builtin_cpu_supports("sse4.2") ? llhttp__internal_execute_sse42
                                            : llhttp__internal_execute_base;
}

execute_fn llhttp__internal_execute __attribute__((ifunc("resolve")));

const char *llhttp_simd_name(void)
{
    return __builtin_cpu_supports("sse4.2") ? "sse4.2" : "plain";
}
#else
const char *llhttp_simd_name(void)
{
    return "plain";
}
#endif
