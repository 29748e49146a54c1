#!/usr/bin/env bash
# The controller venvs, each cached by the hash of its requirements file. A marker written last
# tells a complete venv from one a killed run left half-built.
#   main:     test-requirements.txt              -> $KEEPLOCAL_VENV
#   previous: tests/requirements-previous-core.txt -> $KEEPLOCAL_VENV_PREVIOUS (the ansible-core before)
#   release:  tests/requirements-release.txt    -> $KEEPLOCAL_VENV_RELEASE (galaxy-importer, antsibull-docs)
#   install:  tests/requirements-install.txt    -> $KEEPLOCAL_VENV_INSTALL (ansible-core + requirements.txt only)
set -euo pipefail
. "$(dirname "$0")/env.sh"
build() {
  local venv=$1 requirements=$2
  if [ ! -f "$venv/.complete" ]; then
    local start=$SECONDS
    echo "venv: building $venv from $requirements (pip install, about a minute; once per requirements file)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r "$requirements"
    touch "$venv/.complete"
    echo "venv: built in $((SECONDS - start)) s"
  fi
  echo "venv: $venv ready"
}
build "$KEEPLOCAL_VENV" "$KEEPLOCAL_REPO/test-requirements.txt"
build "$KEEPLOCAL_VENV_PREVIOUS" "$KEEPLOCAL_REPO/tests/requirements-previous-core.txt"
build "$KEEPLOCAL_VENV_RELEASE" "$KEEPLOCAL_REPO/tests/requirements-release.txt"
build "$KEEPLOCAL_VENV_INSTALL" "$KEEPLOCAL_REPO/tests/requirements-install.txt"
