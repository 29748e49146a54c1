# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one plan reader: every automatic recommendation lands on its host, in its role's variables."""

from __future__ import annotations

import json

import pytest

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import build_plan
from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan_reader import (
    GROUP_FOR_ROLE,
    PlanReadError,
    assignments,
    read_plan,
)
from ansible_collections.keeplocal.traffic.plugins.plugin_utils._recommend import ROLE_FOR_FIX
from ansible_collections.keeplocal.traffic.tests.unit.plugins.plugin_utils.lab_fixture import (
    LAB_NAME_PORTS,
    PAIR_80,
    PAIR_5432,
    lab_facts,
)

INVENTORY = ['ext', 'gw', 'svc-a', 'svc-b', 'svc-c']


def lab_plan(**kwargs):
    return build_plan(lab_facts(), name_ports=LAB_NAME_PORTS, **kwargs)


def by_host(result):
    return {host['name']: host for host in result['hosts']}


def test_lab_assignments():
    result = assignments(lab_plan(), inventory=INVENTORY, dns_servers=['gw'], dns_server_address='192.168.1.1')
    assert result['problems'] == [] and result['manual'] == []
    hosts = by_host(result)
    assert sorted(hosts) == ['gw', 'svc-a', 'svc-b']
    svc_a = hosts['svc-a']
    assert svc_a['groups'] == ['keeplocal_fix_local_shortcut', 'keeplocal_fix_split_dns', 'keeplocal_measure']
    assert svc_a['vars']['roles'] == {
        'split_dns': {'split_dns_names': [{'name': 'app.example.test', 'private': '192.168.1.20', 'public': '198.51.100.1'}],
                      'split_dns_client_nameservers': ['192.168.1.1']},
        'local_shortcut': {'local_shortcut_rules': [{'public_ip': '198.51.100.1', 'public_port': 5432, 'proto': 'tcp',
                                                     'private_ip': '192.168.1.30', 'private_port': 54321, 'comment': PAIR_5432}]},
    }
    assert [pair['id'] for pair in svc_a['vars']['measure']] == [PAIR_80, PAIR_5432]
    assert hosts['svc-b']['groups'] == ['keeplocal_fix_unix_socket', 'keeplocal_measure']
    assert [entry['id'] for entry in hosts['svc-b']['vars']['measure_same_host']] == ['svc-b->127.0.0.1:8000/tcp']
    assert hosts['svc-b']['vars']['measure'] == []
    assert hosts['svc-b']['vars']['roles'] == {'unix_sockets': {'unix_sockets_pairs': [{'address': '127.0.0.1:8000'}]}}
    assert hosts['gw']['groups'] == ['keeplocal_fix_split_dns_server']
    assert hosts['gw']['vars']['roles'] == {'split_dns_server': {
        'split_dns_names': [{'name': 'app.example.test', 'private': '192.168.1.20', 'public': '198.51.100.1'}]}}


def test_every_automatic_recommendation_is_assigned():
    """No third state: each automatic recommendation puts its host in its role's group with its input."""
    plan = lab_plan()
    result = assignments(plan, inventory=INVENTORY, dns_servers=['gw'], dns_server_address='192.168.1.1')
    hosts = by_host(result)
    automatic = [item['recommendation'] for key in ('pairs', 'same_host', 'gateways') for item in plan[key]
                 if item['recommendation'] and item['recommendation']['mode'] == 'automatic']
    assert len(automatic) == plan['summary']['automatic'] == 3
    for rec in automatic:
        host = hosts[rec['host']]
        assert GROUP_FOR_ROLE[rec['role']] in host['groups']
        role_vars = host['vars']['roles'][rec['role'].rsplit('.', 1)[-1]]
        for key, value in rec['input'].items():
            assert all(item in role_vars[key] for item in value)
    # every fix kind has a role remediate runs
    assert set(ROLE_FOR_FIX.values()) == set(GROUP_FOR_ROLE)


def test_gateway_at_risk_is_tuned():
    facts = lab_facts()
    facts['gw']['conntrack'].update(count=250000, usage=0.95, writable=True)
    plan = build_plan(facts, name_ports=LAB_NAME_PORTS)
    hosts = by_host(assignments(plan, inventory=INVENTORY, dns_servers=['gw'], dns_server_address='192.168.1.1'))
    assert 'keeplocal_fix_conntrack_headroom' in hosts['gw']['groups']
    assert hosts['gw']['vars']['roles']['conntrack_tuning'] == {}


def test_read_only_gateway_at_risk_is_manual():
    facts = lab_facts()
    facts['gw']['conntrack'].update(count=250000, usage=0.95, writable=False)
    plan = build_plan(facts, name_ports=LAB_NAME_PORTS)
    result = assignments(plan, inventory=INVENTORY, dns_servers=['gw'], dns_server_address='192.168.1.1')
    assert 'keeplocal_fix_conntrack_headroom' not in by_host(result)['gw']['groups']
    assert [item['id'] for item in result['manual']] == ['gw']


def test_latent_pairs_are_manual_and_not_assigned():
    facts = lab_facts()
    answers = [{'name': 'db.example.test', 'addresses': ['198.51.100.1'], 'public_match': True, 'private': False}]
    facts['svc-c']['dns_answers'] = {'resolvers': ['198.51.100.53'], 'answers': answers}
    plan = build_plan(facts, name_ports=LAB_NAME_PORTS)
    result = assignments(plan, inventory=INVENTORY, dns_servers=['gw'], dns_server_address='192.168.1.1')
    assert 'svc-c' not in by_host(result)
    assert [item['id'] for item in result['manual']] == ['svc-c->198.51.100.1:5432/tcp']
    acted = assignments(build_plan(facts, name_ports=LAB_NAME_PORTS, act_on_latent=True), inventory=INVENTORY,
                        dns_servers=['gw'], dns_server_address='192.168.1.1')
    svc_c = by_host(acted)['svc-c']
    # acted on, but not measured: nothing uses the path yet
    assert svc_c['groups'] == ['keeplocal_fix_local_shortcut']
    assert svc_c['vars']['measure'] == [] and svc_c['vars']['measure_same_host'] == []


def test_problems_name_what_is_missing():
    result = assignments(lab_plan(), inventory=['gw', 'svc-a'], dns_servers=[], dns_server_address=None)
    assert result['problems'] == [
        'same_host svc-b->127.0.0.1:8000/tcp: the plan applies keeplocal.traffic.unix_sockets on svc-b, which is not in this '
        'inventory: run keeplocal.traffic.detect with this inventory, or add the host',
        'the plan has automatic split_dns fixes but no DNS server: put the host that runs CoreDNS in the inventory group '
        'named by keeplocal_dns_servers (default dns_servers)',
        "keeplocal_dns_server_address must be the address clients query the private resolver at (e.g. 192.168.1.1), got None",
    ]


def test_json_text_is_read():
    plan = lab_plan()
    assert assignments(json.dumps(plan), inventory=INVENTORY, dns_servers=['gw'], dns_server_address='192.168.1.1')['plan'] == plan


@pytest.mark.parametrize('value, message', [
    ('not json', 'plan.json is not JSON (Expecting value: line 1 column 1 (char 0)): pass the plan.json that '
                 'keeplocal.traffic.detect wrote'),
    ('[]', 'plan.json must be a plan (a JSON object from keeplocal.traffic.detect), got list'),
    ('{"version": 1, "pairs": [], "same_host": [], "gateways": []}',
     'plan.json has plan version 1; this collection reads version 2: run keeplocal.traffic.detect again to write a current plan'),
    ('{"version": 2, "pairs": {}, "same_host": [], "gateways": []}',
     'plan.json.pairs must be a list (a plan from keeplocal.traffic.detect)'),
])
def test_bad_plans_name_the_source(value, message):
    with pytest.raises(PlanReadError) as exc:
        read_plan(value, 'plan.json')
    assert str(exc.value) == message
