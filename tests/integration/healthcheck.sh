#!/usr/bin/env bash
# `nfsentry healthcheck` (the container's HEALTHCHECK) against a running collector: 0 while
# it serves /healthz on a wildcard web address set by NFSENTRY_WEB_LISTEN (asked on
# loopback), 1 once it has stopped, 2 when the web server is off.
set -euo pipefail

: "${NFSENTRY:?}"
work=$(mktemp -d /tmp/nfsentry-healthcheck.XXXXXX)
pid=
failed=0
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
	if [ "$failed" = 1 ]; then echo "healthcheck: work files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
	failed=1
	echo "healthcheck: FAIL: $*"
	echo "--- collector log:"
	cat "$work/run.log" || true
	exit 1
}

free_port() { # free_port PROTO(u|t)
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! ss -Hl"$1"n "( sport = :$p )" | grep -q .; then echo "$p"; return; fi
	done
	return 1
}
udp=$(free_port u) || fail "no free UDP port"
web=$(free_port t) || fail "no free TCP port"
cat >"$work/c.yaml" <<YAML
listen: [127.0.0.1:$udp]
sites:
  - name: campus
    inside: [192.0.2.0/24]
store:
  path: $work/nfsentry.db
web:
  listen: [127.0.0.1:1]
YAML
export NFSENTRY_WEB_LISTEN="0.0.0.0:$web"

"$NFSENTRY" run -c "$work/c.yaml" 2>"$work/run.log" &
pid=$!
for _ in $(seq 1 100); do
	grep -q 'web: dashboard and API on' "$work/run.log" && break
	kill -0 "$pid" 2>/dev/null || fail "collector exited at start"
	sleep 0.1
done
grep -q "web: dashboard and API on http://0.0.0.0:$web" "$work/run.log" ||
	fail "NFSENTRY_WEB_LISTEN did not move the web server to 0.0.0.0:$web"

out=$("$NFSENTRY" healthcheck -c "$work/c.yaml" 2>&1) || fail "healthcheck failed on a running collector: $out"
[ "$out" = "http://127.0.0.1:$web/healthz: ok" ] || fail "unexpected healthcheck output: $out"

kill -TERM "$pid"
wait "$pid" || fail "collector exited non-zero"
pid=
rc=0
out=$("$NFSENTRY" healthcheck -c "$work/c.yaml" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "healthcheck on a stopped collector exited $rc, want 1 ($out)"
echo "$out" | grep -q "127.0.0.1:$web/healthz" || fail "the failure does not name the URL: $out"

rc=0
out=$(NFSENTRY_WEB_LISTEN= "$NFSENTRY" healthcheck -c <(printf 'web:\n  listen: []\n') 2>&1) || rc=$?
[ "$rc" = 2 ] || fail "healthcheck with the web server off exited $rc, want 2 ($out)"
echo "healthcheck: ok: 0 while serving on 0.0.0.0:$web, 1 when stopped, 2 when the web server is off"
