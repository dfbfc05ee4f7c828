#!/bin/sh
# Boot the server the way a real one boots: nginx starts through its service
# script, and this shell stays up as the "init system" whatever happens to
# nginx afterwards, so a drill can stop, kill or hang nginx without the
# container going away.
set -u

if ! service nginx start; then
    # Keep running: a server whose nginx fails at boot is still a server to
    # diagnose and repair.
    echo "harness-entrypoint: nginx failed to start at boot" >&2
fi

trap 'service nginx stop >/dev/null 2>&1; exit 0' TERM INT
while :; do
    sleep 3600 &
    wait $!
done
