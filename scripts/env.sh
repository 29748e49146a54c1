# shellcheck shell=bash
# Source this: the project's shell environment (venv, podman config, collection tree).
#   . scripts/env.sh
# Caches live in $KEEPLOCAL_CACHE (default /var/cache/keeplocal), keyed by their inputs.
KEEPLOCAL_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEEPLOCAL_CACHE=${KEEPLOCAL_CACHE:-/var/cache/keeplocal}
KEEPLOCAL_VENV=$KEEPLOCAL_CACHE/venv-$(sha256sum "$KEEPLOCAL_REPO/test-requirements.txt" | cut -c1-12)
# The previous ansible-core (sanity and units only).
KEEPLOCAL_VENV_PREVIOUS=$KEEPLOCAL_CACHE/venv-$(sha256sum "$KEEPLOCAL_REPO/tests/requirements-previous-core.txt" | cut -c1-12)
# Release tooling: galaxy-importer and antsibull-docs (their pins conflict with molecule's).
KEEPLOCAL_VENV_RELEASE=$KEEPLOCAL_CACHE/venv-$(sha256sum "$KEEPLOCAL_REPO/tests/requirements-release.txt" | cut -c1-12)
# A user's controller as the README describes it: ansible-core and requirements.txt only.
KEEPLOCAL_VENV_INSTALL=$KEEPLOCAL_CACHE/venv-$(cat "$KEEPLOCAL_REPO/tests/requirements-install.txt" "$KEEPLOCAL_REPO/requirements.txt" | sha256sum | cut -c1-12)
# ansible finds the collection under an ansible_collections/keeplocal/traffic path; a symlink per
# checkout (keyed by its path) gives the repository that shape without copying it.
KEEPLOCAL_COLLECTIONS=$KEEPLOCAL_CACHE/tree-$(echo "$KEEPLOCAL_REPO" | sha256sum | cut -c1-12)
export KEEPLOCAL_REPO KEEPLOCAL_CACHE KEEPLOCAL_VENV KEEPLOCAL_VENV_PREVIOUS KEEPLOCAL_VENV_RELEASE KEEPLOCAL_VENV_INSTALL KEEPLOCAL_COLLECTIONS
export CONTAINERS_CONF=$KEEPLOCAL_REPO/lab/containers.conf
export ANSIBLE_COLLECTIONS_PATH=$KEEPLOCAL_COLLECTIONS
export ANSIBLE_CONFIG=$KEEPLOCAL_REPO/ansible.cfg
# The lab's podman connection with pipelining (lab_podman); molecule passes the environment on.
export ANSIBLE_CONNECTION_PLUGINS=$KEEPLOCAL_REPO/lab/connection_plugins
export PATH=$KEEPLOCAL_VENV/bin:/usr/local/go/bin:$PATH
mkdir -p "$KEEPLOCAL_COLLECTIONS/ansible_collections/keeplocal"
ln -sfn "$KEEPLOCAL_REPO" "$KEEPLOCAL_COLLECTIONS/ansible_collections/keeplocal/traffic"
