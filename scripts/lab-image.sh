#!/usr/bin/env bash
# Build the lab's container images, once per recipe: the tag carries a hash of the files that
# define them, so an unchanged recipe is a cache hit and a changed one rebuilds.
#   localhost/keeplocal-base:latest  debootstrap bookworm + systemd + python3 (generic managed host)
#   localhost/keeplocal-lab:latest   base + the lab's own tooling (lab/image/Containerfile.lab)
# KEEPLOCAL_LAB_SUITE=trixie builds the same two for Debian 13, tagged :trixie instead of :latest,
# with lab/image/Containerfile.lab-trixie on top of the lab layer (what only that release needs).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/lab/containers.conf}
mirror=${KEEPLOCAL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${KEEPLOCAL_LAB_SUITE:-bookworm}
case $suite in
  bookworm) tag=latest ;;
  trixie) tag=trixie ;;
  *) echo "lab-image: KEEPLOCAL_LAB_SUITE must be bookworm (default) or trixie, got '$suite'" >&2; exit 2 ;;
esac
suite_layer=$here/lab/image/Containerfile.lab-$suite
base_packages=python3,python3-apt,systemd,systemd-sysv,iproute2,dbus,ca-certificates

base_hash=$( { echo "$mirror $suite $base_packages"; sed -n '/^# base-recipe-start/,/^# base-recipe-end/p' "$0"; } | sha256sum | cut -c1-12)
lab_hash=$( { echo "$base_hash"; cat "$here/lab/image/Containerfile.lab"; if [ -e "$suite_layer" ]; then cat "$suite_layer"; fi; } \
  | sha256sum | cut -c1-12)

have() { podman image exists "$1"; }
# lab_build BASE CONTAINERFILE [PODMAN-BUILD-OPTION...]: prints the new image's id.
lab_build() {
  podman build --quiet --build-arg "BASE_IMAGE=$1" \
      -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/host-ca.crt:ro \
      "${@:3}" -f "$2" "$here/lab/image"
}

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
podman tag "localhost/keeplocal-base:$base_hash" "localhost/keeplocal-base:$tag"

if ! have "localhost/keeplocal-lab:$lab_hash"; then
  start=$SECONDS
  echo "lab-image: building lab image $lab_hash (the lab's packages on the base, about 2 min; once per recipe)"
  image=$(lab_build "localhost/keeplocal-base:$base_hash" "$here/lab/image/Containerfile.lab")
  # --dns=none: the layer may replace the image's /etc/resolv.conf (see the file).
  if [ -e "$suite_layer" ]; then image=$(lab_build "$image" "$suite_layer" --dns=none); fi
  podman tag "$image" "localhost/keeplocal-lab:$lab_hash"
  echo "lab-image: lab image built in $((SECONDS - start)) s"
fi
podman tag "localhost/keeplocal-lab:$lab_hash" "localhost/keeplocal-lab:$tag"
echo "lab-image: $suite: base $base_hash, lab $lab_hash ready (localhost/keeplocal-lab:$tag)"
