#!/usr/bin/env bash
# The execution environment, built and run as AAP runs a job.
#   scripts/ee.sh [build]      (no argument: build, then run)
# build: ansible-builder builds execution-environment.yml on a Debian bookworm base made here
#   (the lab's debootstrap base image plus pip) with every collection given as a local artifact:
#   this checkout's own, and the ones execution-environment.yml names, rebuilt from the copies
#   the `ansible` package installed in the venv (no Galaxy, no registry). Cached: the image tag is
#   a hash of everything the build reads, so an unchanged input is a cache hit.
# run: keeplocal.traffic.detect inside that image with ansible-runner --process-isolation, as an
#   AAP job runs, against network-namespace hosts with real hairpin NAT (netns_detect_world of
#   scripts/netns-lib.sh, as tests/integration/targets/aap_slicing/runme.sh); plan.json must find the hairpins.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$KEEPLOCAL_REPO"
if [[ $(id -u) != 0 ]]; then
  echo "ee: needs root (podman builds, network namespaces)" >&2
  exit 1
fi
what=${1:-all}
case $what in build|all) ;; *) echo "usage: $0 [build]" >&2; exit 2 ;; esac
scripts/host-setup.sh >/dev/null
scripts/venv.sh >/dev/null
python=$KEEPLOCAL_VENV/bin/python
builder_version=$(ansible-builder --version)
# One work directory and one set of image tags per checkout, as scripts/test.sh release keeps its
# build directory: runs in other checkouts (CI's clone, other sessions) neither overwrite nor remove them.
checkout=$(echo "$KEEPLOCAL_REPO" | sha256sum | cut -c1-12)
work=$KEEPLOCAL_CACHE/ee-$checkout

# --- the base: the lab's debootstrap bookworm image, pip, a package manager for ansible-builder ------
# ansible-builder needs python3 and pip in the base (the published file's awx-ee has both; the
# lab base has python3 only), and drives the package manager the way dnf works: "PKGMGR install
# -y PACKAGES" for bindep's packages, "PKGMGR clean all". The wrapper gives apt-get that shape and
# fetches and drops the package lists within each install, so no image layer keeps them.
base_image() {
  KEEPLOCAL_LAB_SUITE=bookworm scripts/lab-image.sh >&2   # tagged :latest
  local context=$work/base-context tag
  rm -rf "$context"
  mkdir -p "$context"
  cat > "$context/Containerfile" <<EOF
FROM $(podman image inspect --format '{{.Id}}' localhost/keeplocal-base:latest)
COPY apt-get-for-builder /usr/local/sbin/apt-get-for-builder
RUN apt-get-for-builder install -y python3-pip
EOF
  cat > "$context/apt-get-for-builder" <<'EOF'
#!/bin/sh
set -e
case $1 in
  install)
    shift
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install --no-install-recommends "$@"
    apt-get clean
    rm -rf /var/lib/apt/lists/*
    ;;
  clean) apt-get clean ;;
  *) exec apt-get "$@" ;;
esac
EOF
  chmod +x "$context/apt-get-for-builder"
  tag=localhost/keeplocal-ee-base:$(cat "$context/Containerfile" "$context/apt-get-for-builder" | sha256sum | cut -c1-12)
  if ! podman image exists "$tag"; then
    echo "ee: building the base image $tag" >&2
    nice -n 10 podman build --quiet -t "$tag" "$context" >/dev/null
  fi
  echo "$tag"
}

# --- the collections as local artifacts ------------------------------------------------------------
# The checkout's artifact, built as `make build` builds it.
own_artifact() {
  rm -f "$work"/collections/keeplocal-traffic-*.tar.gz
  ansible-galaxy collection build --force --output-path "$work/collections" . >/dev/null
}

# The collections the definition names, built from the copies the `ansible` package installed in
# the venv. Those are artifacts unpacked and trimmed (the package drops tests and CI files that
# their FILES.json still lists, so ansible-galaxy refuses them packed back as they are): each is
# checked against its FILES.json, then built again with a galaxy.yml made from its MANIFEST.json.
dependency_artifacts() {
  "$python" - "$KEEPLOCAL_REPO/execution-environment.yml" "$work/collections" <<'EOF'
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import ansible_collections
import yaml

definition_path, out = sys.argv[1:]
with open(definition_path, encoding='utf-8') as handle:
    collections = yaml.safe_load(handle)['dependencies']['galaxy']['collections']
for entry in collections:
    namespace, name = entry['name'].split('.')
    sources = [os.path.join(root, namespace, name) for root in ansible_collections.__path__]
    source = next((path for path in sources if os.path.exists(os.path.join(path, 'MANIFEST.json'))), None)
    if source is None:
        sys.exit('ee: %s (dependencies.galaxy in %s) is not installed in %s (the ansible package of '
                 'test-requirements.txt carries the collections given to the build)' % (entry['name'], definition_path, sys.prefix))
    with open(os.path.join(source, 'MANIFEST.json'), encoding='utf-8') as handle:
        info = json.load(handle)['collection_info']
    artifact = os.path.join(out, '%s-%s-%s.tar.gz' % (namespace, name, info['version']))
    if os.path.exists(artifact):
        continue
    with open(os.path.join(source, 'FILES.json'), encoding='utf-8') as handle:
        for item in json.load(handle)['files']:
            path = os.path.join(source, item['name'])
            if item['ftype'] == 'file' and os.path.exists(path):
                with open(path, 'rb') as content:
                    if hashlib.sha256(content.read()).hexdigest() != item['chksum_sha256']:
                        sys.exit('ee: %s differs from its FILES.json checksum' % path)
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        tree = os.path.join(scratch, name)
        shutil.copytree(source, tree, ignore=shutil.ignore_patterns('__pycache__', 'MANIFEST.json', 'FILES.json'))
        with open(os.path.join(tree, 'galaxy.yml'), 'w', encoding='utf-8') as handle:
            yaml.safe_dump({key: value for key, value in info.items() if value not in (None, [])}, handle)
        subprocess.run(['ansible-galaxy', 'collection', 'build', '--output-path', scratch, tree],
                       check=True, stdout=subprocess.DEVNULL)
        os.rename(os.path.join(scratch, os.path.basename(artifact)), artifact)
EOF
}

# --- the definition built here ---------------------------------------------------------------------
# execution-environment.yml with only what this machine needs changed: the base image and its
# package manager (above; pip is there already, and Debian's Python has no ensurepip), and the
# galaxy collections: these artifacts, this collection's own among them, installed offline. Its
# python, system, ansible_core and ansible_runner entries stay as published.
local_definition() {
  local base=$1
  "$python" - "$KEEPLOCAL_REPO/execution-environment.yml" "$work" "$base" <<'EOF'
import os
import sys

import yaml

published, work, base = sys.argv[1:]
with open(published, encoding='utf-8') as handle:
    definition = yaml.safe_load(handle)
here = os.path.dirname(os.path.abspath(published))
dependencies = definition['dependencies']
for key in ('python', 'system'):
    dependencies[key] = os.path.join(here, dependencies[key])
artifacts = sorted(name for name in os.listdir(os.path.join(work, 'collections')) if name.endswith('.tar.gz'))
dependencies['galaxy'] = {'collections': [{'name': '/build/collections/' + name, 'type': 'file'} for name in artifacts]}
definition['images']['base_image']['name'] = base
definition['additional_build_files'] = [{'src': os.path.join(work, 'collections'), 'dest': 'collections'}]
definition['options'] = {'package_manager_path': '/usr/local/sbin/apt-get-for-builder', 'skip_pip_install': True}
definition['build_arg_defaults'] = {'ANSIBLE_GALAXY_CLI_COLLECTION_OPTS': '--offline'}
with open(os.path.join(work, 'execution-environment.yml'), 'w', encoding='utf-8') as handle:
    handle.write('# Generated by scripts/ee.sh from execution-environment.yml: do not edit.\n')
    yaml.safe_dump(definition, handle, sort_keys=False)
EOF
}

build() {
  local start=$SECONDS base key image
  mkdir -p "$work/collections"
  base=$(base_image)
  own_artifact
  dependency_artifacts
  local_definition "$base"
  # The tag: the definition (which names the base by its recipe hash), what it points to (each
  # artifact by its MANIFEST.json, which carries the checksum of every file), ansible-builder.
  key=$( {
    echo "$builder_version"
    cat "$work/execution-environment.yml" requirements.txt bindep.txt
    for artifact in "$work"/collections/*.tar.gz; do tar -xzOf "$artifact" MANIFEST.json; done
  } | sha256sum | cut -c1-12)
  image=localhost/keeplocal-ee:$checkout-$key
  if podman image exists "$image"; then
    echo "ee: $image is built (cached)" >&2
  else
    echo "ee: building $image with ansible-builder $builder_version (pip and apt downloads, one to two minutes)" >&2
    rm -rf "$work/context"
    # pip in the build reaches PyPI through this machine's HTTPS proxy: the host's CA bundle is
    # mounted for the build only, the image keeps Debian's.
    if ! nice -n 10 ansible-builder build -f "$work/execution-environment.yml" -c "$work/context" -t "$image" \
        --container-runtime podman -v 3 \
        --extra-build-cli-args="-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro" \
        >"$work/build.log" 2>&1; then
      tail -n 60 "$work/build.log" >&2
      echo "ee: ansible-builder failed (whole log: $work/build.log)" >&2
      return 1
    fi
    echo "ee: built in $((SECONDS - start)) s" >&2
  fi
  # Every change to the collection makes a new image: this checkout's older ones go.
  podman images --format '{{.Repository}}:{{.Tag}}' localhost/keeplocal-ee | grep "^localhost/keeplocal-ee:$checkout-" |
    grep -vxF "$image" | xargs -r podman rmi >/dev/null 2>&1 || true
  echo "$image"
}

# --- run: detect inside the image, on network-namespace hosts --------------------------------------
# shellcheck source=scripts/netns-lib.sh
. scripts/netns-lib.sh
ident=klee$$   # ansible-runner's: its container is ansible_runner_IDENT
remove_container() { podman rm --force --ignore "ansible_runner_$ident" >/dev/null 2>&1 || true; }

run() {
  local image=$1 out host_count=4   # netns_detect_world's gw, cli, web and db
  netns_init klee ee
  netns_at_exit remove_container
  out=$NETNS_DIR
  mkdir -p "$out/runner/inventory"
  # The hosts' Python is the image's /usr/bin/python3, run inside each namespace (ip netns exec
  # from inside the container).
  netns_detect_world 10.86.0 198.18.86.1 "$out/runner/inventory/hosts.yml"

  # The job, as AAP's execution node runs it: ansible-runner starts the image with the private
  # data directory at /runner. The hosts being namespaces of this machine, the container also
  # gets what entering them takes: root in the container (the image's user is 1000),
  # privileges, the host's /run/netns, and the host's process table (socket owners by name).
  local start=$SECONDS rc=0
  env -u ANSIBLE_CONFIG -u ANSIBLE_COLLECTIONS_PATH nice -n 10 ansible-runner run "$out/runner" -p keeplocal.traffic.detect \
    --ident "$ident" \
    --process-isolation --process-isolation-executable podman --container-image "$image" \
    --container-volume-mount "$out:$out" --container-volume-mount /run/netns:/run/netns \
    --container-option=--user=0 --container-option=--privileged --container-option=--pid=host \
    --cmdline "-e hairpin_detect_report_dir=$out/report" >"$out/detect.log" 2>&1 || rc=$?
  echo "ee: ansible-runner run in $image: rc $rc, $((SECONDS - start)) s; the container it started:"
  "$python" -c 'import json, shlex, sys; print(shlex.join(json.load(open(sys.argv[1]))["command"]))' \
    "$out/runner/artifacts/$ident/command"
  if ((rc != 0)); then
    tail -n 60 "$out/detect.log" >&2
    echo "ee: detect failed in the execution environment" >&2
    return 1
  fi
  grep -A"$host_count" 'PLAY RECAP' "$out/detect.log" | sed 's/\x1b\[[0-9;]*m//g'
  "$python" - "$out/report/plan.json" "$host_count" <<'EOF' || { tail -n 60 "$out/detect.log" >&2; return 1; }
import json
import sys

path, hosts = sys.argv[1], int(sys.argv[2])
try:
    with open(path, encoding='utf-8') as handle:
        summary = json.load(handle)['summary']
except FileNotFoundError:
    sys.exit('ee: detect wrote no %s' % path)
print('ee: plan summary:', json.dumps(summary, sort_keys=True))
problems = []
if summary['hosts'] != hosts or summary['not_observed'] != 0:
    problems.append('expected facts of all %d hosts' % hosts)
if summary['active_pairs'] < 2:
    problems.append('expected the hairpin pairs cli -> app and cli, web -> db as active pairs')
problems.extend('no %s finding' % fix for fix in ('split_dns', 'local_shortcut', 'unix_socket') if summary['by_fix'][fix] < 1)
if problems:
    sys.exit('ee: plan.json: ' + '; '.join(problems))
EOF
  echo "ee: detect in the execution environment found the hairpins"
}

case $what in
  build) build >/dev/null ;;
  all) image=$(build); run "$image" ;;
esac
