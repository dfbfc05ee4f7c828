#!/bin/sh
# Boot the server the way a real one boots: the app and nginx start through
# their service scripts, and this shell stays up as the "init system"
# whatever happens to them afterwards, so a drill can stop, kill or hang
# nginx without the container going away.
set -u

# A team's site (harness --site) replaces the test app with its own upstreams: start those instead.
if [ -e /etc/harness-site ]; then
    for upstream in /etc/init.d/harness-upstream-*; do
        [ -x "$upstream" ] && "$upstream" start
    done
else
    service app start || echo "harness-entrypoint: the app failed to start at boot" >&2
    # Let the app bind before nginx proxies to it, as a unit's After= ordering would:
    # otherwise the first requests log upstream errors that look like a fault.
    i=0
    until curl -sf -o /dev/null -m 1 http://127.0.0.1:9000/ || [ $i -ge 50 ]; do i=$((i+1)); sleep 0.1; done
fi
if ! service nginx start; then
    # Keep running: a server whose nginx fails at boot is still a server to
    # diagnose and repair.
    echo "harness-entrypoint: nginx failed to start at boot" >&2
fi

trap 'service nginx stop >/dev/null 2>&1; service app stop >/dev/null 2>&1; exit 0' TERM INT
while :; do
    sleep 3600 &
    wait $!
done
