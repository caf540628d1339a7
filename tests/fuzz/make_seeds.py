#!/usr/bin/env python3
"""Write the seed corpora in tests/fuzz/corpus/<target>/ (small hand-built
datagrams, one valid example of each feature). Run from anywhere:
    python3 tests/fuzz/make_seeds.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u16(v): return struct.pack('>H', v)
def u32(v): return struct.pack('>I', v)
def u64(v): return struct.pack('>Q', v)


def put(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def fset(sid, body):
    return u16(sid) + u16(4 + len(body)) + body


# v5: two records, sampled 1:100.
def v5rec(h):
    return (bytes([10, 0, 0, h, 198, 51, 100, 7, 10, 0, 0, 254]) + u16(3) + u16(4) +
            u32(10) + u32(1500) + u32(90000) + u32(99000) + u16(40000) + u16(443) +
            bytes([0, 0x1b, 6, 0]) + u16(0) + u16(0) + bytes([24, 24]) + u16(0))


put('v5', 'two.bin', u16(5) + u16(2) + u32(100000) + u32(1700000000) + u32(5) + u32(0) +
    bytes([1, 2]) + u16(0x4000 | 100) + v5rec(1) + v5rec(2))

# v9: template + data; options template + options data (sampler).
V9F = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (2, 4), (1, 4), (10, 2), (14, 2),
       (22, 4), (21, 4), (48, 1)]


def v9hdr(seq):
    return u16(9) + u16(0) + u32(100000) + u32(1700000000) + u32(seq) + u32(77)


def v9rec(h):
    return (bytes([10, 1, 1, h, 203, 0, 113, 5]) + u16(5353) + u16(53) + bytes([17, 2]) +
            u32(100) + u32(5000) + u16(7) + u16(8) + u32(90000) + u32(98000) + bytes([3]))


tmpl = u16(256) + u16(len(V9F)) + b''.join(u16(a) + u16(b) for a, b in V9F)
data = v9rec(1) + v9rec(2)
data += b'\0' * ((4 - (len(data) + 4) % 4) % 4)
put('v9', 'tmpl_data.bin', v9hdr(0) + fset(0, tmpl) + fset(256, data))
opt = u16(300) + u16(4) + u16(12) + u16(1) + u16(4) + u16(48) + u16(1) + u16(49) + u16(1) + u16(50) + u16(4)
optdata = u32(0) + bytes([3, 2]) + u32(1000) + b'\0\0'
put('v9', 'options.bin', v9hdr(1) + fset(1, opt + b'\0\0') + fset(300, optdata) +
    fset(0, tmpl) + fset(256, data))


# IPFIX.
def ipfix(seq, sets):
    body = b''.join(sets)
    return u16(10) + u16(16 + len(body)) + u32(1700000000) + u32(seq) + u32(4242) + body


def fields(fs):
    out = b''
    for a, b in fs:
        out += u16(a) + u16(b)
        if a & 0x8000:
            out += u32(9)
    return out


IF = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 2), (0x8000 | 100, 3), (1, 8), (2, 8),
      (10, 4), (14, 4), (152, 8), (153, 8)]
irec = (bytes([10, 2, 2, 1, 192, 0, 2, 99]) + u16(1234) + u16(80) + bytes([6]) + u16(0x12) +
        b'\xaa\xbb\xcc' + u64(5000) + u64(42) + u32(1) + u32(2) + u64(1699999970000) +
        u64(1699999999000))
put('ipfix', 'tmpl_data.bin', ipfix(0, [fset(2, u16(300) + u16(len(IF)) + fields(IF)),
                                        fset(300, irec + irec + b'\0\0\0')]))
VF = [(27, 16), (96, 65535), (2, 4), (0x8000 | 7, 65535), (1, 4)]
vrec = bytes(16) + bytes([3]) + b'eth' + u32(11) + bytes([255]) + u16(20) + b'A' * 20 + u32(1100)
put('ipfix', 'varlen.bin', ipfix(0, [fset(2, u16(310) + u16(len(VF)) + fields(VF)),
                                     fset(310, vrec + vrec)]))
OF = [(302, 4), (305, 4), (306, 4)]
OF2 = [(149, 4), (160, 8), (34, 4)]
DF = [(2, 4), (1, 4), (302, 4), (22, 4), (21, 4), (154, 8), (158, 4)]
put('ipfix', 'options.bin', ipfix(0, [
    fset(3, u16(500) + u16(3) + u16(1) + fields(OF) + u16(501) + u16(3) + u16(1) + fields(OF2)),
    fset(500, u32(7) + u32(1) + u32(99)),
    fset(501, u32(4242) + u64(1699990000000) + u32(16)),
    fset(2, u16(510) + u16(len(DF)) + fields(DF)),
    fset(510, u32(3) + u32(300) + u32(7) + u32(5000) + u32(9000) + u64(0xe9a1b2c3 << 32) + u32(7000)),
]))
put('ipfix', 'withdraw.bin', ipfix(5, [
    fset(2, u16(256) + u16(1) + fields([(2, 4)]) + u16(257) + u16(1) + fields([(1, 4)])),
    fset(256, u32(1)),
    fset(2, u16(256) + u16(0) + u16(2) + u16(0)),
    fset(3, u16(3) + u16(0)),
    fset(256, u32(1)),
]))

# Hostile inputs kept in tests/data/fuzz-regress/ (test_decoder feeds each
# twice). The fuzzers found no crash so far; these are the traps the code
# was written against, kept so a regression shows up in the unit tests too.
REG = os.path.join(HERE, '..', 'data', 'fuzz-regress')
os.makedirs(REG, exist_ok=True)


def reg(name, data):
    with open(os.path.join(REG, name), 'wb') as f:
        f.write(data)


# Template whose record length is 0: a data set would never advance.
reg('v9-zero-length-template.bin', v9hdr(0) + fset(0, u16(256) + u16(2) + u16(8) + u16(0) +
                                                      u16(12) + u16(0)) + fset(256, u32(0) * 8))
# 65535-byte v9 field: record longer than any flowset.
reg('v9-field-65535.bin', v9hdr(0) + fset(0, u16(256) + u16(1) + u16(1) + u16(65535)) +
    fset(256, u32(1)))
# Flowset length 0 (would loop forever if not refused).
reg('v9-flowset-len0.bin', v9hdr(0) + u16(256) + u16(0) + u32(0))
# Variable-length field announcing 0xffff bytes in a 3-byte form.
reg('ipfix-varlen-past-set.bin', ipfix(0, [fset(2, u16(256) + u16(2) + fields([(96, 65535), (2, 4)])),
                                           fset(256, bytes([255, 255, 255]) + u32(1) + u32(2))]))
# Withdraw all, then data for a withdrawn template, then redefine and use.
reg('ipfix-withdraw-all-reuse.bin', ipfix(0, [
    fset(2, u16(256) + u16(1) + fields([(2, 4)])), fset(256, u32(1)),
    fset(2, u16(2) + u16(0)), fset(256, u32(1)),
    fset(2, u16(256) + u16(1) + fields([(1, 8)])), fset(256, u64(1)),
]))
# Options template with scope count larger than field count.
reg('ipfix-scope-over.bin', ipfix(0, [fset(3, u16(256) + u16(1) + u16(9) + fields([(34, 4)]))]))
# Many templates: cap and sweep paths (fuzz build caps at 8).
reg('ipfix-many-templates.bin', ipfix(0, [fset(2, b''.join(u16(256 + i) + u16(1) + u16(2) + u16(4)
                                                          for i in range(40)))]))


# pcapin: whole capture files. The reader's own fixtures (Ethernet with
# VLAN tags, IPv4 and IPv6; BSD null with IPv4 fragments; raw IPv6
# fragments in pcapng with nanosecond stamps), and small hand-built ones
# for the other link types.
import shutil
ING = os.path.join(HERE, '..', 'data', 'ingest')
for name in sorted(os.listdir(ING)):
    if name.endswith('.pcap') or name.endswith('.pcapng'):
        d = os.path.join(HERE, 'corpus', 'pcapin')
        os.makedirs(d, exist_ok=True)
        shutil.copyfile(os.path.join(ING, name), os.path.join(d, name))


def le16(v): return struct.pack('<H', v)
def le32(v): return struct.pack('<I', v)


def pcap(linktype, frames):
    out = le32(0xa1b2c3d4) + le16(2) + le16(4) + le32(0) + le32(0) + le32(65535) + le32(linktype)
    for i, fr in enumerate(frames):
        out += le32(1700000000 + i) + le32(0) + le32(len(fr)) + le32(len(fr)) + fr
    return out


def ip4_udp(payload, dport=2055):
    udp = u16(40000) + u16(dport) + u16(8 + len(payload)) + u16(0) + payload
    return (bytes([0x45, 0]) + u16(20 + len(udp)) + u16(1) + u16(0) + bytes([64, 17]) + u16(0) +
            bytes([192, 0, 2, 1, 192, 0, 2, 2]) + udp)


def ip6_udp(payload, dport=4739):
    udp = u16(40000) + u16(dport) + u16(8 + len(payload)) + u16(0) + payload
    return (bytes([0x60, 0, 0, 0]) + u16(len(udp)) + bytes([17, 64]) +
            bytes([0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [1]) +
            bytes([0x20, 0x01, 0x0d, 0xb8] + [0] * 11 + [2]) + udp)


V5 = u16(5) + u16(1) + u32(1) + u32(1700000000) + u32(0) + u32(0) + u32(0) + v5rec(1)
eth = bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + u16(0x0800)
put('pcapin', 'eth_v4.pcap', pcap(1, [eth + ip4_udp(V5), eth + ip4_udp(V5, 9996)]))
# Linux cooked v1 (113) and v2 (276), IPv6.
sll = u16(0) + u16(1) + u16(6) + bytes(8) + u16(0x86dd)
put('pcapin', 'sll_v6.pcap', pcap(113, [sll + ip6_udp(V5)]))
sll2 = u16(0x86dd) + u16(0) + le32(1)[::-1] + u16(1) + bytes([0, 6]) + bytes(8)
put('pcapin', 'sll2_v6.pcap', pcap(276, [sll2 + ip6_udp(V5)]))
# Raw IPv4 (LINKTYPE_IPV4 228) and a link type the reader refuses (DLT 105).
put('pcapin', 'ipv4.pcap', pcap(228, [ip4_udp(V5)]))
put('pcapin', 'unsupported.pcap', pcap(105, [ip4_udp(V5)]))
