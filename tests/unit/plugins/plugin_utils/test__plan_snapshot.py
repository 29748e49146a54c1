# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's whole output on a 30-host synthetic fleet equals a stored snapshot, byte for byte.

fixtures/fleet30_facts.json is ``bench/plan_scale.py --dump-facts 30 --services-per-client 2``:
two sites (one with IPv6), port-translated forwards, a port range, an all-port forward, a network
forward, same-host pairs, shared and latent DNS names, a cloud NAT and listed public addresses,
an unreachable host, a failed source, a gateway result without the aggregate. fixtures/fleet30_plans.json
is the plan of every case below; it was written by the planner that parsed the facts at each use,
so the typed-record planner must reproduce it exactly. Rewrite it (``python`` this file) only when
a change to the plan is intended, and review the difference.
"""

from __future__ import annotations

import functools
import json
import os

import pytest

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import build_plan

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
FACTS = os.path.join(FIXTURES, 'fleet30_facts.json')
PLANS = os.path.join(FIXTURES, 'fleet30_plans.json')


def _load(path):
    with open(path, encoding='utf-8') as handle:
        return json.load(handle)


def cases():
    """``{case: (facts, build_plan options)}``."""
    fleet = _load(FACTS)
    facts, name_ports = fleet['facts'], fleet['name_ports']
    return {
        'name_ports': (facts, {'name_ports': name_ports}),
        'every_option': (facts, {
            'name_ports': name_ports,
            # the outside hosts' range counts as inside: they become hairpin clients
            'internal_cidrs': ['10.0.0.0/8', '172.16.0.0/12', 'fc00::/7', '198.19.200.0/24'],
            'networks': ['10.0.0.0/23', 'fd00:0:2::/48'],
            'ipv4_prefix': 20,
            'usage_threshold': 0.01,
            'forwards': [{'gateway': 'cloud-nat', 'proto': 'tcp', 'public_ip': '203.0.113.10', 'public_port': 443,
                          'private_ip': '10.0.0.10', 'private_port': 8443}],
            'public_addresses': ['203.0.113.11'],
            'act_on_latent': True,
        }),
    }


CASES = cases()


@functools.lru_cache(maxsize=None)
def snapshot():
    return _load(PLANS)


def test_snapshot_covers_every_case():
    assert sorted(snapshot()) == sorted(CASES)


@pytest.mark.parametrize('case', sorted(CASES))
def test_plan_equals_snapshot(case):
    facts, options = CASES[case]
    plan = build_plan(facts, **options)
    expected = snapshot()[case]
    for key in expected:
        assert plan[key] == expected[key], key
    assert json.dumps(plan) == json.dumps(expected)  # key order too


def test_snapshot_exercises_the_planner():
    """The fixture keeps the shapes it was made for: a snapshot of an empty plan would prove nothing."""
    plans = snapshot()
    summary = plans['every_option']['summary']
    assert summary['active_pairs'] > 50 and summary['latent_pairs'] > 20
    assert summary['unplanned_pairs'] > 0 and summary['gateways_at_risk'] > 0 and summary['not_observed'] > 0
    assert all(summary['by_fix'][kind] > 0 for kind in ('unix_socket', 'split_dns', 'local_shortcut', 'conntrack_headroom'))
    relations = set(pair['relation'] for case in plans.values() for pair in case['pairs'])
    assert relations == {'same_host', 'same_network', 'routed', None}
    ids = [pair['id'] for pair in plans['name_ports']['pairs']]
    assert any('[2001:db8:' in pair_id for pair_id in ids)
    assert any(pair['public']['other_names'] for pair in plans['name_ports']['pairs'])


def write_snapshot():
    plans = {case: build_plan(facts, **options) for case, (facts, options) in CASES.items()}
    with open(PLANS, 'w', encoding='utf-8') as handle:
        json.dump(plans, handle, indent=0, separators=(',', ':'))
        handle.write('\n')


if __name__ == '__main__':
    write_snapshot()
