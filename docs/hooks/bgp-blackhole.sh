#!/bin/sh
# nfsentry hook (docs/offenders.md): announce a blackhole route for a blocked
# address and withdraw it when the block ends. Arguments:
# block|unblock ADDRESS DURATION_S REASON LABELS SITES.
#
# GoBGP (default): the local gobgpd announces it to the routers it peers with.
# ExaBGP: set EXABGP_PIPE to its API named pipe (process api { ... }).
# The community 65535:666 is BLACKHOLE (RFC 7999); routers must honour it.
set -eu
action=$1 ip=$2
case $ip in *:*) pfx=$ip/128 nh=${NEXTHOP6:-100::1} fam=-a ipv6 ;;
*) pfx=$ip/32 nh=${NEXTHOP4:-192.0.2.1} fam= ;;
esac
if [ -n "${EXABGP_PIPE:-}" ]; then
	case $action in
	block) echo "announce route $pfx next-hop $nh community [65535:666]" >"$EXABGP_PIPE" ;;
	unblock) echo "withdraw route $pfx next-hop $nh" >"$EXABGP_PIPE" ;;
	esac
else
	# shellcheck disable=SC2086 # $fam is empty or two words on purpose
	case $action in
	block) gobgp global rib $fam add "$pfx" nexthop "$nh" community 65535:666 ;;
	unblock) gobgp global rib $fam del "$pfx" ;;
	esac
fi
logger -t nfsentry-hook "$action $pfx ($3 s): $4"
