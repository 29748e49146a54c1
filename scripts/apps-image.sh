#!/usr/bin/env bash
# Build localhost/keeplocal-apps:latest, the lab image with real applications behind nginx
# (lab/image/apps: Radicale under uWSGI, Datasette under uvicorn and under gunicorn with uvicorn
# workers), once per recipe: the tag carries a hash of the lab image and of every file under
# lab/image/apps, so an unchanged recipe is a cache hit. Builds the lab image first if missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/lab/containers.conf}
context=$here/lab/image/apps

podman image exists localhost/keeplocal-lab:latest || "$here/scripts/lab-image.sh"
lab_id=$(podman image inspect --format '{{.Id}}' localhost/keeplocal-lab:latest)
hash=$( { echo "$lab_id"; (cd "$context" && find . -type f -print0 | sort -z | xargs -0 sha256sum); } | sha256sum | cut -c1-12)

if ! podman image exists "localhost/keeplocal-apps:$hash"; then
  start=$SECONDS
  echo "apps-image: building apps image $hash (Debian's uWSGI and Radicale, Datasette from PyPI; about 2 min; once per recipe)"
  # The build reaches the package registries through an intercepting proxy: its CA as host-ca.crt.
  podman build --quiet --build-arg BASE_IMAGE=localhost/keeplocal-lab:latest \
      -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/host-ca.crt:ro \
      -t "localhost/keeplocal-apps:$hash" -f "$context/Containerfile" "$context" >/dev/null
  echo "apps-image: built in $((SECONDS - start)) s"
fi
podman tag "localhost/keeplocal-apps:$hash" localhost/keeplocal-apps:latest
echo "apps-image: apps $hash ready (localhost/keeplocal-apps:latest)"
