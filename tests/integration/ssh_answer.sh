#!/bin/sh
# Forced command of the test SSH server (tests/integration/ssh.sh): answer the
# device command in $SSH_ORIGINAL_COMMAND with DIR/<command file> (the naming of
# tests/data/l2/ssh/README.md). "--hang" never answers: a device that accepted
# the session and then stalls.
[ "$1" = "--hang" ] && exec sleep 600
f=$(printf '%s' "$SSH_ORIGINAL_COMMAND" | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '_' | sed 's/^_*//; s/_*$//')
if [ -f "$1/$f.txt" ]; then
	exec cat "$1/$f.txt"
fi
printf '%% Invalid input detected at marker: %s\n' "$SSH_ORIGINAL_COMMAND"
exit 1
