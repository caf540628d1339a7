#!/usr/bin/env bash
# `meson install --destdir`: every path the systemd unit and the man pages name is installed,
# and the unit passes `systemd-analyze verify` (its binary path moved into the destdir, the
# man pages found there through MANPATH).
set -euo pipefail

: "${BUILD_DIR:?}"
PATH=$PATH:/usr/sbin:/sbin
dest=$(mktemp -d /tmp/nfsentry-install.XXXXXX)
failed=0
cleanup() { if [ "$failed" = 1 ]; then echo "install: files kept in $dest"; else rm -rf "$dest"; fi; }
trap cleanup EXIT
fail() {
	failed=1
	echo "install: FAIL: $*"
	exit 1
}

meson install -C "$BUILD_DIR" --no-rebuild --destdir "$dest" --quiet >"$dest.log" 2>&1 ||
	{ cat "$dest.log"; rm -f "$dest.log"; fail "meson install failed"; }
rm -f "$dest.log"
unit=$(find "$dest" -path '*/lib/systemd/system/nfsentry.service')
[ -n "$unit" ] || fail "no nfsentry.service under lib/systemd/system"
man1=$(find "$dest" -path '*/man1/nfsentry.1')
man5=$(find "$dest" -path '*/man5/nfsentry.yaml.5')
[ -n "$man1" ] && [ -n "$man5" ] || fail "man pages nfsentry.1 / nfsentry.yaml.5 not installed"
mandir=${man1%/man1/nfsentry.1}

checked=0
need() { # need PATH WHO: PATH (absolute, as on the target) exists in the destdir
	[ -e "$dest$1" ] || fail "$2 names $1, which is not installed"
	checked=$((checked + 1))
}
# The unit: the binary and the configuration of ExecStart*, the Documentation= files.
while read -r p; do need "$p" "nfsentry.service"; done < <(
	sed -n -e 's/^ExecStart\(Pre\)\?=\(.*\)/\2/p' "$unit" | tr ' ' '\n' | grep '^/'
	sed -n 's/^Documentation=//p' "$unit" | tr ' ' '\n' | sed -n 's|^file://||p')
for m in $(sed -n 's/^Documentation=//p' "$unit" | tr ' ' '\n' | sed -n 's/^man:\(.*\)(\([0-9]\))$/\1.\2/p'); do
	need "${mandir#"$dest"}/man${m##*.}/$m" "nfsentry.service (Documentation=man:)"
done
# The man pages: every installed path they name (under /usr, and the configuration file;
# examples such as /etc/nfsentry/es-password are the operator's to make, /var/lib/nfsentry
# is systemd's StateDirectory).
for page in "$man1" "$man5"; do
	while read -r p; do
		need "$p" "$(basename "$page")"
	done < <(grep -o '\\fB/[^\\ ]*\\fR' "$page" | sed 's/^\\fB//; s/\\fR$//' |
		grep -E '^/usr/|^/etc/nfsentry/nfsentry\.yaml$' | sort -u)
done
grep -q '^StateDirectory=nfsentry' "$unit" || fail "the unit has no StateDirectory=nfsentry"
grep -q '^ProtectSystem=strict' "$unit" || fail "the unit lost ProtectSystem=strict"

# systemd-analyze verify, with the binary path moved into the destdir.
bindir=$(dirname "$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")")
mkdir -p "$dest/verify"
sed "s|$bindir/|$dest$bindir/|g" "$unit" >"$dest/verify/nfsentry.service"
MANPATH=$mandir systemd-analyze verify "$dest/verify/nfsentry.service" ||
	fail "systemd-analyze verify refused the unit"
echo "install: ok: $checked installed paths named by the unit and the man pages, unit verified"
