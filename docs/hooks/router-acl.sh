#!/bin/sh
# nfsentry hook (docs/offenders.md): keep an ACL on a router in step with the
# block-list. Arguments: block|unblock ADDRESS DURATION_S REASON LABELS SITES.
#
# Uses a dedicated SSH key; on the router, restrict that user to configuration
# of this one ACL. Cisco IOS syntax; adapt the two command lines for others.
set -eu
ROUTER=${ROUTER:-nfsentry@border1.example.net}
KEY=${KEY:-/etc/nfsentry/router-acl.key}
ACL=${ACL:-NFSENTRY-BLOCK}
action=$1 ip=$2
case $ip in *:*) family=ipv6; host="host $ip" ;; *) family=ip; host="host $ip" ;; esac
case $action in
block) line="deny $family $host any" ;;
unblock) line="no deny $family $host any" ;;
*) echo "router-acl: unknown action $action" >&2; exit 2 ;;
esac
# BatchMode: never wait for a password; the collector kills the hook at its time-out anyway.
ssh -i "$KEY" -o BatchMode=yes -o ConnectTimeout=5 "$ROUTER" <<CMDS
configure terminal
$family access-list extended $ACL
$line
end
CMDS
logger -t nfsentry-hook "$action $ip ($3 s): $4"
