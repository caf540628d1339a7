#!/usr/bin/env python3
"""Write the ingest fixture captures byte by byte (no libpcap, no scapy).

The captures are written by an independent writer on purpose: the unit
tests that build captures use libpcap's own pcap_dump, so a reader bug that
mirrors a writer bug would hide there. See README.md for what each holds.

    python3 tests/data/ingest/make_fixtures.py tests/data/ingest
"""
import struct
import sys
import os

V4_SRC = bytes([192, 0, 2, 1])
V4_DST = bytes([198, 51, 100, 7])
V6_SRC = bytes.fromhex("20010db8000000000000000000000001")
V6_DST = bytes.fromhex("20010db8ffff00000000000000000099")


def payload(tag, n):
    """tag, then bytes (i*7+3) & 0xff: easy to regenerate in the C test."""
    head = tag.encode()
    return head + bytes(((i * 7 + 3) & 0xFF) for i in range(n - len(head)))


def udp(sport, dport, data):
    return struct.pack(">HHHH", sport, dport, 8 + len(data), 0) + data


def ip4(proto, body, ident=1, frag=0):
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ident, frag, 64,
                       proto, 0, V4_SRC, V4_DST) + body


def ip6(nh, body):
    return struct.pack(">IHBB16s16s", 0x60000000, len(body), nh, 64, V6_SRC, V6_DST) + body


def eth(ethertype, body, tags=()):
    hdr = bytes.fromhex("020000000002020000000001")
    for tpid, vid in tags:
        hdr += struct.pack(">HH", tpid, vid)
    return hdr + struct.pack(">H", ethertype) + body


def write_pcap(path, linktype, frames):
    """Classic pcap, microseconds, little endian. frames: (sec, usec, bytes)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for sec, usec, data in frames:
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
            f.write(data)


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def write_pcapng_ns(path, linktype, frames):
    """pcapng, one interface with if_tsresol = 9 (nanoseconds). frames: (ns, bytes)."""
    with open(path, "wb") as f:
        shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        f.write(struct.pack("<II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body +
                struct.pack("<I", 12 + len(shb_body)))
        opts = struct.pack("<HH", 9, 1) + pad4(b"\x09") + struct.pack("<HH", 0, 0)
        idb_body = struct.pack("<HHI", linktype, 0, 262144) + opts
        f.write(struct.pack("<II", 1, 12 + len(idb_body)) + idb_body +
                struct.pack("<I", 12 + len(idb_body)))
        for ns, data in frames:
            body = struct.pack("<IIIII", 0, ns >> 32, ns & 0xFFFFFFFF, len(data), len(data))
            body += pad4(data)
            f.write(struct.pack("<II", 6, 12 + len(body)) + body +
                    struct.pack("<I", 12 + len(body)))


def main(out):
    t0 = 1700000000
    # 1. Ethernet: 802.1Q IPv4 to 2055, QinQ IPv6 to 4739, ARP, TCP, UDP to 53.
    frames = [
        (t0, 1000, eth(0x0800, ip4(17, udp(40000, 2055, payload("v4-vlan", 100))),
                       tags=[(0x8100, 100)])),
        (t0, 2000, eth(0x86DD, ip6(17, udp(40001, 4739, payload("v6-qinq", 200))),
                       tags=[(0x88A8, 10), (0x8100, 20)])),
        (t0 + 1, 0, eth(0x0806, bytes(28))),
        (t0 + 1, 500, eth(0x0800, ip4(6, bytes(20)))),
        (t0 + 2, 999999, eth(0x0800, ip4(17, udp(40000, 53, payload("dns", 30))))),
    ]
    write_pcap(os.path.join(out, "eth_vlan_v4_v6.pcap"), 1, frames)

    # 2. pcapng, ns timestamps, raw IPv6: a 3000-byte datagram in 3 fragments
    #    sent last-first, behind a hop-by-hop header; then a whole datagram
    #    behind a destination-options header.
    dg = udp(40001, 2055, payload("v6-frag", 3000))
    hbh = bytes([44, 0, 1, 4, 0, 0, 0, 0])
    pieces = [(0, 1448), (1448, 1448), (2896, len(dg) - 2896)]
    frames = []
    ns = t0 * 10**9 + 123456789
    for off, ln in reversed(pieces):
        more = 1 if off + ln < len(dg) else 0
        fh = struct.pack(">BBHI", 17, 0, off | more, 0xCAFE0001)
        frames.append((ns, ip6(0, hbh + fh + dg[off:off + ln])))
        ns += 1000
    dst = bytes([17, 0, 1, 4, 0, 0, 0, 0])
    frames.append((ns, ip6(60, dst + udp(40001, 2055, payload("v6-dstopt", 64)))))
    write_pcapng_ns(os.path.join(out, "raw_v6_frag_ns.pcapng"), 101, frames)

    # 3. DLT_NULL (little-endian family 2): IPv4 fragments, one set whole
    #    (in order), one set missing its last piece.
    dg = udp(40000, 2055, payload("v4-frag", 2000))
    frames = []
    for i, (off, ln) in enumerate([(0, 1480), (1480, len(dg) - 1480)]):
        more = 0x2000 if off + ln < len(dg) else 0
        frames.append((t0 + 10, i, struct.pack("<I", 2) +
                       ip4(17, dg[off:off + ln], ident=77, frag=more | (off // 8))))
    frames.append((t0 + 11, 0, struct.pack("<I", 2) +
                   ip4(17, dg[0:1480], ident=78, frag=0x2000)))
    write_pcap(os.path.join(out, "null_v4_frag.pcap"), 0, frames)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
