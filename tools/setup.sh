#!/usr/bin/env bash
# Install what nfsentry needs from Debian 12's packages (run as root).
#   tools/setup.sh          build and run dependencies
#   tools/setup.sh --test   also the test peers (softflowd, nfdump, tshark, clang's fuzzer runtime,
#                           chromium for the dashboard's browser test)
# Only missing packages are installed; apt-get update runs only when needed.
set -euo pipefail

build_pkgs=(
	gcc make pkg-config meson ninja-build python3
	libuv1-dev libjansson-dev libpcap-dev libyaml-dev libsqlite3-dev
	libcurl4-openssl-dev libssh-dev libmicrohttpd-dev libjs-chart.js zlib1g-dev
)
# Needed to run, not to build: the zone files of daily.tz (only UTC without them).
run_pkgs=(tzdata)
test_pkgs=(
	libcmocka-dev clang libclang-rt-14-dev
	softflowd nfdump tshark procps iproute2 python3 time sqlite3 openssl
	openssh-server openssh-client chromium curl python3-prometheus-client
	debootstrap python3-yaml systemd faketime
)

pkgs=("${build_pkgs[@]}" "${run_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
	pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "setup: missing packages: ${missing[*]}; run as root (or install them)" >&2
	exit 1
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
