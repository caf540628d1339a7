#!/usr/bin/env bash
# SIGHUP reload during a live send (docs/manual.md "Reloading the configuration"), loopback,
# within one wall-clock slot (the capture's old export times are folded into the open slot
# as late): a valid changed file (a lowered threshold, a device, an alert hook added, another
# listen port) then an invalid
# one arrive while `nfsentry send` is sending. Asserted: every record decoded and in the slot
# (as many as the uninterrupted reference run), one stored slot (the slot went on), the log
# lines of each reload, the listen change kept at its running value (the old port still
# receives). That the new threshold applies from the next slot is tests/unit/test_engine.c
# (test_sites_set): a live slot boundary is 5 minutes away. Then 100 reloads during a send:
# no record lost, replaced configurations freed (held=, resident memory flat). Last, across a
# slot boundary (the collector's clock shifted by libfaketime), a site added and a prefix moved during a send
# apply from the next slot, the slot open at the reload stored whole.
set -euo pipefail

: "${NFSENTRY:?}" "${SOURCE_DIR:?}"
FIXTURE="$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap"
RECORDS=4216 # nfdump's count for the fixture (tests/data/replay/README.md)

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
live_init reload
# Everything must happen within one 300-s slot: start early in one.
live_same_slot 40

# Thresholds that label IPs, on top of lib.sh's live.yaml.
config() { # config NAME
	mkdir -p "$work/$1"
	sed -e "s|@PORT@|$port|g" -e "s|@DIR@|$work/$1|g" \
		-e 's|^    allow: \[10.10.0.80, 10.10.0.53\]|&\n    thresholds: {min_packets: 1, nopayload_max_avg: 1500}|' \
		"$SOURCE_DIR/tests/integration/live.yaml" >"$work/$1.yaml"
}
# Under AddressSanitizer freed memory waits in a quarantine: none, so that RSS says what is kept.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"

decoded() { # decoded LOG: the decoder's records in the last statistics line
	grep 'udp: ' "$work/$1.log" | sed -n 's/.*; decoder: .* records=\([0-9]*\).*/\1/p' | tail -1
}
q() { sqlite3 "$work/$1/store/nfsentry.db" "$2"; }
tot="select json_extract(doc,'\$.records'), json_extract(doc,'\$.egress'), json_extract(doc,'\$.ingress'), json_extract(doc,'\$.insideSeen'), json_extract(doc,'\$.conversations') from documents where kind='slot'"

# The reference: the same send, no reload.
config ref
start ref
"$NFSENTRY" send "$FIXTURE" --to "127.0.0.1:$port" --rate 100 >/dev/null 2>"$work/send-ref.log" || fail "send failed"
sleep 0.5
stop

# The send, about 2 s at 100 datagrams/s, with two reloads in the middle of it.
config rl
start rl
"$NFSENTRY" send "$FIXTURE" --to "127.0.0.1:$port" --rate 100 >/dev/null 2>"$work/send.log" &
spid=$!
sleep 0.5
cp "$work/rl.yaml" "$work/rl.orig"
other=$((port == 65535 ? port - 1 : port + 1))
# A device added: its poller starts at once (port 1 refuses: one failed poll is logged).
dev='    devices:\n      - {name: gw9, kind: ios-xr, host: 127.0.0.1, port: 1, user: noc, key: /nonexistent/key, known_hosts: /nonexistent/known_hosts, interval: 60, timeout: 2}'
sed -e "s|127.0.0.1:$port|127.0.0.1:$other|" \
	-e 's|min_packets: 1,|min_packets: 2,|' \
	-e "s|^    allow: \\[10.10.0.80, 10.10.0.53\\]|&\\n$dev|" \
	"$work/rl.orig" >"$work/rl.yaml"
# An alert hook added: it gets the summary of the slot, which closes at the stop.
printf 'alerts:\n  hook: [/bin/sh, -c, "cat > %s/hook.json"]\n' "$work" >>"$work/rl.yaml"
"$NFSENTRY" check-config "$work/rl.yaml" >/dev/null || fail "the changed configuration is not valid"
kill -HUP "$pid"
sleep 0.5
printf 'bogus_key: 1\n' >>"$work/rl.yaml"
kill -HUP "$pid"
wait "$spid" || fail "send failed: $(cat "$work/send.log")"
spid=
sleep 0.5
kill -0 "$pid" 2>/dev/null || fail "the collector did not survive the reloads"
stop
[ "$(($(date +%s) / 300))" = "$slot" ] || { echo "reload: SKIP: the test crossed a slot boundary"; exit 77; }

log="$work/rl.log"
grep -q "listen changed: needs a restart; keeping the running value" "$log" || fail "no restart line for listen"
grep -q "configuration reloaded from $work/rl.yaml: 3 keys changed (sites\[campus\].thresholds, sites\[campus\].devices, alerts.hook), 1 need a restart (listen)" "$log" || fail "no (or another) reloaded line for the valid file"
grep -q 'warn: alert: site=campus' "$log" || fail "no labelled IP in the slot: the hook has nothing to say"
grep -q '"site":"campus"' "$work/hook.json" 2>/dev/null || fail "the alert hook added by the reload did not get the slot's summary"
grep -q "poll: site campus device gw9 (ios-xr noc@127.0.0.1:1): FAILED (connect)" "$log" || fail "the device added by the reload was not polled"
grep -q "$work/rl.yaml:[0-9]*: bogus_key: " "$log" || fail "the invalid file's error is not logged as FILE:LINE"
grep -q "configuration not reloaded: 1 errors in $work/rl.yaml; the running configuration is unchanged" "$log" || fail "no refusal line for the invalid file"
[ "$(grep -c 'configuration reloaded from\|configuration not reloaded' "$log")" = 2 ] || fail "want exactly one final line per reload"
grep -q "listening on udp 127.0.0.1:$other" "$log" && fail "the changed listen address was opened without a restart"

want=$(decoded ref)
[ "$want" = "$RECORDS" ] || fail "the reference run decoded ${want:-?} records, want $RECORDS"
[ "$(decoded rl)" = "$RECORDS" ] || fail "the reloaded run decoded $(decoded rl) records, want $RECORDS: records lost"
campus="select count(*) from slots where site='campus'"
[ "$(q rl "$campus")" = 1 ] || fail "the reloaded run stored $(q rl "$campus") campus slots, want 1 (the slot must go on)"
[ "$(q rl "$tot")" = "$(q ref "$tot")" ] || fail "slot totals differ from the reference: $(q rl "$tot") vs $(q ref "$tot")"

# 100 reloads, each changing a threshold, during a send: no record lost, and a replaced
# configuration is freed once nothing reads it (held= on each reloaded line stays small,
# the resident memory flat), so reloads are not limited in number. Then the web token
# rewritten in its file: the next request needs the new one.
wport=
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % 40000))
	if ! ss -Hltn "( sport = :$p )" | grep -q .; then wport=$p; break; fi
done
[ -n "$wport" ] || fail "no free TCP port found"
printf 'first-token-%s\n' "$RANDOM" >"$work/token"
chmod 600 "$work/token"
config many
sed -i -e "s|^  listen: \[\]|  listen: [127.0.0.1:$wport]\n  token_file: $work/token|" "$work/many.yaml"
printf 'attack:\n  enabled: true\n' >>"$work/many.yaml"
api() { # api TOKEN: the HTTP status of /api/v1/sites with that token
	curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "http://127.0.0.1:$wport/api/v1/sites"
}
start many
cp "$work/many.yaml" "$work/many.0"
sed -e 's|min_packets: 1,|min_packets: 3,|' \
	-e 's|^    thresholds: .*|&\n    advice: {flood: Reloaded flood advice.}|' \
	-e 's|^  enabled: true|&\n  thresholds: {in: {icmp: {pps: 12345}}}|' "$work/many.0" >"$work/many.1"
# And a sampling override of the sender (1:2) in every other file: the running session's
# records are scaled while it is in force.
printf 'exporters:\n  sampling:\n    - {exporter: 127.0.0.1, rate: 2}\n' >>"$work/many.1"
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status"; }
reloads() { grep -c 'configuration reloaded from' "$work/many.log" || true; }
hup() { # hup N: N more reloads, each waited for
	local want
	for _ in $(seq 1 "$1"); do
		want=$(($(reloads) + 1))
		cp "$work/many.$((want % 2))" "$work/many.yaml"
		kill -HUP "$pid"
		for _ in $(seq 1 200); do [ "$(reloads)" -ge "$want" ] && break; sleep 0.01; done
		[ "$(reloads)" -ge "$want" ] || fail "reload $want was not logged"
	done
}
"$NFSENTRY" send "$FIXTURE" --to "127.0.0.1:$port" --rate 200 >/dev/null 2>"$work/send-many.log" &
spid=$!
hup 20
rss20=$(rss)
hup 80
rss100=$(rss)
old=$(cat "$work/token")
[ "$(api "$old")" = 200 ] || fail "the first token is refused: $(api "$old")"
printf 'second-token-%s\n' "$RANDOM" >"$work/token"
new=$(cat "$work/token")
hup 1
[ "$(api "$old")" = 401 ] || fail "the replaced token is still accepted: $(api "$old")"
[ "$(api "$new")" = 200 ] || fail "the new token is refused: $(api "$new")"
curl -s -H "Authorization: Bearer $new" "http://127.0.0.1:$wport/api/v1/sites/campus/advice" | grep -q '"flood":"Reloaded flood advice."' ||
	fail "the dashboard does not serve the reloaded advice"
wait "$spid" || fail "send failed: $(cat "$work/send-many.log")"
spid=
sleep 0.5
stop
[ "$(reloads)" = 101 ] || fail "want 101 reloaded lines, got $(reloads)"
grep -q "configuration reloaded from $work/many.yaml: 5 keys changed (exporters.sampling, sites\[campus\].thresholds, sites\[campus\].advice, attack.thresholds, web.token_file)" "$work/many.log" ||
	fail "the token change is not in the last reloaded line"
grep -q "$new\|$old" "$work/many.log" && fail "a token was logged"
grep -q 'configuration not reloaded' "$work/many.log" && fail "a reload was refused"
grep -q 'not applied' "$work/many.log" && fail "a key was not applied: $(grep 'not applied' "$work/many.log" | head -1)"
maxheld=$(sed -n 's/.*configuration reloaded from .* held=\([0-9]*\)$/\1/p' "$work/many.log" | sort -n | tail -1)
[ "${maxheld:-99}" -le 2 ] || fail "up to $maxheld replaced configurations held, want at most 2"
[ $((rss100 - rss20)) -lt 2048 ] || fail "resident memory grew by $((rss100 - rss20)) kB over 80 reloads"
[ "$(decoded many)" = "$RECORDS" ] || fail "the run with 101 reloads decoded $(decoded many) records, want $RECORDS"
pk="select sum(json_extract(doc,'\$.records')), sum(json_extract(doc,'\$.egress.packets') + json_extract(doc,'\$.ingress.packets') + json_extract(doc,'\$.internal.packets')) from documents where kind='slot' and json_extract(doc,'\$.site')='campus'"
IFS='|' read -r rrec rpk <<<"$(q ref "$pk")"
IFS='|' read -r mrec mpk <<<"$(q many "$pk")"
[ "$mrec" = "$rrec" ] || fail "the run with reloads has $mrec records in its slots, the reference $rrec"
[ "$mpk" -gt "$rpk" ] && [ "$mpk" -lt $((2 * rpk)) ] ||
	fail "packets $mpk with the sampling override in force half the time, $rpk without: want between"

# Sites during a live send, across a slot boundary (docs/configuration.md "Reloading"): a
# reload during the send adds the site lab and moves campus's IPv6 prefix to it. The slot open
# at the reload goes on with the sites it was opened with and is stored whole (as the
# reference's slot); from the next slot campus has its IPv4 prefix only and lab the IPv6 one
# (the capture's records, all late, fold into the open slots). An invalid site block in
# between is refused with FILE:LINE and the sites in force kept. The dashboard lists lab from
# the reload on. A live slot boundary is up to 5 minutes away: the collector of this part runs
# under libfaketime with its clock moved on by a constant offset, so that it starts 25 s before
# a boundary; the test's own times (fnow) add the same offset.
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
[ -r "$FAKETIME_LIB" ] || fail "libfaketime is missing (tools/setup.sh --test installs faketime)"
shift_s=$(((300 - $(date +%s) % 300 - 25 + 600) % 300))
fnow() { echo $(($(date +%s) + shift_s)); }
config sites
sed -i -e "s|^  listen: \[\]|  listen: [127.0.0.1:$wport]\n  token_file: $work/token|" "$work/sites.yaml"
# Under AddressSanitizer its runtime must come first among the libraries; libfaketime is preloaded.
ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0" LD_PRELOAD="$FAKETIME_LIB" \
	FAKETIME="+${shift_s}s" FAKETIME_DONT_RESET=1 start sites
bnd=$((($(fnow) / 300 + 1) * 300))
k=$((bnd / 300 - 1))
"$NFSENTRY" send "$FIXTURE" --to "127.0.0.1:$port" --rate 100 >/dev/null 2>"$work/send-sites.log" &
spid=$!
sleep 0.5
sed -e 's|^    inside: \[10.10.0.0/16, "2001:db8:100::/48"\]|    inside: [10.10.0.0/16]|' "$work/sites.yaml" >"$work/sites.new"
printf '%s\n' '  - name: lab' '    inside: ["2001:db8:100::/48"]' >"$work/lab.block"
sed -i -e "/^slots:/e cat $work/lab.block" "$work/sites.new"
"$NFSENTRY" check-config "$work/sites.new" >/dev/null || fail "the configuration with lab is not valid"
cp "$work/sites.new" "$work/sites.yaml"
kill -HUP "$pid"
wait "$spid" || fail "send failed: $(cat "$work/send-sites.log")"
spid=
[ "$(fnow)" -lt "$bnd" ] || { echo "reload: SKIP: the first send of the sites part crossed the slot boundary"; exit 77; }
# The dashboard lists lab at once, before it has a stored slot.
curl -s -H "Authorization: Bearer $new" "http://127.0.0.1:$wport/api/v1/sites" | grep -q '"site":"lab","timeSlot":null' ||
	fail "/api/v1/sites does not list the added site lab after the reload"
# The next slot: an invalid site block (refused, lab and campus as reloaded stay), then the
# capture again; then the slot before the boundary closes after its grace (10 s).
sleep $((bnd - $(fnow) + 2))
printf '%s\n' '  - name: bad' '    inside: [10.30.0.1/16]' >"$work/bad.block"
sed -i -e "/^slots:/e cat $work/bad.block" "$work/sites.yaml"
kill -HUP "$pid"
"$NFSENTRY" send "$FIXTURE" --to "127.0.0.1:$port" --rate 100 >/dev/null 2>"$work/send-sites.log" || fail "send failed"
sleep $((bnd + 13 - $(fnow)))
stop
log="$work/sites.log"
grep -q "configuration reloaded from $work/sites.yaml: 2 keys changed (sites\[campus\].inside, sites\[lab\] added), 0 need a restart" "$log" ||
	fail "no (or another) reloaded line for the sites"
grep -q "sites: 1 added, 0 removed, from the next slot" "$log" || fail "no line saying what an added site lacks until a restart"
grep -q "$work/sites.yaml:[0-9]*:.*10.30.0.0/16" "$log" || fail "the invalid site block's error is not logged as FILE:LINE"
grep -q "configuration not reloaded: 1 errors in $work/sites.yaml" "$log" || fail "no refusal line for the invalid site block"
[ "$(decoded sites)" = $((2 * RECORDS)) ] || fail "the sites run decoded $(decoded sites) records, want $((2 * RECORDS)): records lost"
st() { q sites "select group_concat(site || ':' || (time_slot - $k), ' ') from (select site, time_slot from slots where site in ('campus', 'lab', 'bad') order by time_slot, site)"; }
[ "$(st)" = "campus:0 campus:1 lab:1" ] || fail "stored slots $(st), want campus:0 campus:1 lab:1 (lab from the next slot only)"
recs() { q sites "select json_extract(doc,'\$.records') from documents where kind='slot' and site='$1' and time_slot=$2"; }
[ "$(q sites "$tot and site='campus' and time_slot=$k")" = "$(q ref "$tot")" ] ||
	fail "campus's slot of the reload differs from the reference: $(q sites "$tot and site='campus' and time_slot=$k") vs $(q ref "$tot")"
c0=$(recs campus "$k") c1=$(recs campus $((k + 1))) l1=$(recs lab $((k + 1)))
[ "$l1" -gt 0 ] && [ "$c1" -gt 0 ] && [ "$c1" -lt "$c0" ] || fail "records campus $c0 then $c1, lab $l1: the moved prefix did not apply from the next slot"
[ $((c1 + l1)) = "$c0" ] || fail "campus $c1 + lab $l1 records in the next slot, want $c0 as in the slot before"
[ "$(q sites "select count(*) from documents where site='lab' and kind='inside' and json_extract(doc,'\$.ip') like '2001:db8:100:%'")" -gt 0 ] ||
	fail "no inside documents of lab's IPv6 prefix"
[ "$(q sites "select count(*) from documents where site='campus' and time_slot=$((k + 1)) and kind='inside' and json_extract(doc,'\$.ip') like '2001:%'")" = 0 ] ||
	fail "campus has IPv6 inside documents after its prefix moved"

echo "reload: ok: two reloads (valid, invalid) during a send; $RECORDS records in one slot, as without them; 100 more reloads: at most $maxheld configurations held, RSS ${rss20} -> ${rss100} kB; the web token rewritten and taken; a site added and a prefix moved at the next slot boundary (campus $c0 records, then campus $c1 + lab $l1), an invalid site block refused"
