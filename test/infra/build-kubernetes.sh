#!/usr/bin/env bash
# Builds a real Kubernetes control plane from source into $1 (no release binaries are reachable
# here, and `go install` refuses these modules for their replace directives): kube-apiserver,
# kube-controller-manager and kubectl v1.31.0 from k8s.io/kubernetes, etcd v3.5.16, and kwok
# v0.6.1 (Kubernetes SIG Scheduling's node simulator: it stands in for the kubelet, which needs a
# container runtime this machine does not have). The replace directives that point into each
# module's own tree are swapped for the same versions of the published modules.
set -euo pipefail
out=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOWORK=off GOFLAGS=-mod=mod

# Copies a module's source out of Go's module cache and requires published versions instead of
# its local replaces ($2: the version for them; paths matching the regex $3 are only dropped).
unreplace() {
  local dir
  dir=$(go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  cp -r "$dir" "$work/src" && chmod -R u+w "$work/src" && rm -f "$work/src/go.work" "$work/src/go.work.sum"
  cd "$work/src"
  for m in $(go mod edit -json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(r["Old"]["Path"] for r in d.get("Replace") or [] if r["New"]["Path"].startswith(".")))'); do
    if [[ $m =~ ^($3)$ ]]; then go mod edit -dropreplace="$m"
    elif [[ $m == */v2 ]]; then go mod edit -dropreplace="$m" -require="$m@v2.305.${2##*.}"
    else go mod edit -dropreplace="$m" -require="$m@$2"; fi
  done
  go mod tidy -e >/dev/null 2>&1
}

unreplace k8s.io/kubernetes@v1.31.0 v0.31.0 'none'
for cmd in kube-apiserver kube-controller-manager kubectl; do go build -o "$out/$cmd" "./cmd/$cmd"; done
cd / && rm -rf "$work/src"
unreplace go.etcd.io/etcd/server/v3@v3.5.16 v3.5.16 'go.etcd.io/etcd|go.etcd.io/tests/v3'
go build -o "$out/etcd" .
cd /
GOBIN="$out" go install sigs.k8s.io/kwok/cmd/kwok@v0.6.1
