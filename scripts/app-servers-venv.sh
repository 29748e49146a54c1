#!/usr/bin/env bash
# A virtual environment with the app servers the real-server tests start (gunicorn, uvicorn, uWSGI),
# cached by the hash of tests/requirements-app-servers.txt; prints its path. Use:
#   KEEPLOCAL_APP_SERVERS=$(scripts/app-servers-venv.sh) python -m pytest tests/unit/plugins/module_utils/test__app_servers_real.py
# uWSGI builds from source (gcc and python3-dev; on Debian: apt-get install build-essential python3-dev).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${KEEPLOCAL_CACHE:-/var/cache/keeplocal}
requirements=$repo/tests/requirements-app-servers.txt
venv=$cache/app-servers-$(sha256sum "$requirements" | cut -c1-12)
# A venv cannot be moved (its scripts name its python): built in place, marked complete at the end.
if [ ! -e "$venv/.complete" ]; then
    mkdir -p "$cache"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    touch "$venv/.complete"
fi
echo "$venv"
