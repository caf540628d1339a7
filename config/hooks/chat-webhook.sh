#!/bin/bash
# nfsentry alert hook: post a slot's new verdicts to a chat webhook (Slack,
# Mattermost, Rocket.Chat and Teams "incoming webhooks" accept {"text": ...}).
#
#   alerts:
#     hook: [/etc/nfsentry/hooks/chat-webhook.sh, https://chat.example.org/hooks/XXXX]
#
# The summary (docs/alerts.md) arrives on standard input; the webhook URL is the
# first argument. Needs curl and python3 (both in Debian). Exits non-zero when
# the post fails, so nfsentry counts the failure (alertHookFailures).
set -euo pipefail

url=${1:?usage: chat-webhook.sh WEBHOOK_URL}
summary=$(cat)

# One line per IP: "10.10.3.7 (inside): fanout 12 >= 8". Built with python3's
# json module so that nothing from the network is pasted into JSON by hand.
text=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
lines = ["nfsentry: site %s, slot %s (%s)" % (d["site"], d["timeSlot"], d["@timestamp"])]
for v in d["verdicts"]:
    why = ", ".join("%s %s >= %s" % (l, v["figures"][l]["value"], v["figures"][l]["threshold"])
                    for l in v["labels"])
    lines.append("%s (%s): %s" % (v["ip"], v["kind"], why))
if d["omitted"]:
    lines.append("... and %d more IPs (see the dashboard)" % d["omitted"])
print(json.dumps({"text": "\n".join(lines)}))
' "$summary")

curl --silent --show-error --fail --max-time 8 \
	-H 'Content-Type: application/json' --data-binary "$text" "$url" >/dev/null
