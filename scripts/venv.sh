#!/usr/bin/env bash
# The controller venv from test-requirements.txt, cached by that file's hash. A marker written last
# tells a complete venv from one a killed run left half-built.
set -euo pipefail
. "$(dirname "$0")/env.sh"
if [ ! -f "$KEEPLOCAL_VENV/.complete" ]; then
  echo "venv: building $KEEPLOCAL_VENV (about a minute)"
  rm -rf "$KEEPLOCAL_VENV"
  python3 -m venv "$KEEPLOCAL_VENV"
  "$KEEPLOCAL_VENV/bin/pip" install -q --upgrade pip
  "$KEEPLOCAL_VENV/bin/pip" install -q -r "$KEEPLOCAL_REPO/test-requirements.txt"
  touch "$KEEPLOCAL_VENV/.complete"
fi
echo "venv: $KEEPLOCAL_VENV ready"
