#!/bin/bash
# hooks.sh: the example alert hooks in config/hooks/ parse (bash -n), and each,
# fed a summary like the one nfsentry writes, calls its tool with what it should:
# curl and sendmail are replaced by stubs on PATH that record their input.
set -euo pipefail

PROG=hooks
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
H=$SOURCE_DIR/config/hooks
lib_init hooks "${HOOKS_KEEP:-0}"

for f in "$H"/*.sh; do
	bash -n "$f" || die "$f does not parse"
done

mkdir -p "$T/bin"
cat >"$T/bin/curl" <<'EOF'
#!/bin/bash
# Stub: the last argument is the URL, the body follows --data-binary.
while [ $# -gt 1 ]; do
	[ "$1" = --data-binary ] && printf '%s' "$2" >"$STUB_OUT.body"
	shift
done
printf '%s' "$1" >"$STUB_OUT.url"
EOF
cat >"$T/bin/sendmail" <<'EOF'
#!/bin/bash
printf '%s\n' "$*" >"$STUB_OUT.args"
cat >"$STUB_OUT.mail"
EOF
chmod +x "$T/bin/curl" "$T/bin/sendmail"

SUMMARY='{"site":"campus","timeSlot":5890753,"@timestamp":"2026-01-01T00:05:00Z","verdicts":[
{"ip":"10.10.3.7","kind":"inside","labels":["fanout"],"figures":{"fanout":{"value":12,"threshold":8}}},
{"ip":"198.51.100.9","kind":"offender","labels":["scan"],"figures":{"scan":{"value":90,"threshold":43.5}}}
],"omitted":0}'

printf '%s\n' "$SUMMARY" | STUB_OUT=$T/chat PATH=$T/bin:$PATH "$H/chat-webhook.sh" https://chat.example.org/hooks/x ||
	die "chat-webhook.sh failed"
[ "$(cat "$T/chat.url")" = https://chat.example.org/hooks/x ] || die "chat: wrong URL"
/usr/bin/python3 - "$T/chat.body" <<'EOF' || die "chat body: $(cat "$T/chat.body")"
import json, sys
t = json.load(open(sys.argv[1]))["text"]
assert "site campus" in t and "10.10.3.7 (inside): fanout 12 >= 8" in t, t
assert "198.51.100.9 (offender): scan 90 >= 43.5" in t, t
EOF

printf '%s\n' "$SUMMARY" | STUB_OUT=$T/mail SENDMAIL=$T/bin/sendmail "$H/mail.sh" noc@example.org ||
	die "mail.sh failed"
grep -qx -- '-oi -- noc@example.org' "$T/mail.args" || die "sendmail args: $(cat "$T/mail.args")"
grep -q '^Subject: nfsentry: 2 labelled IPs at site campus, slot 2026-01-01T00:05:00Z$' "$T/mail.mail" ||
	die "mail: $(cat "$T/mail.mail")"
grep -q '"ip":"10.10.3.7"' "$T/mail.mail" || die "mail body lacks the summary"
log "ok: the example hooks parse and call curl and sendmail as documented"
OK=1
