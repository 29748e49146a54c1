#!/usr/bin/env bash
# Build the pinned CoreDNS from the Go module proxy once; record its sha256 for the split_dns
# role's offline install path. Prints the binary's path on the last line.
set -euo pipefail
. "$(dirname "$0")/env.sh"
version=${KEEPLOCAL_COREDNS_VERSION:-v1.14.7}
dest=$KEEPLOCAL_CACHE/coredns-$version
if [ ! -f "$dest/coredns.sha256" ]; then
  command -v go >/dev/null || { echo "coredns-build: Go >= 1.25 is required (go not found)" >&2; exit 1; }
  echo "coredns-build: go install github.com/coredns/coredns@$version (a few minutes, once)" >&2
  rm -rf "$dest"; mkdir -p "$dest"
  CGO_ENABLED=0 GOBIN=$dest go install -trimpath -ldflags='-s -w' "github.com/coredns/coredns@$version" >&2
  (cd "$dest" && sha256sum coredns > coredns.sha256)
fi
echo "$dest/coredns"
