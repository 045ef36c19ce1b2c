/* SPDX-License-Identifier: MIT */
/* placeholder: replaced by the libpcap live backend */
#include <errno.h>
#include <stdio.h>
#include "htracr/capture.h"
struct capture *capture_pcap_open(const struct capture_live_opts *o, char errbuf[CAPTURE_ERRBUF])
{
    (void)o;
    snprintf(errbuf, CAPTURE_ERRBUF, "libpcap live capture not built yet");
    errno = ENOTSUP;
    return NULL;
}
