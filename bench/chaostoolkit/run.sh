#!/usr/bin/env bash
# Chaos Toolkit's run of the missing-symlink drill, start to teardown:
# start a target, wait for it, run the experiment, remove the target.
# usage: bench/chaostoolkit/run.sh CHAOS_BINARY IMAGE
set -euo pipefail
chaos=$(readlink -f "$1") image=$2
here=$(cd "$(dirname "$0")" && pwd)
name="harness-bench-ctk-$$"
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
docker run -d --name "$name" --label harness.bench=ctk -p 127.0.0.1::80 "$image" >/dev/null
port=$(docker port "$name" 80/tcp | head -n 1 | sed 's/.*://')
until curl -sf -m 1 -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.05; done
export CTK_CONTAINER=$name CTK_URL="http://127.0.0.1:$port/"
cd "$(mktemp -d)"
trap 'docker rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$PWD"' EXIT
# The hypothesis deviates after the method (that is the outage); the rollbacks repair it either way.
"$chaos" --no-version-check run --rollback-strategy always --no-verify-tls "$here/experiment.json" >chaos.out 2>&1 || true
grep -q "Probe: verify-port-80-back" chaos.out || { cat chaos.out >&2; exit 1; }
[ -z "${CTK_SHOW:-}" ] || cat chaos.out >&2
