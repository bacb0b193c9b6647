#!/usr/bin/env bash
# Benchmark of `stackctl validate envs aws` against what mage did (docs/performance.md).
#
# Usage: bench/validate.sh [--n 8,32,128] [--reps 5] [--json] [--jobs J] [--keep]
#
# Installs the pinned toolchain (scripts/toolchain.sh), builds stackctl (release) and a
# stand-in helm, starts a docker-registry on a free loopback port with storage in a temp dir,
# publishes charts/backend and charts/frontend to it with real helm, then hands over to
# bench/validate.py, which builds a synthetic copy of the repository per N and times the
# baseline, cold, warm, one-changed and overhead runs. The registry and the temp dir go away on
# exit, whatever happens. Scratch trees live in bench/out/ (gitignored).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

log() { printf 'bench: %s\n' "$*" >&2; }

"$root/scripts/toolchain.sh" >&2
eval "$("$root/scripts/toolchain.sh" --print-env)"
helm=$STACKCTL_TEST_HELM4
registry_bin=$STACKCTL_TEST_REGISTRY

log "building stackctl (release)"
cargo build --quiet --release --locked --bin stackctl >&2
stackctl="${CARGO_TARGET_DIR:-$root/target}/release/stackctl"

out="$root/bench/out"
mkdir -p "$out"
command -v cc >/dev/null 2>&1 || {
  log "a C compiler (cc) is needed for the stand-in helm: apt-get install gcc"
  exit 3
}
cc -O2 -o "$out/standin-helm" "$root/bench/standin-helm.c"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/stackctl-bench.XXXXXX")
registry_pid=""
cleanup() {
  if [[ -n $registry_pid ]]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
host="127.0.0.1:$port"
mkdir -p "$tmp/storage"
cat >"$tmp/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $tmp/storage
http:
  addr: $host
EOF
"$registry_bin" serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
registry_pid=$!
python3 - "$host" <<'PY'
import socket, sys, time
host, port = sys.argv[1].split(":")
deadline = time.time() + 10
while time.time() < deadline:
    try:
        with socket.create_connection((host, int(port)), timeout=0.5) as s:
            s.sendall(b"GET /v2/ HTTP/1.0\r\n\r\n")
            if s.recv(5) == b"HTTP/":
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.02)
sys.exit("the registry did not start")
PY
log "registry on $host"

# Publish the service charts with real helm, as a chart release pipeline would.
export HELM_CACHE_HOME="$tmp/helm/cache" HELM_CONFIG_HOME="$tmp/helm/config" HELM_DATA_HOME="$tmp/helm/data"
mkdir -p "$tmp/packages"
for chart in charts/backend charts/frontend; do
  "$helm" package "$chart" -d "$tmp/packages" >/dev/null
done
for package in "$tmp"/packages/*.tgz; do
  "$helm" push "$package" "oci://$host/jetscale-ai/charts" --plain-http >/dev/null 2>&1
done
log "published $(cd "$tmp/packages" && echo *.tgz) to oci://$host/jetscale-ai/charts"
unset HELM_CACHE_HOME HELM_CONFIG_HOME HELM_DATA_HOME

python3 "$root/bench/validate.py" \
  --root "$root" --out "$out" --stackctl "$stackctl" --helm "$helm" \
  --standin "$out/standin-helm" --registry "$host" "$@"
