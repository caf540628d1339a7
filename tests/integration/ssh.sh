#!/usr/bin/env bash
# ssh.sh: the SSH device poller against a real OpenSSH server (docs/l2.md).
#
# The test starts Debian's sshd on 127.0.0.1 (a free high port) with its own
# host key and authorized keys it makes; each key's forced command
# (ssh_answer.sh) answers the device commands with tests/data/l2/ssh/DEVICE/*.
# Then:
#   poll      nfsentry poll: two devices (ios-xr gateway, nxos switch), the
#             merged arpIp/arpMac documents, --site/--device selection
#   hostkey   a changed host key and an unknown one are refused, with the
#             server's SHA256 fingerprint; accept_new trusts on first use and
#             appends to known_hosts
#   auth      a key the server does not know, a wrong password: reported,
#             the password never printed
#   timeout   a port that accepts and never speaks, and a device that stalls
#             after login, time out on their own while the good device is
#             polled at once
#   live      nfsentry run with the good and the two dead devices: SIGTERM
#             closes and stores the slot (with the gateway's arpIp documents)
#             without waiting for the dead ones
#   replay    replay --arp: the active hosts the gateway (gateway: true)
#             shows Incomplete get arpMissing; the outside server they
#             talked to is not arpUnused (it started nothing)
# Everything it starts is stopped on exit (lib.sh); only 127.0.0.1 is used.
set -euo pipefail

PROG=ssh
: "${NFSENTRY:?set NFSENTRY to the nfsentry binary}"
: "${SOURCE_DIR:?set SOURCE_DIR to the source tree}"
# shellcheck source=lib.sh
. "$SOURCE_DIR/tests/integration/lib.sh"
lib_init ssh "${SSH_KEEP:-0}"
require_tools sshd ssh-keygen python3 sqlite3

FIX="$SOURCE_DIR/tests/data/l2/ssh"
ANSWER="$SOURCE_DIR/tests/integration/ssh_answer.sh"
PCAP="$SOURCE_DIR/tests/data/replay/ipfix-campus.pcap"
USER_NAME=$(id -un)

free_tcp_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- keys and server -------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -C test-host -f "$T/host_key"
ssh-keygen -q -t ed25519 -N '' -C other-host -f "$T/other_host_key"
for k in gw1 sw1 stall stranger; do
	ssh-keygen -q -t ed25519 -N '' -C "nfsentry-test-$k" -f "$T/$k"
done
opts=no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding
{
	echo "command=\"$ANSWER $FIX/gw1\",$opts $(cat "$T/gw1.pub")"
	echo "command=\"$ANSWER $FIX/sw1\",$opts $(cat "$T/sw1.pub")"
	echo "command=\"$ANSWER --hang\",$opts $(cat "$T/stall.pub")"
} >"$T/authorized_keys"
chmod 600 "$T/authorized_keys" "$T"/*_key "$T/gw1" "$T/sw1" "$T/stall" "$T/stranger"

SSH_PORT=$(free_tcp_port)
cat >"$T/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $T/host_key
PidFile $T/sshd.pid
AuthorizedKeysFile $T/authorized_keys
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
MaxStartups 100
LogLevel VERBOSE
EOF
[ "$(id -u)" = 0 ] && mkdir -p /run/sshd
SSHD=$(command -v sshd)
"$SSHD" -D -e -f "$T/sshd_config" 2>"$T/sshd.log" &
PIDS+=("$!")
for _ in $(seq 100); do
	ss -Hltn "sport = :$SSH_PORT" 2>/dev/null | grep -q . && break
	sleep 0.1
done
ss -Hltn "sport = :$SSH_PORT" | grep -q . || die "sshd did not start: $(cat "$T/sshd.log")"

# A port that accepts TCP connections and never sends the SSH banner.
MUTE_PORT=$(free_tcp_port)
python3 - "$MUTE_PORT" <<'EOF' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
EOF
PIDS+=("$!")
for _ in $(seq 50); do
	ss -Hltn "sport = :$MUTE_PORT" 2>/dev/null | grep -q . && break
	sleep 0.1
done

KH="$T/known_hosts"
echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$T/host_key.pub")" >"$KH"
FP=$(ssh-keygen -l -E sha256 -f "$T/host_key.pub" | awk '{print $2}')

# device NAME KIND PORT AUTH-LINE [EXTRA-LINES]: one devices[] entry.
device() {
	printf '      - name: %s\n        kind: %s\n        host: 127.0.0.1\n        port: %s\n' "$1" "$2" "$3"
	printf '        user: %s\n        %s\n' "$USER_NAME" "$4"
	printf '        known_hosts: %s\n' "${KNOWN:-$KH}"
	[ -n "${5:-}" ] && printf '%b' "$5"
	return 0
}

# config FILE DEVICES...: a configuration for site campus with those devices.
config() {
	local f=$1
	shift
	{
		echo "log: {level: info}"
		echo "listen: [\"127.0.0.1:${UDP_PORT:-2055}\"]"
		echo "sites:"
		echo "  - name: campus"
		echo "    inside: [10.10.0.0/16, \"2001:db8:100::/48\"]"
		echo "    devices:"
		printf '%s' "$@"
		echo "store: {path: $T/store/nfsentry.db}"
		echo "web: {listen: []}"
	} >"$f"
}

GW1=$(device gw1 ios-xr "$SSH_PORT" "key: $T/gw1" "        timeout: 10\n        gateway: true\n")
SW1=$(device sw1 nxos "$SSH_PORT" "key: $T/sw1" "        timeout: 10\n")

# --- poll ------------------------------------------------------------------
log "poll: gw1 (ios-xr) and sw1 (nxos) on 127.0.0.1:$SSH_PORT"
config "$T/poll.yaml" "$GW1"$'\n' "$SW1"$'\n'
"$NFSENTRY" check-config "$T/poll.yaml" >/dev/null || die "poll.yaml refused"
"$NFSENTRY" poll -c "$T/poll.yaml" >"$T/poll.out" 2>"$T/poll.err" ||
	die "poll failed: $(cat "$T/poll.err")"
grep -q "device gw1 (ios-xr $USER_NAME@127.0.0.1:$SSH_PORT): ok: 6 entries from 1 command" "$T/poll.err" ||
	die "gw1 result line: $(cat "$T/poll.err")"
grep -q "device sw1 (nxos .*): ok: 6 entries from 2 commands" "$T/poll.err" ||
	die "sw1 result line: $(cat "$T/poll.err")"
python3 - "$T/poll.out" <<'EOF' || die "poll documents wrong (see $T/poll.out)"
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
ip = {d["ip"]: d for d in docs if d["kind"] == "arpIp"}
mac = {d["mac"] + "@" + d["device"]: d for d in docs if d["kind"] == "arpMac"}
assert all(d["site"] == "campus" for d in docs), "site"
assert sorted(ip) == ["10.10.0.1", "10.10.1.109", "10.10.1.166", "10.10.1.201",
                      "10.10.1.250", "10.10.1.80", "10.10.1.96"], sorted(ip)
assert ip["10.10.1.166"]["labels"] == ["unresolved", "zeroMac"], ip["10.10.1.166"]
assert ip["10.10.1.250"]["typeList"] == ["Deleted"], ip["10.10.1.250"]
assert ip["10.10.1.201"]["labels"] == ["unresolved"], ip["10.10.1.201"]
assert ip["10.10.1.96"]["labels"] == [] and ip["10.10.1.96"]["deviceList"] == ["gw1", "sw1"]
assert ip["10.10.1.96"]["macList"] == ["52:54:00:11:00:96"]
sw = mac["52:54:00:11:00:96@sw1"]
assert sw["interfaceList"] == ["Eth1/7", "Vlan101"], sw
assert sw["vlanList"] == [101], sw
assert mac["52:54:00:11:00:96@gw1"]["interfaceList"] == ["Bundle-Ether10"]
EOF
"$NFSENTRY" poll -c "$T/poll.yaml" --device sw1 >"$T/poll1.out" 2>"$T/poll1.err" ||
	die "poll --device sw1 failed: $(cat "$T/poll1.err")"
[ "$(grep -c '^poll: ' "$T/poll1.err")" = 1 ] && grep -q 'device sw1' "$T/poll1.err" ||
	die "--device sw1 polled: $(cat "$T/poll1.err")"
rc=0
"$NFSENTRY" poll -c "$T/poll.yaml" --site nosuch >/dev/null 2>"$T/poll2.err" || rc=$?
[ "$rc" = 2 ] || die "--site nosuch: exit $rc, want 2"

# --- host keys -------------------------------------------------------------
log "hostkey: changed, unknown, accept_new"
echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$T/other_host_key.pub")" >"$T/kh_changed"
KNOWN="$T/kh_changed" config "$T/hk1.yaml" "$(KNOWN="$T/kh_changed" device gw1 ios-xr "$SSH_PORT" "key: $T/gw1")"$'\n'
rc=0
"$NFSENTRY" poll -c "$T/hk1.yaml" >"$T/hk1.out" 2>"$T/hk1.err" || rc=$?
[ "$rc" = 1 ] || die "changed host key: exit $rc, want 1"
grep -q "FAILED (hostkey).*host key CHANGED.*ssh-ed25519 $FP" "$T/hk1.err" ||
	die "changed host key not reported with its fingerprint: $(cat "$T/hk1.err")"
[ -s "$T/hk1.out" ] && die "documents printed for a refused device"

: >"$T/kh_empty"
KNOWN="$T/kh_empty" config "$T/hk2.yaml" "$(KNOWN="$T/kh_empty" device gw1 ios-xr "$SSH_PORT" "key: $T/gw1")"$'\n'
rc=0
"$NFSENTRY" poll -c "$T/hk2.yaml" >/dev/null 2>"$T/hk2.err" || rc=$?
[ "$rc" = 1 ] || die "unknown host key: exit $rc, want 1"
grep -q "FAILED (hostkey).*host key unknown: ssh-ed25519 $FP is not in $T/kh_empty" "$T/hk2.err" ||
	die "unknown host key not reported: $(cat "$T/hk2.err")"
[ -s "$T/kh_empty" ] && die "known_hosts written without accept_new"

KNOWN="$T/kh_empty" config "$T/hk3.yaml" "$(KNOWN="$T/kh_empty" device gw1 ios-xr "$SSH_PORT" "key: $T/gw1" "        accept_new: true\n")"$'\n'
"$NFSENTRY" poll -c "$T/hk3.yaml" >/dev/null 2>"$T/hk3.err" ||
	die "accept_new: $(cat "$T/hk3.err")"
[ "$(wc -l <"$T/kh_empty")" = 1 ] || die "accept_new did not append one line to known_hosts"
"$NFSENTRY" poll -c "$T/hk2.yaml" >/dev/null 2>"$T/hk4.err" ||
	die "the key accept_new stored is not trusted afterwards: $(cat "$T/hk4.err")"
# A changed key is refused even with accept_new.
KNOWN="$T/kh_changed" config "$T/hk5.yaml" "$(KNOWN="$T/kh_changed" device gw1 ios-xr "$SSH_PORT" "key: $T/gw1" "        accept_new: true\n")"$'\n'
rc=0
"$NFSENTRY" poll -c "$T/hk5.yaml" >/dev/null 2>"$T/hk5.err" || rc=$?
[ "$rc" = 1 ] && grep -q 'host key CHANGED' "$T/hk5.err" || die "accept_new let a changed key in"

# --- authentication --------------------------------------------------------
log "auth: unknown key, wrong password"
printf 'not-the-password-4711\n' >"$T/pw"
chmod 600 "$T/pw"
config "$T/auth.yaml" \
	"$(device stranger ios "$SSH_PORT" "key: $T/stranger")"$'\n' \
	"$(device pw ios "$SSH_PORT" "password_file: $T/pw")"$'\n' \
	"$(device nokey ios "$SSH_PORT" "key: $T/does-not-exist")"$'\n'
rc=0
"$NFSENTRY" poll -c "$T/auth.yaml" >/dev/null 2>"$T/auth.err" || rc=$?
[ "$rc" = 1 ] || die "auth failures: exit $rc, want 1"
grep -q "device stranger .*FAILED (auth).*key $T/stranger refused by the device" "$T/auth.err" ||
	die "wrong key not reported: $(cat "$T/auth.err")"
grep -q "device pw .*FAILED (auth).*password (from $T/pw) refused by the device" "$T/auth.err" ||
	die "wrong password not reported: $(cat "$T/auth.err")"
grep -q "device nokey .*FAILED (credential).*cannot read private key $T/does-not-exist" "$T/auth.err" ||
	die "missing key not reported: $(cat "$T/auth.err")"
grep -q 'not-the-password-4711' "$T/auth.err" && die "the password was printed"

# --- timeouts --------------------------------------------------------------
log "timeout: a mute port and a stalled session, next to a good device"
config "$T/to.yaml" "$GW1"$'\n' \
	"$(device mute ios "$MUTE_PORT" "key: $T/gw1" "        timeout: 2\n")"$'\n' \
	"$(device stall ios "$SSH_PORT" "key: $T/stall" "        timeout: 2\n")"$'\n'
t0=$(date +%s%N)
rc=0
"$NFSENTRY" poll -c "$T/to.yaml" >"$T/to.out" 2>"$T/to.err" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" = 1 ] || die "timeouts: exit $rc, want 1 ($(cat "$T/to.err"))"
grep -q 'device gw1 .*: ok: 6 entries' "$T/to.err" || die "gw1 not polled: $(cat "$T/to.err")"
grep -q 'device mute .*FAILED (timeout) after 2[0-9][0-9][0-9] ms: .*connect: no SSH answer within the timeout of 2 s' "$T/to.err" ||
	die "mute port: $(cat "$T/to.err")"
grep -q 'device stall .*FAILED (timeout) after 2[0-9][0-9][0-9] ms: .*"show arp" did not finish within the timeout of 2 s' "$T/to.err" ||
	die "stalled session: $(cat "$T/to.err")"
# In parallel: the whole poll takes less than the three devices' own durations
# added up (as the poll reports them: the good one's "in N ms", the timed-out
# ones' "after N ms"), which a poll one device after the other could not;
# compared with the sum rather than a fixed figure, so a loaded machine that
# slows every step alike (the good device's handshake included) does not fail it.
sum=$(sed -n 's/.*device \(gw1\|mute\|stall\) .*\(after\|in\) \([0-9]*\) ms.*/\3/p' "$T/to.err" |
	awk '{s += $1} END {print s + 0}')
[ "$ms" -lt "$sum" ] ||
	die "polling took $ms ms, the three devices $sum ms together: not polled in parallel"
grep -q '"ip":"10.10.1.166"' "$T/to.out" || die "gw1's documents missing next to dead devices"

# --- live: the slot closes without waiting for dead devices -------------------
log "live: SIGTERM closes the slot while two devices hang"
UDP_PORT=$(free_tcp_port)
config "$T/live.yaml" \
	"$(device gw1 ios-xr "$SSH_PORT" "key: $T/gw1" "        interval: 30\n        timeout: 10\n")"$'\n' \
	"$(device mute ios "$MUTE_PORT" "key: $T/gw1" "        interval: 60\n        timeout: 50\n")"$'\n' \
	"$(device stall ios "$SSH_PORT" "key: $T/stall" "        interval: 60\n        timeout: 50\n")"$'\n'
mkdir -p "$T/store"
"$NFSENTRY" run -c "$T/live.yaml" >"$T/live.out" 2>"$T/live.err" &
RUN=$!
PIDS+=("$RUN")
for _ in $(seq 100); do
	grep -q 'poll: site campus device gw1 .*: ok' "$T/live.err" && break
	sleep 0.1
done
grep -q 'poll: site campus device gw1 .*: ok' "$T/live.err" || die "live gw1 poll: $(cat "$T/live.err")"
"$NFSENTRY" send "$PCAP" --to "127.0.0.1:$UDP_PORT" --rate 2000 2>/dev/null || die "send failed"
sleep 0.5
t0=$(date +%s%N)
kill -TERM "$RUN"
rc=0
wait "$RUN" || rc=$?
forget_pid "$RUN"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" = 0 ] || die "run exited $rc: $(tail -5 "$T/live.err")"
# The dead devices' polls are cancelled, not waited for (their timeout is 50 s).
[ "$ms" -lt 5000 ] || die "SIGTERM to exit took $ms ms with two devices hanging"
db="$T/store/nfsentry.db"
n_arp=$(sqlite3 "$db" "select count(distinct key) from documents where kind='arpIp'")
n_slot=$(sqlite3 "$db" "select count(*) from documents where kind='slot'")
[ "$n_slot" -ge 1 ] || die "no slot stored"
[ "$n_arp" = 6 ] || die "live slot has $n_arp arpIp documents, want gw1's 6"
unres=$(sqlite3 "$db" "select json_extract(doc,'\$.labels') from documents where kind='arpIp' and key='10.10.1.166'")
[ "$unres" = '["unresolved","zeroMac"]' ] || die "live arpIp 10.10.1.166 labels $unres"

# --- replay --arp: arpUnused end to end ------------------------------------------
log "replay: capture + ARP fixtures -> arpUnused"
config "$T/replay.yaml" "$GW1"$'\n' "$SW1"$'\n'
"$NFSENTRY" replay "$PCAP" -c "$T/replay.yaml" --no-store --arp "$FIX" --docs "$T/replay.jsonl" \
	2>"$T/replay.err" || die "replay --arp failed: $(cat "$T/replay.err")"
python3 - "$T/replay.jsonl" <<'EOF' || die "replay documents wrong (see $T/replay.jsonl)"
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
slots = sorted({d["timeSlot"] for d in docs})
assert slots == [5890752, 5890753], slots
# 198.18.23.234 only answered 10.10.1.166 and 10.10.1.109, which sent to it:
# no arpUnused (METHOD §8: only for conversations the outside IP started, to
# silent addresses). The two hosts are active yet Incomplete on the gateway:
# arpMissing. 10.10.1.96 and 10.10.1.80 are resolved there.
want = {5890752: "10.10.1.166", 5890753: "10.10.1.109"}
for s in slots:
    off = [d for d in docs if d["kind"] == "offender" and d["timeSlot"] == s
           and "arpUnused" in d["labels"]]
    assert off == [], (s, [d["ip"] for d in off])
    summary = [d for d in docs if d["kind"] == "slot" and d["timeSlot"] == s][0]
    assert summary["labels"]["arpUnused"] == 0, summary["labels"]
    ins = {d["ip"]: d for d in docs if d["kind"] == "inside" and d["timeSlot"] == s}
    r = ins[want[s]]["reasons"]["arpMissing"]
    assert r["onGateway"] is True and r["resolvedOnGateway"] is False, r
    assert r["typeList"] == ["Incomplete"] and r["gatewayPolled"] is True, r
    for ok in ("10.10.1.96", "10.10.1.80"):
        assert ok not in ins or "arpMissing" not in ins[ok]["labels"], ins[ok]
    arp = [d for d in docs if d["kind"] == "arpIp" and d["timeSlot"] == s]
    assert len(arp) == 7, len(arp)
    assert len([d for d in docs if d["kind"] == "arpMac" and d["timeSlot"] == s]) == 7
ins = [d for d in docs if d["kind"] == "inside" and d["ip"] == "10.10.1.96"]
assert ins, "10.10.1.96 not active"
assert ins[0]["arpMacList"] == ["52:54:00:11:00:96"], ins[0]
locs = {(l["device"], tuple(l["interfaceList"])) for l in ins[0]["arpLocations"]}
assert locs == {("gw1", ("Bundle-Ether10",)), ("sw1", ("Eth1/7", "Vlan101"))}, locs
EOF
# Without --arp nothing of the kind appears.
"$NFSENTRY" replay "$PCAP" -c "$T/replay.yaml" --no-store --docs "$T/plain.jsonl" 2>/dev/null
grep -q 'arpUnused"\]\|"kind":"arpIp"' "$T/plain.jsonl" && die "ARP documents without --arp"
rc=0
"$NFSENTRY" replay "$PCAP" -c "$T/replay.yaml" --no-store --arp "$T/nowhere" --docs /dev/null \
	2>"$T/noarp.err" || rc=$?
[ "$rc" = 1 ] && grep -q "nowhere/gw1/show_arp.txt (device gw1, command \"show arp\")" "$T/noarp.err" ||
	die "missing fixture not reported: $(cat "$T/noarp.err")"

log "ok"
OK=1
