/* SPDX-License-Identifier: MIT */
/*
 * log.c - one logging function with levels, to stderr. See log.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "htracr/log.h"

static enum log_level threshold = LOG_INFO;
static int verbosity;

void log_set_verbosity(int v)
{
    verbosity = v;
}

int log_verbosity(void)
{
    return verbosity;
}

void log_set_level(enum log_level level)
{
    threshold = level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    va_list ap;

    if (level < threshold || level >= LOG_SILENT)
        return;
    fprintf(stderr, "htracr: %s: ", names[level]);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
