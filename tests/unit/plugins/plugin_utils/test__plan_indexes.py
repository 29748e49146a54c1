# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner's lookups: overlapping forwards keep rule order across addresses, networks and a
gateway's own addresses; one address written in different forms is one address."""

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import build_plan
from ansible_collections.keeplocal.traffic.tests.unit.plugins.plugin_utils.lab_fixture import PAIR_80, lab_facts

# Three forwards that all answer 198.51.100.1:80/tcp, each to another backend.
BY_ADDRESS = {'proto': 'tcp', 'public_ip': '198.51.100.1', 'public_port': 80, 'private_ip': '192.168.1.20', 'private_port': 80}
BY_NETWORK = {'proto': 'tcp', 'public_ip': '198.51.100.0/28', 'public_port': 70, 'public_port_end': 90,
              'private_ip': '192.168.1.30', 'private_port': None}
BY_GATEWAY_ADDRESS = {'proto': None, 'public_ip': None, 'public_port': 80, 'private_ip': '192.168.1.40', 'private_port': 8080}


def facts_with_forwards(forwards):
    """The lab with these gateway forwards; the gateway's conntrack shows no pair, so the forward map names the backend."""
    facts = lab_facts()
    facts['gw']['nat_rules']['forwards'] = forwards
    facts['gw']['hairpin_flows'].update(pairs=[], flows=[], hairpin_entries=0)
    return facts


@pytest.mark.parametrize('forwards, backend', [
    ([BY_ADDRESS, BY_NETWORK, BY_GATEWAY_ADDRESS], ('192.168.1.20', 80)),
    ([BY_NETWORK, BY_ADDRESS, BY_GATEWAY_ADDRESS], ('192.168.1.30', 80)),
    ([BY_GATEWAY_ADDRESS, BY_NETWORK, BY_ADDRESS], ('192.168.1.40', 8080)),
    ([BY_NETWORK, BY_GATEWAY_ADDRESS], ('192.168.1.30', 80)),
])
def test_first_matching_forward_wins(forwards, backend):
    pair = {pair['id']: pair for pair in build_plan(facts_with_forwards(forwards))['pairs']}[PAIR_80]
    assert (pair['backend']['ip'], pair['backend']['port']) == backend


def test_names_list_every_overlapping_forward_in_rule_order():
    plan = build_plan(facts_with_forwards([BY_NETWORK, BY_ADDRESS]))
    app = {item['name']: item for item in plan['names']}['app.example.test']
    assert app['forwards'] == ['198.51.100.1:70-90/tcp -> 192.168.1.30', '198.51.100.1:80/tcp -> 192.168.1.20:80']


def test_one_address_in_any_form():
    """An IPv4-mapped or bracketed spelling is the same address: the backend still maps to its host."""
    facts = lab_facts()
    facts['svc-b']['addresses'] = ['::ffff:192.168.1.20']
    facts['svc-b']['outbound_flows']['local_addresses'] = ['[::ffff:192.168.1.20]']
    facts['gw']['hairpin_flows']['pairs'][0]['backend_ip'] = ' 192.168.1.20 '
    pair = {pair['id']: pair for pair in build_plan(facts)['pairs']}[PAIR_80]
    assert pair['backend'] == {'host': 'svc-b', 'ip': '192.168.1.20', 'port': 80}
