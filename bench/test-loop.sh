#!/usr/bin/env bash
# Benchmark of `stackctl test ci` against fakekube, the stand-in Kubernetes API server (a test
# stand-in, not a Kubernetes: docs/performance.md says what that measures and what it does
# not), with its platform stub as the target of every port-forward.
#
# Usage: bench/test-loop.sh [--reps 5] [--json]
#
# Builds stackctl and fakekube (release), starts fakekube with its `ready` scenario on a free
# port, and runs, each --reps times on a fresh namespace:
#   - `stackctl test ci --offline`, whose JSON report gives its time per phase (validate,
#     render, apply, rollout, port-forward, smoke) and in all;
#   - the same apply with `kubectl apply --server-side`, then `kubectl rollout status` of the
#     backend API Deployment, next to stackctl's own rollout phase;
# then the readiness detection latency (from the stand-in marking a Deployment available to
# stackctl's wait returning), measured by the test
# `readiness_detection_latency_is_measured` of tests/deploy in release mode.
# Prints medians (and every run with --json). Everything it starts stops on exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log() { printf 'bench: %s\n' "$*" >&2; }

reps=5
json=false
while [[ $# -gt 0 ]]; do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --json) json=true; shift ;;
    *) log "unknown argument $1 (usage: bench/test-loop.sh [--reps N] [--json])"; exit 2 ;;
  esac
done

"$root/scripts/toolchain.sh" >&2
eval "$("$root/scripts/toolchain.sh" --print-env)"
log "building stackctl and fakekube (release)"
cargo build --quiet --release --locked -p stackctl -p fakekube --bins >&2
target="${CARGO_TARGET_DIR:-$root/target}/release"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/stackctl-bench-loop.XXXXXX")
fake_pid=""
cleanup() {
  if [[ -n $fake_pid ]]; then
    kill "$fake_pid" 2>/dev/null || true
    wait "$fake_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A copy of the repository: the run builds charts/jetscale/charts/ there, not here.
mkdir -p "$tmp/repo"
cp -r charts envs kind stackctl.toml .gitignore "$tmp/repo/"
rm -rf "$tmp/repo/charts/jetscale/charts"

"$target/fakekube" --kubeconfig "$tmp/kubeconfig" >"$tmp/fakekube.log" 2>&1 &
fake_pid=$!
for _ in $(seq 200); do
  [[ -s $tmp/kubeconfig ]] && break
  sleep 0.05
done
[[ -s $tmp/kubeconfig ]] || { log "fakekube did not start: $(cat "$tmp/fakekube.log")"; exit 3; }
log "$(head -n1 "$tmp/fakekube.log")"

export KUBECONFIG="$tmp/kubeconfig"
export GITHUB_TOKEN=bench-token-not-a-secret GITHUB_USER=bench
stackctl=("$target/stackctl" -C "$tmp/repo" --helm "$STACKCTL_TEST_HELM4")
kubectl=("$STACKCTL_TEST_KUBECTL" --context kind-kind)

# Warm the dependency build and the helm version memo: the loop is what is measured.
"${stackctl[@]}" deps build --offline >/dev/null
"${stackctl[@]}" render test-ci --offline >"$tmp/manifest.yaml" 2>/dev/null

for rep in $(seq "$reps"); do
  "${kubectl[@]}" delete namespace jetscale-ci --wait --ignore-not-found >/dev/null 2>&1 || true
  "${stackctl[@]}" --format json test ci --offline >"$tmp/stackctl-$rep.json" || {
    log "test ci failed on run $rep:"; cat "$tmp/stackctl-$rep.json" >&2; exit 1; }
  "${kubectl[@]}" delete namespace jetscale-ci --wait >/dev/null
  "${kubectl[@]}" create namespace jetscale-ci --dry-run=client -o yaml \
    | "${kubectl[@]}" apply --server-side -f - >/dev/null
  start=$(date +%s%N)
  "${kubectl[@]}" -n jetscale-ci apply --server-side -f "$tmp/manifest.yaml" >/dev/null
  applied=$(date +%s%N)
  "${kubectl[@]}" -n jetscale-ci rollout status deployment/jetscale-ci-backend-api --timeout 60s >/dev/null
  done_at=$(date +%s%N)
  echo "{\"apply_ms\": $(( (applied - start) / 1000000 )), \"rollout_ms\": $(( (done_at - applied) / 1000000 ))}" \
    >"$tmp/kubectl-$rep.json"
done
"${kubectl[@]}" delete namespace jetscale-ci --wait >/dev/null 2>&1 || true

log "measuring the readiness detection latency (release build of tests/deploy)"
latency=$(cargo test --quiet --release --locked -p stackctl --test deploy \
  readiness_detection_latency_is_measured -- --nocapture 2>&1 \
  | grep -m1 'readiness detection latency' || true)

python3 - "$tmp" "$reps" "$json" "$latency" <<'PY'
import json, statistics, sys
tmp, reps, as_json, latency = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "true", sys.argv[4]
runs = []
for rep in range(1, reps + 1):
    report = json.load(open(f"{tmp}/stackctl-{rep}.json"))
    kubectl = json.load(open(f"{tmp}/kubectl-{rep}.json"))
    phases = {p["phase"]: p["duration_ms"] for p in report["phases"]}
    runs.append({"stackctl": {**phases, "total": report["duration_ms"]}, "kubectl": kubectl})
def median(values):
    return statistics.median(values) if values else None
phases = ["validate", "render", "apply", "rollout", "port-forward", "smoke", "total"]
summary = {
    "reps": reps,
    "stackctl_ms": {p: median([r["stackctl"].get(p, 0) for r in runs]) for p in phases},
    "kubectl_ms": {k: median([r["kubectl"][k] for r in runs]) for k in ["apply_ms", "rollout_ms"]},
    "detection": latency,
}
if as_json:
    print(json.dumps({"summary": summary, "runs": runs}, indent=2))
    sys.exit(0)
print(f"stackctl test ci on fakekube (a stand-in), median of {reps} runs, ms:")
print("| phase | stackctl |")
print("|---|---:|")
for p in phases:
    print(f"| {p} | {summary['stackctl_ms'][p]:.0f} |")
k = summary["kubectl_ms"]
print(f"\nkubectl on the same stand-in, median: apply --server-side {k['apply_ms']:.0f} ms, "
      f"rollout status of the API Deployment {k['rollout_ms']:.0f} ms "
      f"(stackctl's rollout phase waits for every workload: {summary['stackctl_ms']['rollout']:.0f} ms)")
print(f"\n{latency or 'readiness detection latency: not measured (the test did not print it)'}")
PY
