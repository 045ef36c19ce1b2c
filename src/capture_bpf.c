/* SPDX-License-Identifier: MIT */
/* placeholder: replaced by the eBPF ring buffer backend */
#include <errno.h>
#include <stdio.h>
#include "htracr/capture.h"
struct capture *capture_bpf_open(const struct capture_live_opts *o, char errbuf[CAPTURE_ERRBUF])
{
    (void)o;
    snprintf(errbuf, CAPTURE_ERRBUF, "eBPF capture not built yet");
    errno = ENOTSUP;
    return NULL;
}
