#!/usr/bin/env bash
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# keeplocal.traffic.report_files as the roles use it (run_once, delegated to localhost) writes the
# report on the controller with no remote temporary directory: localhost's is made impossible here,
# and a delegated ansible.builtin.copy is shown to fail on it first.
#   tests/integration/targets/report_files/runme.sh [-v]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]]; then
  # shellcheck disable=SC1091
  . "$here/../../../../scripts/env.sh"
fi
cd "$here"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ansible-playbook -i inventory.ini playbook.yml -e "report_dir=$out/report" "$@"
