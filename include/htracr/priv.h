/* SPDX-License-Identifier: MIT */
/*
 * priv.h - giving up root once the capture socket is open.
 *
 * Not a pipeline stage: the program's controller calls it after it has
 * opened the live capture (socket, BPF program, maps) and the files it
 * writes, and before it parses a packet or serves a request.
 */
#ifndef HTRACR_PRIV_H
#define HTRACR_PRIV_H

#include <sys/types.h>

/* Whom to become: SUDO_UID/SUDO_GID when set (the user who ran sudo), else
 * the user "nobody". 0 with *uid and *gid set, or -ENOENT. */
int priv_target(uid_t *uid, gid_t *gid);

/* Become uid/gid for good: supplementary groups cleared, gid then uid set,
 * every capability gone (also when the process was not root but ran with
 * file capabilities). A no-op returning 0 when not privileged at all.
 * 0, or a negative errno: the caller must then stop (never go on as root
 * by accident). */
int priv_drop(uid_t uid, gid_t gid);

#endif
