#!/usr/bin/env bash
# Read-only audit of this machine: detect.yml against localhost in check mode, no inventory.
# The interpreter is given explicitly: discovery can pick a broken pyenv shim on developer boxes.
set -euo pipefail
. "$(dirname "$0")/env.sh"
scripts_dir=$(dirname "$0")
"$scripts_dir/venv.sh" >/dev/null
ansible-playbook keeplocal.traffic.detect -i localhost, -c local --check \
  -e ansible_python_interpreter=/usr/bin/python3 "$@"
