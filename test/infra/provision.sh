#!/usr/bin/env bash
# Installs what the test servers need, once, into a cache that later runs reuse:
#   - openssh-server and rsync (Debian packages) for the three test hosts, chromium for the Web UI,
#     xfsprogs and btrfs-progs for loop-mounted XFS and btrfs (snapshots by reflink, a subvolume's
#     snapshot), prometheus (and promtool) for the
#     alert rules and a server scraping a worker
#   - the Temporal CLI v1.5.1 (dev server with Web UI), built with `go install`
#   - the Temporal Java time-skipping test server and its classpath, from Maven Central
#   - the real SpacetimeDB server (spacetimedb-standalone 1.2.0) from crates.io, built with cargo
#   - compose-go v2.16.2 (the compose specification's reference loader), built with `go install`
#   - the Temporal server 1.30.1 and its SQL tool, built with `go install` (their schemas come
#     with the module source in Go's module cache)
#   - a Kubernetes control plane (kube-apiserver, kube-controller-manager, kubectl, etcd, and kwok
#     for the kubelet), built from source by build-kubernetes.sh
#   - moto_server (AWS SSM Parameter Store, S3) and Python's cryptography, in a venv
#   - a Docker Engine (Debian's docker.io: dockerd, containerd, runc; the tests start their own
#     daemon, never the machine's), the compose CLI plugin v5.6.0 built with `go build`, and a
#     Debian bookworm root filesystem made by debootstrap, the base of every test image (no image
#     registry is reachable here)
# Prints what it did; a second run does nothing but check.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${REKEY_CACHE:-$HOME/.cache/rekey}
mkdir -p "$cache/bin"

need_apt=()
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v rsync >/dev/null || need_apt+=(rsync)
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
# The Web UI suite drives Debian's chromium (playwright-core never downloads a browser here).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# Temporal on PostgreSQL (test/production.test.ts) runs on Debian's PostgreSQL.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
# Exact snapshots on filesystems with reflinks (test/guide-paths.test.ts): loop-mounted XFS and btrfs.
command -v mkfs.xfs >/dev/null || need_apt+=(xfsprogs)
command -v mkfs.btrfs >/dev/null || need_apt+=(btrfs-progs)
# The guide's Docker mode and the compose deployment (test/spacetimedb-real.test.ts, test/compose-deployment.test.ts) on a real engine.
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
# Metrics and alerts (test/metrics.test.ts): promtool and a Prometheus server scraping a worker.
command -v promtool >/dev/null || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "provision: apt-get install ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "provision: need root to install ${need_apt[*]} (or install them yourself)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

temporal="$cache/bin/temporal"
if [ ! -x "$temporal" ]; then
  echo "provision: building the Temporal CLI v1.5.1 (takes a few minutes, once)"
  GOBIN="$cache/bin" go install github.com/temporalio/cli/cmd/temporal@v1.5.1
fi

bash "$here/provision-fast.sh"
# 1.2.0 is the newest release that builds offline: 1.3.0's core needs the v8 crate, whose build
# script downloads a prebuilt library. The cold build takes about 17 minutes on 2 cores.
spacetime="$cache/bin/spacetimedb-standalone"
if [ ! -x "$spacetime" ]; then
  echo "provision: building spacetimedb-standalone 1.2.0 from crates.io (about 17 minutes on 2 cores, once)"
  cargo install spacetimedb-standalone --version 1.2.0 --locked --quiet --root "$cache/spacetimedb"
  ln -sf "$cache/spacetimedb/bin/spacetimedb-standalone" "$spacetime"
fi

# Validates docker-compose.temporal.yaml against the compose specification (no Docker engine here).
composego="$cache/bin/compose-go"
if [ ! -x "$composego" ]; then
  echo "provision: building compose-go v2.16.2 (once)"
  tmp=$(mktemp -d)
  GOBIN="$tmp" go install github.com/compose-spec/compose-go/v2/cmd@v2.16.2
  mv "$tmp/cmd" "$composego"
  rmdir "$tmp"
fi

# The Temporal server the compose file runs, from source: no Docker engine here.
server="$cache/bin/temporal-server"
if [ ! -x "$server" ] || [ ! -x "$cache/bin/temporal-sql-tool" ]; then
  echo "provision: building the Temporal server 1.30.1 and temporal-sql-tool (a few minutes, once)"
  tmp=$(mktemp -d)
  GOBIN="$tmp" go install go.temporal.io/server/cmd/server@v1.30.1 go.temporal.io/server/cmd/tools/sql@v1.30.1
  mv "$tmp/server" "$server"
  mv "$tmp/sql" "$cache/bin/temporal-sql-tool"
  rmdir "$tmp"
fi

# A Kubernetes control plane (the kubernetes store and rollouts): built from source, see the script.
kube="$cache/kubernetes"
if [ ! -f "$kube/.complete" ]; then
  echo "provision: building kube-apiserver, kube-controller-manager, kubectl 1.31.0, etcd 3.5.16 and kwok 0.6.1 (about 6 minutes, once)"
  mkdir -p "$kube"
  bash "$here/build-kubernetes.sh" "$kube"
  touch "$kube/.complete"
fi

# moto_server (AWS SSM and S3 for the secret recipes) and Python's cryptography (Fernet), in a venv.
pyenv="$cache/pyenv"
if [ ! -x "$pyenv/bin/moto_server" ] || [ ! -f "$pyenv/.complete" ]; then
  echo "provision: installing moto[server] 5.2.5 and cryptography into $pyenv (once)"
  python3 -m venv "$pyenv"
  "$pyenv/bin/pip" install -q 'moto[server]==5.2.5' cryptography
  touch "$pyenv/.complete"
fi

# The `docker compose` plugin: compose v5.6.0 from the Go module proxy. `go install` refuses its
# module (exclude directives in go.mod), so it is built inside a copy of the module's source.
compose="$cache/docker/cli-plugins/docker-compose"
if [ ! -x "$compose" ]; then
  echo "provision: building the docker compose plugin v5.6.0 (about a minute, once)"
  src=$(go mod download -json github.com/docker/compose/v5@v5.6.0 | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  tmp=$(mktemp -d)
  cp -r "$src/." "$tmp" && chmod -R u+w "$tmp"
  mkdir -p "$(dirname "$compose")"
  (cd "$tmp" && go build -trimpath -ldflags "-X github.com/docker/compose/v5/internal.Version=v5.6.0" -o "$compose.new" ./cmd)
  mv "$compose.new" "$compose"
  rm -rf "$tmp"
fi
# The Web UI server the compose file runs (temporalio/ui:2.42.1), from its module source with its
# own docker config template and start script (test/infra/images/temporal-ui uses them).
ui="$cache/bin/temporal-ui-server"
if [ ! -x "$ui" ]; then
  echo "provision: building the Temporal UI server v2.42.1 (a few minutes, once)"
  go mod download github.com/temporalio/ui-server/v2@v2.42.1
  src=$(go mod download -json github.com/temporalio/ui-server/v2@v2.42.1 | python3 -c 'import json,sys;print(json.load(sys.stdin)["Dir"])')
  tmp=$(mktemp -d)
  cp -r "$src/." "$tmp" && chmod -R u+w "$tmp"
  (cd "$tmp" && go build -trimpath -o "$ui.new" ./cmd/server)
  mv "$ui.new" "$ui"
  rm -rf "$tmp"
fi
# The base of every test image (the role of debian:bookworm): a minimal Debian root filesystem as
# a tarball that `docker import` loads in a second.
rootfs="$cache/docker/debian-bookworm.tar"
if [ ! -f "$rootfs" ]; then
  echo "provision: debootstrap --variant=minbase bookworm (about 30 s, once)"
  [ "$(id -u)" -eq 0 ] || { echo "provision: debootstrap needs root" >&2; exit 1; }
  tmp=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$tmp/root" http://deb.debian.org/debian >/dev/null
  rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
  tar -C "$tmp/root" -cf "$rootfs.new" .
  mv "$rootfs.new" "$rootfs"
  rm -rf "$tmp"
fi

echo "provision: ready (cache $cache)"
