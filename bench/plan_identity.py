# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check that the planner's output is byte for byte what it was: plans of bench fleets against recorded hashes.

    . scripts/env.sh && python bench/plan_identity.py            # exit 1 when a plan differs
    . scripts/env.sh && python bench/plan_identity.py --write    # record the current planner's plans

A performance change to the planner must not change the plan. This builds the plan of the
``bench/plan_scale.py`` fleets (port-translated forwards, same-host pairs, DNS names, IPv6, odd
shapes) at several sizes, with the options a detect run passes and with every option set, and
compares the SHA-256 of ``json.dumps(plan)`` (key order included: that is the file detect writes)
with ``bench/results/plan_identity.json``. Record with ``--write`` only when a change to the plan
is intended, and say in the commit which.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

from plan_scale import fleet

RECORD = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results', 'plan_identity.json')
SIZES = (100, 1000, 5000)
# The options of tests/unit/plugins/plugin_utils/test__plan_snapshot.py's every_option case, which
# reach the code paths the defaults leave out (networks, forwards=, public_addresses, latent pairs).
EVERY_OPTION = {
    'internal_cidrs': ['10.0.0.0/8', '172.16.0.0/12', 'fc00::/7', '198.19.200.0/24'],
    'networks': ['10.0.0.0/23', 'fd00:0:2::/48'],
    'ipv4_prefix': 20,
    'usage_threshold': 0.01,
    'forwards': [{'gateway': 'cloud-nat', 'proto': 'tcp', 'public_ip': '203.0.113.10', 'public_port': 443,
                  'private_ip': '10.0.0.10', 'private_port': 8443}],
    'public_addresses': ['203.0.113.11'],
    'act_on_latent': True,
}


def plan_hashes(build_plan, sizes):
    """``{'<hosts> <case>': sha256 of the plan JSON}``."""
    result = {}
    for size in sizes:
        facts, name_ports = fleet(size)
        # as the filter gets them: plain JSON values, no tuples or shared objects
        facts = json.loads(json.dumps(facts))
        for case, options in (('name_ports', {}), ('every_option', EVERY_OPTION)):
            plan = build_plan(facts, name_ports=name_ports, **options)
            result['%d %s' % (size, case)] = hashlib.sha256(json.dumps(plan).encode()).hexdigest()
            sys.stderr.write('%d hosts, %s: %d pairs\n' % (size, case, plan['summary']['pairs']))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--write', action='store_true', help='record the current plans (only for an intended change)')
    parser.add_argument('--sizes', default=','.join(str(size) for size in SIZES))
    opts = parser.parse_args()
    collections = os.environ.get('KEEPLOCAL_COLLECTIONS')
    if not collections:
        sys.exit('source scripts/env.sh first (needs the collection tree in KEEPLOCAL_COLLECTIONS)')
    sys.path.insert(0, collections)
    from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import build_plan  # pylint: disable=import-outside-toplevel

    hashes = plan_hashes(build_plan, [int(size) for size in opts.sizes.split(',')])
    if opts.write:
        with open(RECORD, 'w', encoding='utf-8') as handle:
            json.dump(hashes, handle, indent=2)
            handle.write('\n')
        print('recorded %d plans in %s' % (len(hashes), RECORD))
        return
    with open(RECORD, encoding='utf-8') as handle:
        recorded = json.load(handle)
    differ = [key for key, value in hashes.items() if recorded.get(key) != value]
    for key in hashes:
        print('%-20s %s' % (key, 'not recorded' if key not in recorded else 'differs' if key in differ else 'same'))
    if differ:
        sys.exit('the plan differs from the record for: %s' % ', '.join(differ))


if __name__ == '__main__':
    main()
