#!/usr/bin/env python3
"""pcap_stamp.py: a copy of a pcap capture of NetFlow v5/v9/IPFIX export
datagrams with their export times changed (tests/integration/future.sh).

    pcap_stamp.py IN OUT --shift SECONDS    every datagram's export time + SECONDS
    pcap_stamp.py IN OUT --set N UNIX       datagram N (0-based) stamped UNIX

The export time is the message header's: IPFIX exportTime (offset 4), NetFlow
v9 and v5 unix_secs (offset 8), big-endian seconds. Only classic pcap with
Ethernet frames (link type 1), IPv4 or IPv6, UDP; the UDP checksum is
computed again. Prints the version and the old and new time of each datagram
it changed when there is one (--set), or how many it changed (--shift).
"""
import argparse
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def udp_checksum(frame, l3, ip6, udp):
    """The UDP checksum of the datagram at udp (IPv4 header at l3, or IPv6)."""
    length = struct.unpack_from("!H", frame, udp + 4)[0]
    seg = bytearray(frame[udp:udp + length])
    seg[6:8] = b"\0\0"
    if ip6:
        pseudo = frame[l3 + 8:l3 + 40] + struct.pack("!IxxxB", length, 17)
    else:
        pseudo = frame[l3 + 12:l3 + 20] + struct.pack("!xBH", 17, length)
    c = 0xFFFF - csum(bytes(pseudo) + bytes(seg))
    return c or 0xFFFF


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inp")
    ap.add_argument("out")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--shift", type=int)
    g.add_argument("--set", nargs=2, type=int, metavar=("N", "UNIX"))
    a = ap.parse_args()

    data = bytearray(open(a.inp, "rb").read())
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        sys.exit("pcap_stamp: %s is not a classic pcap file" % a.inp)
    if struct.unpack_from(e + "I", data, 20)[0] != 1:
        sys.exit("pcap_stamp: %s: link type is not Ethernet" % a.inp)
    off, n, changed = 24, 0, 0
    while off + 16 <= len(data):
        incl = struct.unpack_from(e + "I", data, off + 8)[0]
        f = off + 16
        off = f + incl
        ethertype = struct.unpack_from("!H", data, f + 12)[0]
        l3 = f + 14
        if ethertype == 0x0800 and data[l3 + 9] == 17:
            ip6, udp = False, l3 + (data[l3] & 0x0F) * 4
        elif ethertype == 0x86DD and data[l3 + 6] == 17:
            ip6, udp = True, l3 + 40
        else:
            continue
        msg = udp + 8
        version = struct.unpack_from("!H", data, msg)[0]
        at = {10: 4, 9: 8, 5: 8}.get(version)
        if at is None:
            continue
        k, n = n, n + 1
        old = struct.unpack_from("!I", data, msg + at)[0]
        if a.shift is not None:
            new = old + a.shift
        elif k == a.set[0]:
            new = a.set[1]
        else:
            continue
        struct.pack_into("!I", data, msg + at, new)
        struct.pack_into("!H", data, udp + 6, udp_checksum(data, l3, ip6, udp))
        changed += 1
        if a.set is not None:
            print("datagram %d (version %d): export time %d -> %d" % (k, version, old, new))
    if changed == 0:
        sys.exit("pcap_stamp: no datagram changed (%d export datagrams)" % n)
    if a.shift is not None:
        print("%d datagrams (of %d) shifted by %d s" % (changed, n, a.shift))
    open(a.out, "wb").write(data)


if __name__ == "__main__":
    main()
