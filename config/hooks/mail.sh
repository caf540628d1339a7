#!/bin/bash
# nfsentry alert hook: mail a slot's new verdicts with sendmail (postfix, exim,
# msmtp-mta or any MTA that provides /usr/sbin/sendmail).
#
#   alerts:
#     hook: [/etc/nfsentry/hooks/mail.sh, noc@example.org]
#
# The summary (docs/alerts.md) arrives on standard input; the recipients are the
# arguments. The mail's body is the summary as JSON, one verdict a line, and the
# subject names the site, the slot and how many IPs. Exits with sendmail's status.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: mail.sh RECIPIENT..." >&2; exit 2; }
SENDMAIL=${SENDMAIL:-/usr/sbin/sendmail}
summary=$(cat)
subject=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
n = len(d["verdicts"]) + d["omitted"]
print("nfsentry: %d labelled IP%s at site %s, slot %s" % (n, "" if n == 1 else "s", d["site"], d["@timestamp"]))
' "$summary")

{
	printf 'To: %s\n' "$(IFS=,; echo "$*")"
	printf 'Subject: %s\n' "$subject"
	printf 'Content-Type: application/json; charset=utf-8\n'
	printf 'Auto-Submitted: auto-generated\n\n'
	printf '%s\n' "$summary"
} | "$SENDMAIL" -oi -- "$@"
