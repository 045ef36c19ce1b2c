/* SPDX-License-Identifier: MIT */
/*
 * log.h - the one logging function, to stderr, with levels.
 *
 * Every stage reports through log_msg(); -q raises the threshold to errors,
 * -v lowers it to debug, -vv also lets libbpf speak (hundreds of lines as
 * it loads the filter).
 */
#ifndef HTRACR_LOG_H
#define HTRACR_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_SILENT = 4 };

/* Set the lowest level that is printed (default LOG_INFO). */
void log_set_level(enum log_level level);

/* How many -v were given (0 by default): libbpf's messages need 2. */
void log_set_verbosity(int v);
int log_verbosity(void);

/* Print "htracr: <level>: <message>\n" to stderr when level is enabled. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
