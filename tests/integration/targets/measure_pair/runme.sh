#!/usr/bin/env bash
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# measure.yml records each pair with playbooks/tasks/measure_record.yml, whose measure_result filter
# counts the gateway conntrack entries a probe created. This runs that task on localhost with
# conntrack -L lines as the gateway prints them: new entries, renewed ones (a reused tuple in
# TIME_WAIT), stale ones, other ports' and other pairs' entries and a large table.
#   tests/integration/targets/measure_pair/runme.sh [-v]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]]; then
  # shellcheck disable=SC1091
  . "$here/../../../../scripts/env.sh"
fi
cd "$here"
ansible-playbook -i localhost, -c local playbook.yml "$@"
