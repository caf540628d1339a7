#!/bin/bash
# interop.sh: nfsentry against a real exporter (softflowd) and a reference
# collector (nfdump's nfcapd), for NetFlow v5, v9 and IPFIX.
#
# 1. tools/gentraffic writes a deterministic campus capture (IPv4 + IPv6) in
#    60-second pieces.
# 2. For each version, every piece is read by its own softflowd (-r), which
#    exports to nfcapd on a loopback port while dumpcap records the export
#    datagrams on `lo` into export-vN.pcap.
# 3. nfdump -R gives the reference: record count, packets, octets, the same
#    per source address and per destination address, and the individual
#    records.
# 4. `nfsentry replay export-vN.pcap --flows csv` must give exactly the same.
#
# What is known about softflowd 1.1.0 reading a file, and how this script
# copes, is in docs/testing.md. Exit 0 when every version matches; otherwise
# non-zero with the differences on stderr. Nothing is left running: every
# process is started here, remembered by pid and stopped by pid.
#
# Environment: NFSENTRY, BUILD_DIR (from meson), and optionally
#   INTEROP_VERSIONS   "5 9 10" (default)
#   INTEROP_PORT_BASE  first UDP port (default 29055, or a random free base if taken; v5 +0, v9 +1, IPFIX +2)
#   INTEROP_FLOWS / INTEROP_DURATION / INTEROP_SEED   capture size and seed
#   INTEROP_KEEP=1     keep the temp dir (it is always kept on failure)
#   INTEROP_EXPORT_ONLY=1  stop after the nfdump side (no nfsentry needed)
#   INTEROP_STRICT_ICMP=0  only warn (default: fail) when ICMP type/code differ
set -euo pipefail

PROG=interop
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

: "${BUILD_DIR:?BUILD_DIR must point at the meson build directory}"
NFSENTRY=${NFSENTRY:-$BUILD_DIR/src/nfsentry}
GENTRAFFIC=${GENTRAFFIC:-$BUILD_DIR/tools/gentraffic}
VERSIONS=${INTEROP_VERSIONS:-5 9 10}
PORT_BASE=${INTEROP_PORT_BASE:-$(free_port_base 29055 3)}
FLOWS=${INTEROP_FLOWS:-2000}
DURATION=${INTEROP_DURATION:-600}
SEED=${INTEROP_SEED:-1}
START=1767225600 # 2026-01-01T00:00:00Z
SPLIT=60
EXPORT_ONLY=${INTEROP_EXPORT_ONLY:-0}
STRICT_ICMP=${INTEROP_STRICT_ICMP:-1}

require_tools softflowd softflowctl nfcapd nfdump dumpcap ss awk sort diff timeout
[ -x "$GENTRAFFIC" ] || die "gentraffic not built: $GENTRAFFIC"
if [ "$EXPORT_ONLY" != 1 ]; then
	[ -x "$NFSENTRY" ] || die "nfsentry not built: $NFSENTRY"
fi

lib_init interop "${INTEROP_KEEP:-0}"

# ---------------------------------------------------------------- capture

SECONDS=0
"$GENTRAFFIC" -o "$T/traffic.pcap" --seed "$SEED" --start "$START" \
	--duration "$DURATION" --flows "$FLOWS" --split "$SPLIT" --snaplen 128 -v \
	2>"$T/gentraffic.log" || die "gentraffic failed: $(cat "$T/gentraffic.log")"
PIECES=("$T"/traffic-[0-9][0-9][0-9].pcap)
CAP_PACKETS=$(sed -n 's/.* \([0-9]*\) packets,.*/\1/p' "$T/gentraffic.log")
[ -n "$CAP_PACKETS" ] || die "cannot read the packet count from gentraffic -v"
log "$(cat "$T/gentraffic.log") in ${#PIECES[@]} pieces"

# ---------------------------------------------------------------- softflowd

# One version: nfcapd + dumpcap up, every piece through softflowd, both down.
export_version() {
	local v=$1 port=$2
	local d="$T/v$v" # a separate local: within one, $v would be the caller's
	mkdir -p "$d/nfcapd"
	port_free "$port" || die "UDP port $port is busy (set INTEROP_PORT_BASE)"

	capture_start "$port" "$d/export.pcap" "$d/dumpcap.log"

	nfcapd -b 127.0.0.1 -p "$port" -w "$d/nfcapd" -B 16777216 -t 3600 \
		-P "$d/nfcapd.pid" >"$d/nfcapd.log" 2>&1 &
	local nc=$!
	PIDS+=("$nc")
	wait_udp_listen "$port" 10 || die "nfcapd did not listen on $port: $(cat "$d/nfcapd.log")"

	local piece
	for piece in "${PIECES[@]}"; do
		run_softflowd "$v" "$piece" "$port" "$d/softflowd.log" ||
			die "softflowd -v $v failed on $piece (see $d/softflowd.log)"
	done

	# Let the last datagrams land, then stop both; SIGTERM makes nfcapd
	# flush and close its file, SIGINT makes dumpcap finish the capture.
	sleep 1
	stop_pid "$nc" TERM
	capture_stop "$d/dumpcap.log" "v$v"
	ls "$d"/nfcapd/nfcapd.2* >/dev/null 2>&1 ||
		die "nfcapd wrote no file for v$v: $(cat "$d/nfcapd.log")"
}

# ---------------------------------------------------------------- summaries

# Both sides are reduced to the same three files per version:
#   totals   "records packets octets"
#   bysrc    "src records packets octets", one line per source address, sorted
#   bydst    "dst records packets octets", the same per destination address
#   records  "proto src dst sport dport packets octets first_ms last_ms", sorted
# Ports are compared for TCP and UDP only. ICMP type and code (as dport =
# type * 256 + code, the NetFlow v5 convention nfdump follows) are compared
# separately, for ICMPv4 only: nfdump 1.7.1 reads v9/IPFIX element 32
# (icmpTypeCodeIPv4) but not 139 (icmpTypeCodeIPv6), so it is no reference
# for ICMPv6. That check fails unless INTEROP_STRICT_ICMP=0 (docs/testing.md
# says why and when to make it strict).
#   icmp4    "src dst first_ms type*256+code", sorted

nfdump_side() {
	local d=$1
	# fmt output is padded with blanks; -N prints plain numbers, -6 whole IPv6
	# addresses, -q drops the header and the summary. The end time is taken
	# as start + duration: nfdump 1.7.1 prints %ter with a wrong millisecond
	# part (00:00:07.301 comes out as 1767225607.001; see docs/testing.md).
	nfdump -R "$d/nfcapd" -q -N -6 \
		-o 'fmt:%pr,%sa,%da,%sp,%dp,%pkt,%byt,%tsr,%td' >"$d/nfdump.raw" ||
		die "nfdump failed on $d/nfcapd"
	awk -F, '
		function ms(s,  a) { n = split(s, a, "."); return a[1] * 1000 + substr(a[2] "000", 1, 3) }
		{
			for (i = 1; i <= NF; i++) gsub(/ /, "", $i)
			p = $1
			proto = (p == "TCP") ? 6 : (p == "UDP") ? 17 : (p == "ICMP") ? 1 : (p == "ICMP6") ? 58 : p
			sp = $4; dp = $5
			if (proto != 6 && proto != 17) { sp = 0; dp = 0 }
			first = ms($8)
			printf "%s %s %s %s %s %s %s %.0f %.0f\n", proto, $2, $3, sp, dp, $6, $7, first, first + int($9 * 1000 + 0.5)
			if (proto == 1) {
				split($5, tc, ".")
				printf "%s %s %.0f %d\n", $2, $3, first, tc[1] * 256 + tc[2] >icmp
			}
		}' icmp="$d/nfdump.icmp4.unsorted" "$d/nfdump.raw" | LC_ALL=C sort >"$d/nfdump.records"
	LC_ALL=C sort "$d/nfdump.icmp4.unsorted" >"$d/nfdump.icmp4"
	summarize "$d/nfdump.records" "$d/nfdump"
}

nfsentry_side() {
	local d=$1
	"$NFSENTRY" replay "$d/export.pcap" --flows csv >"$d/nfsentry.csv" 2>"$d/nfsentry.log" ||
		die "nfsentry replay failed on $d/export.pcap: $(tail -5 "$d/nfsentry.log")"
	local want='export_time,exporter,src,dst,sport,dport,proto,tcp_flags,packets,octets,first,last,in_if,out_if,sampling'
	local got
	got=$(head -n1 "$d/nfsentry.csv")
	[ "$got" = "$want" ] || die "nfsentry CSV header is '$got', expected '$want'"
	awk -F, 'NR > 1 {
			proto = $7; sp = $5; dp = $6
			if (proto != 6 && proto != 17) { sp = 0; dp = 0 }
			printf "%s %s %s %s %s %s %s %s %s\n", proto, $3, $4, sp, dp, $9, $10, $11, $12
			if (proto == 1)
				printf "%s %s %s %s\n", $3, $4, $11, $6 >icmp
		}' icmp="$d/nfsentry.icmp4.unsorted" "$d/nfsentry.csv" | LC_ALL=C sort >"$d/nfsentry.records"
	LC_ALL=C sort "$d/nfsentry.icmp4.unsorted" >"$d/nfsentry.icmp4"
	summarize "$d/nfsentry.records" "$d/nfsentry"
}

# summarize RECORDS PREFIX -> PREFIX.totals, PREFIX.bysrc, PREFIX.bydst
summarize() {
	awk '{ n++; p += $6; o += $7 } END { printf "%.0f %.0f %.0f\n", n, p, o }' "$1" >"$2.totals"
	local col name
	for col in 2 3; do
		name=$([ "$col" = 2 ] && echo bysrc || echo bydst)
		awk -v c="$col" '{ n[$c]++; p[$c] += $6; o[$c] += $7 }
			END { for (s in n) printf "%s %.0f %.0f %.0f\n", s, n[s], p[s], o[s] }' "$1" |
			LC_ALL=C sort >"$2.$name"
	done
}

# ---------------------------------------------------------------- main

FAILED=()
for v in $VERSIONS; do
	# Each version keeps its port whatever the list, so captures stay comparable.
	case $v in
	5) name=v5 port=$PORT_BASE ;;
	9) name=v9 port=$((PORT_BASE + 1)) ;;
	10) name=ipfix port=$((PORT_BASE + 2)) ;;
	*) die "unknown version '$v' in INTEROP_VERSIONS" ;;
	esac
	vstart=$SECONDS
	export_version "$v" "$port"
	d="$T/v$v"
	nfdump_side "$d"
	read -r n_rec n_pkt n_oct <"$d/nfdump.totals"
	n_dg=$(grep -o 'Packets captured: [0-9]*' "$d/dumpcap.log" | awk '{print $3}')
	[ "$n_rec" -gt 0 ] || die "$name: nfdump saw no records"
	# v9 and IPFIX carry both families, so softflowd must account for every
	# packet of the capture; anything less means a piece was not read to its
	# end (see run_softflowd) or datagrams were lost on the way to nfcapd.
	if [ "$v" != 5 ] && [ "$n_pkt" != "$CAP_PACKETS" ]; then
		die "$name: nfdump counts $n_pkt packets, the capture has $CAP_PACKETS"
	fi

	if [ "$EXPORT_ONLY" = 1 ]; then
		log "$name: export only: $n_dg datagrams, nfdump $n_rec records, $n_pkt packets, $n_oct octets ($((SECONDS - vstart)) s)"
		continue
	fi
	nfsentry_side "$d"
	bad=0
	if ! diff -u "$d/nfdump.totals" "$d/nfsentry.totals" >"$d/totals.diff"; then
		log "$name: totals differ (records packets octets; - nfdump, + nfsentry):"
		cat "$d/totals.diff" >&2
		bad=1
	fi
	if ! diff -u "$d/nfdump.bysrc" "$d/nfsentry.bysrc" >"$d/bysrc.diff"; then
		log "$name: per-source totals differ (src records packets octets):"
		head -40 "$d/bysrc.diff" >&2
		bad=1
	fi
	if ! diff -u "$d/nfdump.bydst" "$d/nfsentry.bydst" >"$d/bydst.diff"; then
		log "$name: per-destination totals differ (dst records packets octets):"
		head -40 "$d/bydst.diff" >&2
		bad=1
	fi
	if ! diff -u "$d/nfdump.records" "$d/nfsentry.records" >"$d/records.diff"; then
		log "$name: records differ (proto src dst sport dport packets octets first_ms last_ms):"
		head -40 "$d/records.diff" >&2
		bad=1
	fi
	if ! diff -u "$d/nfdump.icmp4" "$d/nfsentry.icmp4" >"$d/icmp4.diff"; then
		n_icmp=$(grep -c '^+[^+]' "$d/icmp4.diff" || true)
		if [ "$STRICT_ICMP" = 1 ]; then
			log "$name: ICMP type/code differs in $n_icmp records (src dst first_ms type*256+code):"
			head -20 "$d/icmp4.diff" >&2
			bad=1
		else
			log "$name: WARNING: ICMP type/code differs in $n_icmp records (known decoder gap," \
				"see docs/testing.md; INTEROP_STRICT_ICMP=1 makes this fail)"
		fi
	fi
	# Nothing is lost on loopback (dumpcap checked it), so the sequence
	# accounting must say so; softflowd's IPFIX numbering is its own and
	# must be recognised in every session (docs/decoding.md, "softflowd's
	# IPFIX numbering"), one per piece.
	dec=$(grep '^decoder: ' "$d/nfsentry.log" | tail -1)
	for k in lostRecords lostDatagrams reordered exporterRestarts; do
		val=$(sed -n "s/.* $k=\([0-9]*\).*/\1/p" <<<"$dec")
		if [ "$val" != 0 ]; then
			log "$name: nfsentry counts $k=${val:-?} for a lossless export"
			bad=1
		fi
	done
	incl=$(sed -n 's/.* sequenceInclusive=\([0-9]*\).*/\1/p' <<<"$dec")
	want_incl=$([ "$v" = 10 ] && echo "${#PIECES[@]}" || echo 0)
	if [ "$incl" != "$want_incl" ]; then
		log "$name: sequenceInclusive=${incl:-?}, want $want_incl (one per softflowd session)"
		bad=1
	fi
	read -r s_rec s_pkt s_oct <"$d/nfsentry.totals"
	nsrc=$(wc -l <"$d/nfdump.bysrc")
	ndst=$(wc -l <"$d/nfdump.bydst")
	if [ "$bad" = 0 ]; then
		printf '%s: %-5s ok: %d datagrams, %d records, %d packets, %d octets, %d sources, %d destinations match nfdump (%d s)\n' \
			"$PROG" "$name" "$n_dg" "$n_rec" "$n_pkt" "$n_oct" "$nsrc" "$ndst" $((SECONDS - vstart))
	else
		printf '%s: %-5s MISMATCH: nfdump %d/%d/%d, nfsentry %d/%d/%d (records/packets/octets)\n' \
			"$PROG" "$name" "$n_rec" "$n_pkt" "$n_oct" "$s_rec" "$s_pkt" "$s_oct"
		FAILED+=("$name")
	fi
done

if [ "${#FAILED[@]}" -gt 0 ]; then
	die "mismatch for ${FAILED[*]} (work files in $T)"
fi
OK=1
log "all versions match (${SECONDS} s)"
