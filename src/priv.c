/* SPDX-License-Identifier: MIT */
/*
 * priv.c - dropping root (or file capabilities) after the capture is open.
 * See priv.h. The order matters: groups, then gid, then uid (after setuid a
 * process can no longer change its gid), then a check that root cannot be
 * had back. Capabilities are cleared with capset(2) directly, so there is no
 * libcap dependency.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "htracr/log.h"
#include "htracr/priv.h"

static int parse_id(const char *s, unsigned long *out)
{
    char *end;
    if (!s || !*s)
        return -EINVAL;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return errno || *end ? -EINVAL : 0;
}

int priv_target(uid_t *uid, gid_t *gid)
{
    unsigned long u, g;
    if (parse_id(getenv("SUDO_UID"), &u) == 0 && parse_id(getenv("SUDO_GID"), &g) == 0 && u) {
        *uid = (uid_t)u;
        *gid = (gid_t)g;
        return 0;
    }
    struct passwd *pw = getpwnam("nobody");
    if (!pw)
        return -ENOENT;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

static int clear_caps(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &hdr, data) < 0)
        return -errno;
    return 0;
}

int priv_drop(uid_t uid, gid_t gid)
{
    if (geteuid() != 0) {
        /* Not root: maybe file capabilities (setcap). Clear them; harmless
         * when there are none. */
        int r = clear_caps();
        if (r < 0)
            log_msg(LOG_DEBUG, "clearing capabilities failed: %s", strerror(-r));
        return 0;
    }
    if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
        return -errno;
    /* No way back: if setuid(0) works now, the drop did not happen. */
    if (uid != 0 && (setuid(0) == 0 || geteuid() == 0))
        return -EPERM;
    clear_caps();
    return 0;
}
