#!/usr/bin/env bash
# Templates known after a restart (docs/manual.md "Restarts"), loopback only: a collector
# learns an IPFIX exporter's templates from a capture and is stopped with SIGTERM; started
# again, it decodes the same data sent with every template set removed: the same records,
# noTemplate 0. A collector that starts without the saved templates counts that data
# noTemplate (so the check can fail). A damaged templates file is moved aside as .bad and
# the collector starts anyway.
set -euo pipefail

: "${NFSENTRY:?}" "${SOURCE_DIR:?}"
FIXTURE="$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap"

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
live_init templates

# The capture without its template and options template sets (IPFIX set IDs 2 and 3):
# Ethernet, IPv4, UDP; the lengths and the IPv4 checksum are rewritten, the UDP checksum
# cleared (optional over IPv4); a datagram left with no set is dropped.
python3 - "$FIXTURE" "$work/data-only.pcap" <<'PY' || fail "cannot strip the templates"
import struct, sys
src = open(sys.argv[1], 'rb').read()
out = [src[:24]]
off, kept, stripped = 24, 0, 0
assert struct.unpack('<I', src[20:24])[0] == 1, 'Ethernet captures only'
while off + 16 <= len(src):
    ts, us, incl, orig = struct.unpack('<IIII', src[off:off + 16])
    pkt = src[off + 16:off + 16 + incl]
    off += 16 + incl
    ihl = (pkt[14] & 15) * 4
    ip, udp, msg = pkt[14:14 + ihl], pkt[14 + ihl:22 + ihl], pkt[22 + ihl:]
    mlen = struct.unpack('>H', msg[2:4])[0]
    body, pos = b'', 16
    while pos + 4 <= mlen:
        sid, slen = struct.unpack('>HH', msg[pos:pos + 4])
        if sid in (2, 3):
            stripped += 1
        else:
            body += msg[pos:pos + slen]
        pos += slen
    if not body:
        continue
    msg = msg[:2] + struct.pack('>H', 16 + len(body)) + msg[4:16] + body
    udp = udp[:4] + struct.pack('>H', 8 + len(msg)) + b'\0\0'
    ip = bytearray(ip[:2] + struct.pack('>H', ihl + len(udp) + len(msg)) + ip[4:10] + b'\0\0' + ip[12:])
    s = sum(struct.unpack('>%dH' % (ihl // 2), bytes(ip)))
    while s > 0xffff:
        s = (s & 0xffff) + (s >> 16)
    ip[10:12] = struct.pack('>H', ~s & 0xffff)
    pkt = pkt[:14] + bytes(ip) + udp + msg
    out.append(struct.pack('<IIII', ts, us, len(pkt), len(pkt)) + pkt)
    kept += 1
assert stripped > 0 and kept > 0
open(sys.argv[2], 'wb').write(b''.join(out))
PY

send() { # send CAPTURE
	"$NFSENTRY" send "$1" --to "127.0.0.1:$port" --rate 4000 >/dev/null 2>"$work/send.log" || fail "send failed: $(cat "$work/send.log")"
	sleep 0.5
}
# counter LOG NAME: the decoder's total NAME in the stop's stats line (0 when not shown).
counter() {
	local v
	v=$(grep 'decoder: ' "$work/$1.log" | tail -1 | sed -e 's/.*decoder: //' -e 's/; engine:.*//' | tr ' ' '\n' | sed -n "s/^$2=//p")
	echo "${v:-0}"
}

config t
start t t1
send "$FIXTURE"
stop
state="$work/t/store/nfsentry.db.state/templates"
[ -s "$state" ] || fail "the stop saved no templates in $state"
records=$(counter t1 records)
[ "$records" -gt 0 ] || fail "the first run decoded no records"

start t t2
grep -q 'restart: templates saved .*: [1-9][0-9]* restored' "$work/t2.log" || fail "the start did not restore the templates"
send "$work/data-only.pcap"
stop
[ "$(counter t2 noTemplate)" = 0 ] || fail "after the restart $(counter t2 noTemplate) data sets had no template"
[ "$(counter t2 records)" = "$records" ] || fail "after the restart $(counter t2 records) records decoded, want $records"
[ "$(counter t2 templatesRestored)" -gt 0 ] || fail "templatesRestored not counted"

# Without the saved templates the same data has none.
rm "$state"
start t t3
send "$work/data-only.pcap"
stop
[ "$(counter t3 noTemplate)" -gt 0 ] || fail "a start without saved templates decoded data sent with none"

# A damaged file: moved aside, the collector runs on.
printf 'NFSTMPLS garbage' >"$state"
start t t4
grep -q 'truncated or corrupt: moved to' "$work/t4.log" || fail "a damaged templates file was not refused"
[ -f "$state.bad" ] || fail "the damaged file was not moved aside"
stop
echo "templates: ok: $records records decoded after a restart without a template sent; noTemplate 0"
