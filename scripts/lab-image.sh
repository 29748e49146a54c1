#!/usr/bin/env bash
# Build the lab's container images, once per recipe: the tag carries a hash of the files that
# define them, so an unchanged recipe is a cache hit and a changed one rebuilds.
#   localhost/keeplocal-base:latest  debootstrap bookworm + systemd + python3 (generic managed host)
#   localhost/keeplocal-lab:latest   base + the lab's own tooling (lab/image/Containerfile.lab)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/lab/containers.conf}
mirror=${KEEPLOCAL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
base_packages=python3,python3-apt,systemd,systemd-sysv,iproute2,dbus,ca-certificates

base_hash=$( { echo "$mirror $suite $base_packages"; sed -n '/^# base-recipe-start/,/^# base-recipe-end/p' "$0"; } | sha256sum | cut -c1-12)
lab_hash=$( { echo "$base_hash"; cat "$here/lab/image/Containerfile.lab"; } | sha256sum | cut -c1-12)

have() { podman image exists "$1"; }

# The recipe block below is hashed into the tag: progress lines go outside it.
base_built=false start=$SECONDS
have "localhost/keeplocal-base:$base_hash" || base_built=true
# base-recipe-start
if ! have "localhost/keeplocal-base:$base_hash"; then
  echo "lab-image: building base image $base_hash (debootstrap, about a minute)"
  rootfs=$(mktemp -d /var/tmp/keeplocal-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase --include="$base_packages" "$suite" "$rootfs" "$mirror" >/dev/null
  # An empty machine-id is filled in by systemd at first boot, so each container gets its own.
  : > "$rootfs/etc/machine-id"
  tar -C "$rootfs" -c . | podman import --change 'CMD ["/sbin/init"]' \
      --change 'STOPSIGNAL SIGRTMIN+3' - "localhost/keeplocal-base:$base_hash" >/dev/null
fi
# base-recipe-end
if $base_built; then echo "lab-image: base image built in $((SECONDS - start)) s"; fi
podman tag "localhost/keeplocal-base:$base_hash" localhost/keeplocal-base:latest

if ! have "localhost/keeplocal-lab:$lab_hash"; then
  start=$SECONDS
  echo "lab-image: building lab image $lab_hash (the lab's packages on the base, about 2 min; once per recipe)"
  podman build --quiet --build-arg "BASE_IMAGE=localhost/keeplocal-base:$base_hash" \
      -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/host-ca.crt:ro \
      -t "localhost/keeplocal-lab:$lab_hash" -f "$here/lab/image/Containerfile.lab" "$here/lab/image" >/dev/null
  echo "lab-image: lab image built in $((SECONDS - start)) s"
fi
podman tag "localhost/keeplocal-lab:$lab_hash" localhost/keeplocal-lab:latest
echo "lab-image: base $base_hash, lab $lab_hash ready"
