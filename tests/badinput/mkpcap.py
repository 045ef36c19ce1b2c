#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mkpcap.py - writes the capture files htracr's hostile-input tests and fuzz
seeds are made of, with nothing but the Python standard library.

It sits in front of the whole pipeline: every file it writes is something a
user could hand to `htracr -r`. Well-formed ones (an HTTP exchange over
Ethernet/IPv4, over raw IPv6, in pcapng, gzip'd) seed the fuzzer; hostile
ones (lengths that lie, headers that never end, compression bombs, ten
thousand connections without a handshake) feed tests/badinput/run.sh.

    mkpcap.py seeds DIR              well-formed captures for the fuzz corpus
                                     (prints each path written)
    mkpcap.py hostile DIR [REAL]     every generated hostile case into DIR;
                                     REAL is a real capture to cut (else a
                                     generated one is used)
    mkpcap.py list                   the names `hostile` writes
"""
import gzip
import io
import os
import random
import struct
import sys
import zlib

LINK_ETHERNET = 1
LINK_RAW = 101

T0_US = 1_700_000_000_000_000  # 2023-11-14, a fixed, plausible epoch


# ---------------------------------------------------------------- writers

class PcapWriter:
    """Classic pcap; records take their caplen/wirelen from the data unless
    told to lie."""

    def __init__(self, f, linktype=LINK_ETHERNET, snaplen=65535, endian="<", nano=False):
        self.f = f
        self.e = endian
        self.nano = nano
        magic = 0xA1B23C4D if nano else 0xA1B2C3D4
        f.write(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))

    def record(self, ts_us, data, caplen=None, wirelen=None):
        sec, frac = divmod(ts_us, 1_000_000)
        if self.nano:
            frac *= 1000
        cl = len(data) if caplen is None else caplen
        wl = len(data) if wirelen is None else wirelen
        self.f.write(struct.pack(self.e + "IIII", sec, frac, cl, wl))
        self.f.write(data)


def _ng_block(btype, body, total=None, trailer=None):
    pad = (-len(body)) % 4
    length = 12 + len(body) + pad
    head = length if total is None else total
    tail = length if trailer is None else trailer
    return struct.pack("<II", btype, head) + body + b"\0" * pad + struct.pack("<I", tail)


class PcapngWriter:
    """pcapng: one section, one interface (µs resolution), enhanced packet
    blocks."""

    def __init__(self, f, linktype=LINK_ETHERNET, snaplen=65535):
        self.f = f
        shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        # shb_userappl option, then opt_endofopt
        app = b"htracr tests"
        shb += struct.pack("<HH", 4, len(app)) + app + b"\0" * ((-len(app)) % 4)
        shb += struct.pack("<HH", 0, 0)
        f.write(_ng_block(0x0A0D0D0A, shb))
        f.write(_ng_block(0x00000001, struct.pack("<HHI", linktype, 0, snaplen)))

    def record(self, ts_us, data, caplen=None, wirelen=None, total=None, trailer=None):
        cl = len(data) if caplen is None else caplen
        wl = len(data) if wirelen is None else wirelen
        body = struct.pack("<IIIII", 0, ts_us >> 32, ts_us & 0xFFFFFFFF, cl, wl) + data
        self.f.write(_ng_block(0x00000006, body, total, trailer))


# ---------------------------------------------------------------- packets

def _csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def ip6(n):
    """2001:db8::n"""
    return bytes.fromhex("20010db8000000000000000000000000")[:14] + struct.pack("!H", n)


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", win=65535, opts=b"", doff=None):
    opts = opts + b"\0" * ((-len(opts)) % 4)
    off = (20 + len(opts)) // 4 if doff is None else doff
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      off << 4, flags, win, 0, 0) + opts
    seg = hdr + payload
    if len(src) == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(seg))
    else:
        pseudo = src + dst + struct.pack("!IxxxB", len(seg), 6)
    c = _csum(pseudo + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def ipv4(src, dst, payload, proto=6, ihl=5, total=None, ident=1, frag=0x4000, opts=b""):
    tl = 4 * ihl + len(payload) if total is None else total
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tl & 0xFFFF, ident, frag, 64, proto, 0,
                      src, dst) + opts
    c = _csum(hdr)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def ipv6(src, dst, payload, nh=6, plen=None):
    pl = len(payload) if plen is None else plen
    return struct.pack("!IHBB16s16s", 0x60000000, pl & 0xFFFF, nh, 64, src, dst) + payload


def ether(payload, etype):
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + struct.pack("!H", etype) + payload


def frame(ip, link):
    if link == LINK_RAW:
        return ip
    return ether(ip, 0x86DD if ip[0] >> 4 == 6 else 0x0800)


ACK, PSH, SYN, FIN, RST = 0x10, 0x08, 0x02, 0x01, 0x04


class Conv:
    """One TCP connection written packet by packet, sequence numbers kept."""

    def __init__(self, w, cport=40000, sport=80, v6=False, link=LINK_ETHERNET, t_us=T0_US,
                 chost=1, shost=2, step_us=1000):
        self.w, self.link, self.t, self.step = w, link, t_us, step_us
        if v6:
            self.addr = (ip6(chost), ip6(shost))
        else:
            self.addr = (ip4("10.0.0.%d" % chost), ip4("10.0.1.%d" % shost))
        self.port = (cport, sport)
        self.seq = [1000 + cport * 7, 50000 + sport * 13]

    def pkt(self, d, flags, payload=b"", **kw):
        src, dst = self.addr[d], self.addr[1 - d]
        seg = tcp(src, dst, self.port[d], self.port[1 - d], self.seq[d],
                  self.seq[1 - d] if flags & ACK else 0, flags, payload, **kw)
        ip = ipv4(src, dst, seg) if len(src) == 4 else ipv6(src, dst, seg)
        self.w.record(self.t, frame(ip, self.link))
        self.t += self.step
        self.seq[d] += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def handshake(self):
        mss = struct.pack("!BBH", 2, 4, 1460)
        self.pkt(0, SYN, opts=mss)
        self.pkt(1, SYN | ACK, opts=mss)
        self.pkt(0, ACK)

    def send(self, d, data, mss=1400):
        for i in range(0, len(data), mss):
            self.pkt(d, ACK | PSH, data[i:i + mss])
        self.pkt(1 - d, ACK)

    def close(self):
        self.pkt(0, FIN | ACK)
        self.pkt(1, FIN | ACK)
        self.pkt(0, ACK)


GET = b"GET /index.html HTTP/1.1\r\nHost: example.test\r\nUser-Agent: mkpcap\r\n\r\n"
BODY = b"<html><body>" + b"hello, htracr " * 20 + b"</body></html>\n"
OK = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(BODY)
      + BODY)


def exchange(w, **kw):
    c = Conv(w, **kw)
    c.handshake()
    c.send(0, GET)
    c.send(1, OK)
    c.close()
    return c


# ---------------------------------------------------------------- seeds

def seed_get_eth(f):
    exchange(PcapWriter(f))


def seed_get_raw6(f):
    exchange(PcapWriter(f, LINK_RAW), v6=True, link=LINK_RAW)


def seed_get_pcapng(f):
    exchange(PcapngWriter(f))


def seed_get_be_nano(f):
    exchange(PcapWriter(f, endian=">", nano=True))


def seed_rich(f):
    """Keep-alive: POST with 100-continue, then a chunked gzip response, then
    a pipelined pair on another port found by sniffing."""
    w = PcapWriter(f)
    c = Conv(w)
    c.handshake()
    c.send(0, b"POST /up HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\n"
              b"Content-Length: 5\r\n\r\n")
    c.send(1, b"HTTP/1.1 100 Continue\r\n\r\n")
    c.send(0, b"hello")
    z = gzip.compress(b"chunked and gzipped " * 50)
    body = b"".join(b"%x\r\n%s\r\n" % (len(z[i:i + 300]), z[i:i + 300])
                    for i in range(0, len(z), 300)) + b"0\r\n\r\n"
    c.send(1, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
              b"Content-Type: text/plain\r\n\r\n" + body)
    c.close()
    p = Conv(w, cport=40001, sport=8080, t_us=c.t)
    p.handshake()
    p.send(0, GET + GET.replace(b"/index.html", b"/two"))
    p.send(1, OK + OK)
    p.pkt(0, RST | ACK)


SEEDS = {
    "get-eth.pcap": seed_get_eth,
    "get-raw6.pcap": seed_get_raw6,
    "get.pcapng": seed_get_pcapng,
    "get-be-nano.pcap": seed_get_be_nano,
    "rich.pcap": seed_rich,
}


def write_seeds(d):
    """Write the seeds into d, printing each path."""
    for name, fn in SEEDS.items():
        buf = io.BytesIO()
        fn(buf)
        with open(os.path.join(d, name), "wb") as f:
            f.write(buf.getvalue())
        print(os.path.join(d, name))
    buf = io.BytesIO()
    seed_get_eth(buf)
    with open(os.path.join(d, "get-eth.pcap.gz"), "wb") as f:
        f.write(gzip.compress(buf.getvalue(), mtime=0))
    print(os.path.join(d, "get-eth.pcap.gz"))


# ---------------------------------------------------------------- hostile

def gz_zeros(f, total, prefix=b""):
    """gzip of prefix + `total` zero bytes, written without holding them."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    f.write(z.compress(prefix))
    chunk = b"\0" * (1 << 20)
    for _ in range(total >> 20):
        f.write(z.compress(chunk))
    f.write(z.flush())


def h_caplen_gt_snaplen(f):
    """snaplen 96, but every record carries the whole frame."""
    exchange(PcapWriter(f, snaplen=96))


def h_caplen_huge(f):
    w = PcapWriter(f)
    c = Conv(w)
    c.handshake()
    w.record(c.t, b"\0" * 64, caplen=0xFFFFFFFF, wirelen=0xFFFFFFFF)


def h_wirelen_lt_caplen(f):
    """Every record claims a wire length smaller than what it carries."""
    w = PcapWriter(f)
    orig = w.record
    w.record = lambda ts, data, caplen=None, wirelen=None: orig(ts, data, wirelen=10)
    exchange(w)


def h_ip_tcp_lengths(f):
    """A good exchange with every kind of lying IP/TCP header woven in."""
    w = PcapWriter(f)
    c = Conv(w)
    c.handshake()
    s, d = c.addr

    def seg(flags=ACK, payload=b"", sport=40000, **kw):
        # in the connection's own sequence space, so that whatever decode lets
        # through is a plausible segment, not a second stream
        return tcp(s, d, sport, 80, c.seq[0], c.seq[1], flags, payload, **kw)

    good = seg()
    t = c.t
    junk = [
        ipv4(s, d, good)[:20],                               # IHL 5, no TCP at all
        ipv4(s, d, good, ihl=15),                            # IHL 15, options missing
        ipv4(s, d, good, ihl=4),                             # IHL below minimum
        ipv4(s, d, good, ihl=0),
        ipv4(s, d, good, total=65535),                       # total length >> captured
        ipv4(s, d, good, total=10),                          # total length < header
        ipv4(s, d, good, total=0),
        ipv4(s, d, good, frag=0x2000),                       # first fragment (MF)
        ipv4(s, d, good, frag=0x1FFF),                       # last fragment, max offset
        ipv4(s, d, good[:10]),                               # TCP header cut
        ipv4(s, d, seg(payload=b"abc", doff=15)),            # data offset past the segment
        ipv4(s, d, seg(payload=b"abc", doff=0)),
        ipv4(s, d, seg(payload=b"abc", doff=4)),
        ipv4(s, d, seg(opts=b"\x02\x00\x05\xb4")),           # MSS option, length 0
        ipv4(s, d, seg(opts=b"\x02\x01\x05\xb4")),           # length 1
        ipv4(s, d, seg(opts=b"\x08\xff" + b"\0" * 10)),      # timestamps, length 255
        ipv4(s, d, seg(opts=b"\x05\x22" + b"\0" * 34)),      # SACK, more than 4 blocks
        ipv4(s, d, seg(opts=b"\x05\x03\0\0")),              # SACK, length 3
        ipv4(s, d, seg(opts=b"\x01" * 40)),                  # all NOPs
        ipv4(s, d, seg(SYN, sport=40009, opts=b"\x03\x03\x0e\x01\x03\x03\xff\x01")),
        b"\x45",                                             # one byte of IP
        b"",                                                 # no bytes at all
        b"\x60" + b"\0" * 10,                                # IPv6 header cut
    ]
    s6, d6 = ip6(1), ip6(2)
    good6 = tcp(s6, d6, 40000, 80, 1, 1, ACK)
    junk += [
        ipv6(s6, d6, good6, plen=65535),                     # payload length >> captured
        ipv6(s6, d6, good6, plen=3),                         # payload length < TCP header
        ipv6(s6, d6, bytes([6, 255]) + b"\0" * 6 + good6, nh=0),   # hop-by-hop len 255
        ipv6(s6, d6, b"".join(bytes([60, 0]) + b"\0" * 6 for _ in range(200))
             + bytes([6, 0]) + b"\0" * 6 + good6, nh=60),  # 201 dest-options headers
        ipv6(s6, d6, bytes([6, 0, 0, 1]) + b"\0" * 4 + good6, nh=44),  # fragment
        ipv6(s6, d6, b"", nh=6),                             # no TCP
        ipv6(s6, d6, bytes([59, 0]) + b"\0" * 6, nh=0),      # no next header
    ]
    for ip in junk:
        w.record(t, frame(ip, LINK_ETHERNET) if ip else ip)
        t += 10
    # link layer lies
    w.record(t, b"\x02\0\0\0\0")                             # 5-byte Ethernet
    w.record(t, ether(b"", 0x0800))                          # Ethernet, no IP
    w.record(t, ether(b"\x65" + ipv4(s, d, good)[1:], 0x0800))  # version 6 in an IPv4 frame
    qinq = b"".join(b"\x81\x00\x00\x01" for _ in range(100))  # 101 stacked VLAN tags
    w.record(t, b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01" + qinq + b"\x08\x00" + ipv4(s, d, good))
    w.record(t, b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x81\x00")  # VLAN tag cut
    c.t = t + 10
    # and the exchange goes on: the model must still hold it
    c.send(0, GET)
    c.send(1, OK)
    c.close()


def h_unknown_linktype(f):
    exchange(PcapWriter(f, linktype=147))


def h_random(f):
    f.write(random.Random(1).randbytes(65536))


def h_random_after_header(f):
    PcapWriter(f)
    f.write(random.Random(2).randbytes(65536))


def h_random_records(f):
    """Well-formed records whose bytes are random."""
    w = PcapWriter(f)
    r = random.Random(3)
    for i in range(2000):
        w.record(T0_US + i, r.randbytes(r.randrange(0, 200)))


def _pcapng_one_bad(f, **bad):
    w = PcapngWriter(f)
    c = Conv(w)
    c.handshake()
    s, d = c.addr
    w.record(c.t, frame(ipv4(s, d, tcp(s, d, 40000, 80, 1, 1, ACK, GET)), LINK_ETHERNET), **bad)
    c.send(1, OK)


def h_pcapng_len_huge(f):
    _pcapng_one_bad(f, total=0xFFFFFFF0)


def h_pcapng_len_small(f):
    _pcapng_one_bad(f, total=8)


def h_pcapng_len_unaligned(f):
    _pcapng_one_bad(f, total=0x0000007F)


def h_pcapng_trailer(f):
    _pcapng_one_bad(f, trailer=0x12345678)


def h_pcapng_caplen_past_block(f):
    _pcapng_one_bad(f, caplen=60000)


def h_pcapng_ts_huge(f):
    """Enhanced packet blocks at the far end of 64-bit µs time (2^64 - 1 µs
    is about 585 000 years: seconds * 10^9 overflows a signed 64-bit ns)."""
    w = PcapngWriter(f)
    orig = w.record
    w.record = lambda ts, data, **kw: orig((1 << 64) - 1 - (ts - T0_US), data, **kw)
    exchange(w)


def h_http_many_headers(f):
    """One request with 100 000 header lines."""
    w = PcapWriter(f)
    c = Conv(w)
    c.handshake()
    hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(100000))
    c.send(0, b"GET /many HTTP/1.1\r\nHost: h.test\r\n" + hdrs + b"\r\n", mss=60000)
    c.send(1, OK)
    c.close()


def h_http_long_header(f):
    """A 1 MiB header line in the request, another in the response."""
    w = PcapWriter(f)
    c = Conv(w)
    c.handshake()
    big = b"A" * (1 << 20)
    c.send(0, b"GET /long HTTP/1.1\r\nHost: h.test\r\nX-Long: " + big + b"\r\n\r\n", mss=60000)
    c.send(1, b"HTTP/1.1 200 OK\r\nX-Long: " + big + b"\r\nContent-Length: 0\r\n\r\n",
           mss=60000)
    c.close()


def h_http_long_url(f):
    w = PcapWriter(f)
    c = Conv(w)
    c.handshake()
    c.send(0, b"GET /" + b"u" * (1 << 20) + b" HTTP/1.1\r\nHost: h.test\r\n\r\n", mss=60000)
    c.send(1, OK)
    c.close()


def h_terminal_escapes(f):
    """Wire bytes that a terminal would act on, where the summary prints
    them: ESC sequences and a bell in a reason phrase, a C1 CSI (0x9b) and
    UTF-8 in a URL, a backslash."""
    w = PcapWriter(f)
    c = Conv(w)
    c.handshake()
    c.send(0, b"GET /caf\xc3\xa9/\x9b2J\\x HTTP/1.1\r\nHost: h.test\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 O\x1b]0;pwned\x07K\x1b[2J\x1b[31m\r\nContent-Length: 0\r\n\r\n")
    c.send(0, GET)
    c.send(1, OK)
    c.close()


def h_http_chunk_2pow64(f):
    """Chunk sizes at and past 2^64, and a Content-Length past 2^64."""
    w = PcapWriter(f)
    c = Conv(w)
    c.handshake()
    c.send(0, GET)
    c.send(1, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"10000000000000000\r\nxxxx\r\n0\r\n\r\n")
    c.close()
    c = Conv(w, cport=40001, t_us=c.t)
    c.handshake()
    c.send(0, GET)
    c.send(1, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"ffffffffffffffff\r\nxxxx")
    c.close()
    c = Conv(w, cport=40002, t_us=c.t)
    c.handshake()
    c.send(0, GET)
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\nxxxx")
    c.close()
    c = Conv(w, cport=40003, t_us=c.t)
    c.handshake()
    c.send(0, GET)
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nxxxx")
    c.close()


def h_http_gzip_bomb_body(f):
    """A response whose Content-Encoding: gzip body inflates to 200 MB."""
    z = io.BytesIO()
    gz_zeros(z, 200 << 20)
    body = z.getvalue()
    w = PcapWriter(f)
    c = Conv(w)
    c.handshake()
    c.send(0, GET)
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
              b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    c.close()


def h_http_deflate_garbage(f):
    """Content-Encoding that does not match its body."""
    w = PcapWriter(f)
    c = Conv(w)
    c.handshake()
    for enc in (b"gzip", b"deflate", b"br", b"gzip, gzip, gzip"):
        c.send(0, GET)
        c.send(1, b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: 64\r\n\r\n"
               % enc + random.Random(4).randbytes(64))
    c.close()


def h_no_handshake_10k(f):
    """10 000 connections that start with a request: no SYN ever seen."""
    w = PcapWriter(f)
    t = T0_US
    for i in range(10000):
        c = Conv(w, cport=1024 + i % 50000, chost=1 + i // 5000, t_us=t, step_us=1)
        c.pkt(0, ACK | PSH, b"GET /%d HTTP/1.1\r\nHost: n.test\r\n\r\n" % i)
        t = c.t


def h_gzip_bomb_file(f):
    """gzip of 200 MB of zeros: inflates to something that is not a capture."""
    gz_zeros(f, 200 << 20)


def h_gzip_empty_records(f):
    """gzip of a pcap header and 16 MB of zeros: a million empty records."""
    hdr = io.BytesIO()
    PcapWriter(hdr)
    gz_zeros(f, 16 << 20, hdr.getvalue())


def h_gzip_not_gzip(f):
    f.write(b"\x1f\x8b\x08\x00" + random.Random(5).randbytes(4000))


def h_http_100k_pipelined(f):
    """100 000 requests on one connection, never answered."""
    w = PcapWriter(f)
    c = Conv(w)
    c.handshake()
    c.send(0, b"GET / HTTP/1.1\r\nHost: p.test\r\n\r\n" * 100000, mss=60000)
    c.close()


def h_tcp_ooo_flood(f):
    """The first segment never arrives; 5 000 segments after the hole do."""
    w = PcapWriter(f)
    c = Conv(w, step_us=10)
    c.handshake()
    c.send(0, GET)
    c.seq[1] += 1400  # the lost segment
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 7000000\r\n\r\n"
    c.pkt(1, ACK, body)
    for _ in range(5000):
        c.pkt(1, ACK, b"z" * 1400)
    c.close()


def h_syn_storm(f):
    """10 000 SYNs on one 5-tuple, each with a new ISN, some answered."""
    w = PcapWriter(f)
    t = T0_US
    for i in range(10000):
        c = Conv(w, t_us=t, step_us=1)
        c.seq = [i * 7919, i * 104729]
        c.pkt(0, SYN)
        if i % 3 == 0:
            c.pkt(1, SYN | ACK)
        if i % 5 == 0:
            c.pkt(0, RST)
        t = c.t


def h_syn_flood_100k(f):
    """100 000 SYNs to port 80 from as many client ports and addresses, 10 us
    apart, never answered: each is a flow to follow until its timeout."""
    w = PcapWriter(f)
    for i in range(100000):
        c = Conv(w, cport=1024 + i % 60000, chost=1 + i // 60000, t_us=T0_US + 10 * i)
        c.pkt(0, SYN)


def h_syn_servers_100k(f):
    """100 000 SYNs from one client to as many servers (10.1.0.0 up), 10 us
    apart: a crawler's or a proxy's capture, each server met once."""
    w = PcapWriter(f)
    for i in range(100000):
        c = Conv(w, t_us=T0_US + 10 * i)
        c.addr = (ip4("10.0.0.1"), bytes([10, 1 + i // 65536, (i // 256) % 256, i % 256]))
        c.pkt(0, SYN)


def h_open_3k_bodies(f):
    """3 000 keep-alive connections left open, each answered once with a
    20 KB body in 15 segments: per-connection state outside the store's
    budget must stay small (each direction once kept its body buffer)."""
    w = PcapWriter(f)
    body = b"{" + b'"k": "value", ' * 1460 + b"}"
    rsp = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
           % len(body) + body)
    t = T0_US
    for i in range(3000):
        c = Conv(w, cport=1024 + i % 50000, chost=1 + i // 200, t_us=t, step_us=1)
        c.handshake()
        c.send(0, b"GET /api/%d HTTP/1.1\r\nHost: api.test\r\n\r\n" % i)
        c.send(1, rsp)
        t = c.t


def h_time_travel(f):
    """Timestamps that jump back, sit at 0 and at the end of 32-bit time."""
    w = PcapWriter(f)
    c = Conv(w)
    times = [T0_US, 0, T0_US - 10**12, 0xFFFFFFFF * 1000000 + 999999, T0_US, 5, T0_US + 1]
    orig = w.record
    state = {"i": 0}

    def record(ts, data, caplen=None, wirelen=None):
        orig(times[state["i"] % len(times)], data, caplen, wirelen)
        state["i"] += 1
    w.record = record
    c.handshake()
    c.send(0, GET)
    c.send(1, OK)
    c.close()
    # microsecond field past one second
    orig(T0_US, frame(ipv4(*c.addr, tcp(*c.addr, 40000, 80, 1, 1, ACK)), LINK_ETHERNET))
    f.seek(-(16 + 54), os.SEEK_CUR)
    f.write(struct.pack("<II", 1700000000, 4000000000))
    f.seek(0, os.SEEK_END)


HOSTILE = {
    "caplen-gt-snaplen.pcap": h_caplen_gt_snaplen,
    "caplen-ffffffff.pcap": h_caplen_huge,
    "wirelen-lt-caplen.pcap": h_wirelen_lt_caplen,
    "ip-tcp-lengths.pcap": h_ip_tcp_lengths,
    "unknown-linktype.pcap": h_unknown_linktype,
    "random.bin": h_random,
    "random-after-header.pcap": h_random_after_header,
    "random-records.pcap": h_random_records,
    "pcapng-len-huge.pcapng": h_pcapng_len_huge,
    "pcapng-len-small.pcapng": h_pcapng_len_small,
    "pcapng-len-unaligned.pcapng": h_pcapng_len_unaligned,
    "pcapng-trailer.pcapng": h_pcapng_trailer,
    "pcapng-caplen-past-block.pcapng": h_pcapng_caplen_past_block,
    "pcapng-ts-huge.pcapng": h_pcapng_ts_huge,
    "http-100k-headers.pcap": h_http_many_headers,
    "http-1mb-header-line.pcap": h_http_long_header,
    "http-1mb-url.pcap": h_http_long_url,
    "terminal-escapes.pcap": h_terminal_escapes,
    "http-chunk-2pow64.pcap": h_http_chunk_2pow64,
    "http-gzip-bomb-body.pcap": h_http_gzip_bomb_body,
    "http-bad-encoding.pcap": h_http_deflate_garbage,
    "no-handshake-10k.pcap": h_no_handshake_10k,
    "http-100k-pipelined.pcap": h_http_100k_pipelined,
    "tcp-ooo-flood.pcap": h_tcp_ooo_flood,
    "syn-storm.pcap": h_syn_storm,
    "syn-flood-100k.pcap": h_syn_flood_100k,
    "syn-servers-100k.pcap": h_syn_servers_100k,
    "open-3k-bodies.pcap": h_open_3k_bodies,
    "time-travel.pcap": h_time_travel,
    "bomb.gz": h_gzip_bomb_file,
    "empty-records.pcap.gz": h_gzip_empty_records,
    "not-gzip.gz": h_gzip_not_gzip,
}


def write_cuts(d, real):
    """A real capture cut inside the global header, inside a record header and
    inside record data; the same capture gzip'd and cut in half."""
    with open(real, "rb") as f:
        data = f.read()
    # offset of the second record, to cut inside its header and its data
    caplen1 = struct.unpack("<I", data[32:36])[0]
    rec2 = 24 + 16 + caplen1
    caplen2 = struct.unpack("<I", data[rec2 + 8:rec2 + 12])[0]
    cuts = {
        "cut-global-header.pcap": 10,
        "cut-first-record-header.pcap": 24 + 7,
        "cut-record-header.pcap": rec2 + 9,
        "cut-record-data.pcap": rec2 + 16 + caplen2 // 2,
        "cut-late-record-data.pcap": len(data) - 5,
        "cut-at-record-boundary.pcap": rec2,
    }
    for name, n in cuts.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data[:n])
    z = gzip.compress(data, mtime=0)
    with open(os.path.join(d, "cut-gzip.pcap.gz"), "wb") as f:
        f.write(z[:len(z) // 2])


def write_hostile(d, real=None):
    if real is None:
        real = os.path.join(d, "base.pcap")
        with open(real, "wb") as f:
            seed_rich(f)
    with open(real, "rb") as f:
        if f.read(4) != b"\xd4\xc3\xb2\xa1":
            sys.exit("mkpcap: %s: need a little-endian µs pcap to cut" % real)
    write_cuts(d, real)
    for name, fn in HOSTILE.items():
        with open(os.path.join(d, name), "wb") as f:
            fn(f)


def main(argv):
    if len(argv) >= 3 and argv[1] == "seeds":
        write_seeds(argv[2])
    elif len(argv) >= 3 and argv[1] == "hostile":
        write_hostile(argv[2], argv[3] if len(argv) > 3 else None)
    elif len(argv) == 2 and argv[1] == "list":
        print("\n".join(HOSTILE))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
