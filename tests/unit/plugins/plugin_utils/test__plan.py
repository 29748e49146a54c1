# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The planner over the lab's facts and the edge cases: no gateway, cloud NAT, IPv6, bad input."""

from __future__ import annotations

import json

import pytest

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import (
    FIX_KINDS,
    PlanError,
    build_plan,
    decide,
    normalize_facts,
)
from ansible_collections.keeplocal.traffic.tests.unit.plugins.plugin_utils.lab_fixture import (
    LAB_NAME_PORTS,
    PAIR_80,
    PAIR_5432,
    SAME_HOST_B,
    lab_facts,
)

PAIR_KEYS = ['id', 'client', 'public', 'backend', 'gateway', 'seen_by', 'connections', 'relation', 'port_translated', 'fix', 'reason',
             'status', 'recommendation']
ALL_SOURCES = ['gateway_conntrack', 'client_socket', 'dns_answer']


def by_id(plan):
    return {pair['id']: pair for pair in plan['pairs']}


def names_by_name(plan):
    return {item['name']: item for item in plan['names']}


# --- the lab -------------------------------------------------------------------------------------

LAB_PAIRS = [
    # id, client ip, backend (host, ip, port), connections, relation, translated, fix
    (PAIR_80, '192.168.1.10', ('svc-b', '192.168.1.20', 80), 3, 'same_network', False, 'split_dns'),
    (PAIR_5432, '192.168.1.10', ('svc-c', '192.168.1.30', 54321), 2, 'same_network', True, 'local_shortcut'),
]


@pytest.mark.parametrize('pair_id, client_ip, backend, connections, relation, translated, fix', LAB_PAIRS)
def test_lab_pairs(pair_id, client_ip, backend, connections, relation, translated, fix):
    plan = build_plan(lab_facts(), name_ports=LAB_NAME_PORTS)
    pair = by_id(plan)[pair_id]
    assert list(pair) == PAIR_KEYS
    assert pair['client']['host'] == 'svc-a'
    assert pair['client']['ip'] == client_ip
    assert (pair['backend']['host'], pair['backend']['ip'], pair['backend']['port']) == backend
    assert pair['gateway'] == 'gw'
    assert pair['seen_by'] == ALL_SOURCES
    # the gateway saw 3 and 2 conntrack entries, the client 2 and 1 sockets: the larger count wins
    assert pair['connections'] == connections
    assert pair['relation'] == relation
    assert pair['port_translated'] is translated
    assert pair['fix'] == fix


def test_lab_only_the_hairpin_pairs():
    plan = build_plan(lab_facts(), name_ports=LAB_NAME_PORTS)
    # ext (198.51.100.53) is an outside client; svc-a's ssh to the gateway's own :22 is not forwarded;
    # gw resolving its own name is not a client of its own forward
    assert [pair['id'] for pair in plan['pairs']] == [PAIR_80, PAIR_5432]


def test_lab_reasons_say_why():
    plan = build_plan(lab_facts(), name_ports=LAB_NAME_PORTS)
    pairs = by_id(plan)
    assert 'share 192.168.1.0/24' in pairs[PAIR_80]['reason']
    assert 'answer 192.168.1.20 for app.example.test' in pairs[PAIR_80]['reason']
    assert 'translated to 54321' in pairs[PAIR_5432]['reason']
    assert 'dial 192.168.1.30:5432' in pairs[PAIR_5432]['reason']


def test_lab_names_with_name_ports():
    plan = build_plan(lab_facts(), name_ports=LAB_NAME_PORTS)
    pairs = by_id(plan)
    assert pairs[PAIR_80]['public'] == {'ip': '198.51.100.1', 'port': 80, 'proto': 'tcp', 'names': ['app.example.test'], 'other_names': []}
    assert pairs[PAIR_5432]['public']['names'] == ['db.example.test']
    names = names_by_name(plan)
    assert names['app.example.test']['private_answers'] == ['192.168.1.20']
    assert names['app.example.test']['forwards'] == ['198.51.100.1:80/tcp -> 192.168.1.20:80']
    assert names['app.example.test']['resolved_by'] == ['ext', 'gw', 'svc-a']
    assert names['app.example.test']['pairs'] == [PAIR_80]
    # a translated port cannot be fixed by DNS: no private answer for db
    assert names['db.example.test']['private_answers'] == []
    assert 'port translated' in names['db.example.test']['reason']
    assert 'www.example.org' not in names  # answers with an address no forward uses


def test_lab_names_without_name_ports_stay_unattributed():
    """One public address, two backends: a private answer for either name would break the other port."""
    plan = build_plan(lab_facts())
    pairs = by_id(plan)
    for pair_id in (PAIR_80, PAIR_5432):
        assert pairs[pair_id]['public']['names'] == []
        assert pairs[pair_id]['public']['other_names'] == ['app.example.test', 'db.example.test']
        assert pairs[pair_id]['seen_by'] == ALL_SOURCES
    # no name answers for one backend alone: DNS cannot carry the fix, a local path can
    assert pairs[PAIR_80]['fix'] == 'local_shortcut'
    assert 'name_ports' in pairs[PAIR_80]['reason']
    for item in plan['names']:
        assert item['private_answers'] == []
        assert item['pairs'] == []
        assert 'different backends' in item['reason']


def test_lab_same_host():
    plan = build_plan(lab_facts())
    assert plan['same_host'] == [{
        'id': SAME_HOST_B, 'host': 'svc-b', 'ip': '127.0.0.1', 'port': 8000, 'client_process': 'nginx',
        'listener_process': 'gunicorn', 'connections': 4, 'status': 'active', 'fix': 'unix_socket',
        'reason': plan['same_host'][0]['reason'],
        'recommendation': {'mode': 'automatic', 'role': 'keeplocal.traffic.unix_sockets', 'host': 'svc-b',
                           'input': {'unix_sockets_pairs': [{'address': '127.0.0.1:8000'}]},
                           'change': plan['same_host'][0]['recommendation']['change']},
    }]
    assert 'nginx reaches gunicorn over TCP 127.0.0.1:8000' in plan['same_host'][0]['reason']


def test_lab_gateways():
    plan = build_plan(lab_facts())
    gateways = {gw['host']: gw for gw in plan['gateways']}
    assert sorted(gateways) == ['gw', 'svc-a']  # every host that reported conntrack
    gw = gateways['gw']
    assert gw['is_gateway'] is True
    assert (gw['count'], gw['max'], gw['buckets'], gw['hairpin_entries']) == (57, 262144, 262144, 5)
    assert gw['hairpin_share'] == round(5 / 57.0, 6)
    assert (gw['drop'], gw['insert_failed'], gw['early_drop']) == (0, 0, 0)
    assert gw['writable'] is False
    assert gw['fix'] is None
    assert gw['reason'].startswith('healthy')
    assert gateways['svc-a']['is_gateway'] is False
    assert gateways['svc-a']['hairpin_entries'] is None


def test_lab_summary():
    plan = build_plan(lab_facts(), name_ports=LAB_NAME_PORTS)
    assert plan['version'] == 2
    assert list(plan) == ['version', 'pairs', 'names', 'same_host', 'gateways', 'not_observed', 'summary']
    assert plan['not_observed'] == []
    assert plan['summary'] == {
        'hosts': 5, 'pairs': 2, 'active_pairs': 2, 'latent_pairs': 0, 'automatic': 3, 'manual': 0,
        'same_host': 1, 'hairpin_connections': 5,
        'by_fix': {'unix_socket': 1, 'split_dns': 1, 'local_shortcut': 1, 'conntrack_headroom': 0},
        'unplanned_pairs': 0, 'gateways': 1, 'gateways_at_risk': 0, 'not_observed': 0,
    }
    assert list(plan['summary']['by_fix']) == list(FIX_KINDS)


def test_plan_is_deterministic_and_json_clean():
    facts = lab_facts()
    reordered = {host: facts[host] for host in reversed(list(facts))}
    for item in reordered.values():
        flows = item.get('hairpin_flows')
        if flows:
            flows['pairs'].reverse()
    first = build_plan(facts, name_ports=LAB_NAME_PORTS)
    second = build_plan(reordered, name_ports=LAB_NAME_PORTS)
    assert json.dumps(first) == json.dumps(second)
    assert json.loads(json.dumps(first)) == first


@pytest.mark.parametrize('shape', ['hostvars', 'list'])
def test_input_shapes(shape):
    facts = lab_facts()
    if shape == 'hostvars':
        data = {host: {'inventory_hostname': host, 'hairpin_detect_facts': value} for host, value in facts.items()}
    else:
        data = list(facts.values())
    assert build_plan(data) == build_plan(facts)


# --- the decision table --------------------------------------------------------------------------

@pytest.mark.parametrize('relation, translated, fix', [
    ('same_host', False, 'local_shortcut'),
    ('same_host', True, 'local_shortcut'),
    ('same_network', False, 'split_dns'),
    ('same_network', True, 'local_shortcut'),
    ('routed', False, 'split_dns'),
    ('routed', True, 'local_shortcut'),
    (None, None, None),
])
def test_decision_table(relation, translated, fix):
    assert decide(relation, translated) == fix


def add_host(facts, name, addresses, **sources):
    facts[name] = dict({'host': name, 'addresses': addresses}, **sources)
    return facts


def test_routed_client_and_networks_option():
    facts = add_host(lab_facts(), 'svc-d', ['192.168.2.40'], outbound_flows={
        'local_addresses': ['192.168.2.40'], 'listeners': [], 'same_host': [],
        'to_public': [{'remote_ip': '198.51.100.1', 'remote_port': 80, 'connections': 7, 'process': 'wrk'}]})
    pair = by_id(build_plan(facts))['svc-d->198.51.100.1:80/tcp']
    # app and db share 198.51.100.1 without name_ports: no name is svc-d's alone, so a local path
    assert (pair['relation'], pair['fix'], pair['seen_by'], pair['connections']) == ('routed', 'local_shortcut', ['client_socket'], 7)
    pair = by_id(build_plan(facts, name_ports=LAB_NAME_PORTS))['svc-d->198.51.100.1:80/tcp']
    assert (pair['relation'], pair['fix']) == ('routed', 'split_dns')
    assert 'routable' in pair['reason']
    pair = by_id(build_plan(facts, networks=['192.168.0.0/16']))['svc-d->198.51.100.1:80/tcp']
    assert pair['relation'] == 'same_network'
    pair = by_id(build_plan(facts, ipv4_prefix=16))['svc-d->198.51.100.1:80/tcp']
    assert pair['relation'] == 'same_network'
    # the most specific entry decides: 192.168.1.0/24 holds the backend, not the client
    pair = by_id(build_plan(facts, networks=['192.168.0.0/16', '192.168.1.0/24']))['svc-d->198.51.100.1:80/tcp']
    assert pair['relation'] == 'routed'


def test_same_host_hairpin_through_gateway():
    """svc-b calling its own public address: the gateway sees svc-b -> public -> svc-b."""
    facts = lab_facts()
    facts['gw']['hairpin_flows']['pairs'].append(
        {'client_ip': '192.168.1.20', 'proto': 'tcp', 'public_ip': '198.51.100.1', 'public_port': 80,
         'backend_ip': '192.168.1.20', 'backend_port': 80, 'snat': True, 'connections': 9})
    pair = by_id(build_plan(facts))['svc-b->198.51.100.1:80/tcp']
    assert (pair['relation'], pair['fix'], pair['connections'], pair['status']) == ('same_host', 'local_shortcut', 9, 'active')
    assert pair['backend']['host'] == 'svc-b'
    assert pair['recommendation'] == {
        'mode': 'automatic', 'role': 'keeplocal.traffic.local_shortcut', 'host': 'svc-b',
        'input': {'local_shortcut_rules': [{'public_ip': '198.51.100.1', 'public_port': 80, 'proto': 'tcp',
                                            'private_ip': '192.168.1.20', 'private_port': 80,
                                            'comment': 'svc-b->198.51.100.1:80/tcp'}]},
        'change': 'on svc-b, send 198.51.100.1:80/tcp straight to 192.168.1.20:80 (a local DNAT, no gateway)'}


def test_dns_only_sightings_yield_pairs_with_zero_connections():
    facts = lab_facts()
    answers = [{'name': 'db.example.test', 'addresses': ['198.51.100.1'], 'public_match': True, 'private': False}]
    facts['svc-c']['dns_answers'] = {'resolvers': ['198.51.100.53'], 'answers': answers}
    facts = add_host(facts, 'svc-d', ['192.168.2.40'], dns_answers={
        'resolvers': ['198.51.100.53'],
        'answers': [{'name': 'app.example.test.', 'addresses': ['198.51.100.1'], 'public_match': True, 'private': False}]})
    plan = build_plan(facts, name_ports=LAB_NAME_PORTS)
    pairs = by_id(plan)
    own = pairs['svc-c->198.51.100.1:5432/tcp']
    assert (own['seen_by'], own['connections'], own['relation'], own['fix']) == (['dns_answer'], 0, 'same_host', 'local_shortcut')
    assert own['public']['names'] == ['db.example.test']
    # latent: nothing is changed for it, a person gets the concrete change
    assert own['status'] == 'latent'
    assert own['recommendation']['mode'] == 'manual'
    assert own['recommendation']['change'] == (
        'svc-c resolves db.example.test to 198.51.100.1 but sent no traffic there yet, so nothing is changed for it; '
        'when it does: on svc-c, send 198.51.100.1:5432/tcp straight to 192.168.1.30:54321 (a local DNAT, no gateway)')
    acted = by_id(build_plan(facts, name_ports=LAB_NAME_PORTS, act_on_latent=True))['svc-c->198.51.100.1:5432/tcp']
    assert (acted['status'], acted['recommendation']['mode'], acted['recommendation']['host']) == ('latent', 'automatic', 'svc-c')
    routed = pairs['svc-d->198.51.100.1:80/tcp']
    assert (routed['seen_by'], routed['connections'], routed['relation'], routed['fix']) == (['dns_answer'], 0, 'routed', 'split_dns')
    assert routed['client']['ip'] == '192.168.2.40'
    assert routed['public']['names'] == ['app.example.test']
    # name_ports keeps svc-d's app lookup off the :5432 forward
    assert 'svc-d->198.51.100.1:5432/tcp' not in pairs
    assert plan['summary']['hairpin_connections'] == 5


def test_outside_clients_are_not_hairpins():
    facts = lab_facts()
    plan = build_plan(facts, internal_cidrs=['192.168.1.0/24', '198.51.100.0/24'])
    # with the "public" range declared internal, ext becomes a hairpin client
    assert 'ext->198.51.100.1:80/tcp' in by_id(plan)
    assert 'ext->198.51.100.1:80/tcp' not in by_id(build_plan(facts))


# --- no gateway, cloud NAT, IPv6 --------------------------------------------------------------------

def test_no_gateway_facts_client_sockets_and_dns_only():
    facts = lab_facts()
    del facts['gw']
    # No forward map: a connection to a public address is only a pair when the address is listed.
    unlisted = build_plan(facts)
    assert not any('client_socket' in pair['seen_by'] for pair in unlisted['pairs'])
    plan = build_plan(facts, public_addresses=['198.51.100.1'])
    pairs = by_id(plan)
    # Listed: every connection to it is a pair with an unknown backend
    assert sorted(pairs) == ['svc-a->198.51.100.1:22/tcp', 'svc-a->198.51.100.1:5432/tcp', PAIR_80]
    pair = pairs[PAIR_80]
    assert pair['backend'] == {'host': None, 'ip': None, 'port': None}
    assert (pair['gateway'], pair['relation'], pair['port_translated'], pair['fix']) == (None, None, None, None)
    assert pair['seen_by'] == ['client_socket', 'dns_answer']
    assert pair['public']['names'] == ['app.example.test', 'db.example.test']
    assert 'forwards=' in pair['reason']
    assert plan['gateways'] == [g for g in plan['gateways'] if not g['is_gateway']]
    assert plan['summary']['unplanned_pairs'] == 3
    assert plan['summary']['by_fix']['unix_socket'] == 1  # svc-b's nginx -> gunicorn still counts


def test_cloud_nat_forward_map_given_by_hand():
    facts = lab_facts()
    del facts['gw']
    forwards = [
        {'gateway': 'cloud-nat', 'proto': 'tcp', 'public_ip': '198.51.100.1', 'public_port': 80,
         'private_ip': '192.168.1.20', 'private_port': 80},
        {'gateway': 'cloud-nat', 'proto': 'tcp', 'public_ip': '198.51.100.1', 'public_port': 5432,
         'private_ip': '192.168.1.30', 'private_port': 54321},
    ]
    plan = build_plan(facts, forwards=forwards, name_ports=LAB_NAME_PORTS)
    pairs = by_id(plan)
    assert sorted(pairs) == [PAIR_5432, PAIR_80]  # :22 is not forwarded by the given map
    assert (pairs[PAIR_80]['fix'], pairs[PAIR_80]['gateway'], pairs[PAIR_80]['connections']) == ('split_dns', 'cloud-nat', 2)
    assert pairs[PAIR_80]['seen_by'] == ['client_socket', 'dns_answer']
    assert (pairs[PAIR_5432]['fix'], pairs[PAIR_5432]['backend']['port']) == ('local_shortcut', 54321)


def test_real_nat_rules_shapes():
    """nat_rules_info gives proto null, networks, no port (all ports), ranges and a null private port."""
    facts = lab_facts()
    facts['gw']['nat_rules']['forwards'] = [
        {'proto': None, 'public_ip': '198.51.100.1/32', 'public_port': 80, 'public_port_end': 80,
         'private_ip': '192.168.1.20', 'private_port': 80, 'port_translated': False},
        {'proto': 'tcp', 'public_ip': '198.51.100.0/28', 'public_port': 5400, 'public_port_end': 5500,
         'private_ip': '192.168.1.30', 'private_port': None, 'port_translated': False},
    ]
    facts['gw']['hairpin_flows'].update(pairs=[], flows=[], hairpin_entries=0)
    facts['svc-a']['outbound_flows']['to_public'] = [
        {'remote_ip': '198.51.100.1', 'remote_port': 80, 'connections': 1, 'process': 'curl'},
        {'remote_ip': '198.51.100.2', 'remote_port': 5432, 'connections': 2, 'process': 'psql'},
        {'remote_ip': '198.51.100.2', 'remote_port': 6000, 'connections': 1, 'process': 'nc'},
        {'remote_ip': '198.51.100.20', 'remote_port': 5432, 'connections': 1, 'process': 'nc'},
    ]
    assert 'svc-a->198.51.100.20:5432/tcp' not in by_id(build_plan(facts))  # no forward, not listed: the internet
    plan = build_plan(facts, public_addresses=['198.51.100.20'])
    pairs = by_id(plan)
    # .2:6000 is outside the forwarded range of a covered address: not a hairpin;
    # .20 is outside the /28 but listed as public: no forward map covers it, so the backend is unknown
    assert set(pairs) == {'svc-a->198.51.100.1:80/tcp', 'svc-a->198.51.100.2:5432/tcp', 'svc-a->198.51.100.20:5432/tcp'}
    assert pairs['svc-a->198.51.100.20:5432/tcp']['fix'] is None
    assert pairs['svc-a->198.51.100.2:5432/tcp']['backend'] == {'host': 'svc-c', 'ip': '192.168.1.30', 'port': 5432}
    # no name answers with 198.51.100.2: the client dials the address, so the fix is a local path
    assert pairs['svc-a->198.51.100.2:5432/tcp']['fix'] == 'local_shortcut'
    assert names_by_name(plan)['app.example.test']['forwards'] == [
        '198.51.100.1:80/any -> 192.168.1.20:80', '198.51.100.1:5400-5500/tcp -> 192.168.1.30']


def test_ipv6_pairs():
    facts = {
        'gw6': {'host': 'gw6', 'addresses': ['fd00:1::1', '2001:db8::1'],
                'nat_rules': {'source': 'nft', 'snat_rules': [], 'forwards': [
                    {'proto': 'tcp', 'public_ip': '2001:db8::1', 'public_port': 443, 'private_ip': 'fd00:1::20', 'private_port': 443}]},
                'hairpin_flows': {'source': 'proc', 'total_entries': 10, 'hairpin_entries': 2, 'flows': [], 'pairs': [
                    {'client_ip': 'fd00:1::10', 'proto': 'tcp', 'public_ip': '2001:db8::1', 'public_port': 443,
                     'backend_ip': 'fd00:1::20', 'backend_port': 443, 'snat': True, 'connections': 2}]}},
        'web6': {'host': 'web6', 'addresses': ['fd00:1::20']},
        'cli6': {'host': 'cli6', 'addresses': ['fd00:1::10', '192.168.1.10'],
                 'outbound_flows': {'local_addresses': ['fd00:1::10'], 'listeners': [], 'same_host': [], 'to_public': [
                     {'remote_ip': '2001:db8::1', 'remote_port': 443, 'connections': 1, 'process': 'curl'}]},
                 'dns_answers': {'resolvers': ['fd00:1::53'], 'answers': [
                     {'name': 'www.example.test', 'addresses': ['2001:db8::1'], 'public_match': True, 'private': False}]}},
    }
    plan = build_plan(facts)
    pair = by_id(plan)['cli6->[2001:db8::1]:443/tcp']
    assert pair['client'] == {'host': 'cli6', 'ip': 'fd00:1::10', 'process': 'curl'}
    assert pair['backend'] == {'host': 'web6', 'ip': 'fd00:1::20', 'port': 443}
    assert (pair['relation'], pair['fix'], pair['seen_by']) == ('same_network', 'split_dns', ALL_SOURCES)
    assert 'fd00:1::/64' in pair['reason']
    assert pair['public']['names'] == ['www.example.test']
    assert names_by_name(plan)['www.example.test']['private_answers'] == ['fd00:1::20']


def test_ipv4_mapped_peers_fold_to_ipv4():
    facts = lab_facts()
    facts['svc-a']['outbound_flows']['to_public'] = [
        {'remote_ip': '::ffff:198.51.100.1', 'remote_port': 80, 'connections': 6, 'process': 'java'}]
    pair = by_id(build_plan(facts))[PAIR_80]
    assert pair['connections'] == 6
    assert pair['client']['process'] == 'java'


# --- health, missing data, empty input --------------------------------------------------------------

@pytest.mark.parametrize('change, threshold, expect', [
    ({'count': 200000, 'usage': 200000 / 262144.0}, None, 'table 76% full'),
    ({'count': 150000, 'usage': 150000 / 262144.0}, 0.5, 'table 57% full'),
    ({'stats': {'drop': 12, 'insert_failed': 0, 'early_drop': 0}}, None, 'drop 12'),
    ({'stats': {'drop': 0, 'insert_failed': 3, 'early_drop': 1}}, None, 'insert_failed 3, early_drop 1'),
])
def test_gateway_at_risk(change, threshold, expect):
    facts = lab_facts()
    facts['gw']['conntrack'].update(change)
    plan = build_plan(facts, usage_threshold=threshold)
    gw = plan['gateways'][0]
    assert gw['host'] == 'gw'
    assert gw['fix'] == 'conntrack_headroom'
    assert expect in gw['reason']
    assert 'read-only in this network namespace' in gw['reason']
    assert plan['summary']['gateways_at_risk'] == 1
    assert plan['summary']['by_fix']['conntrack_headroom'] == 1


def test_gateway_accounting_is_carried_and_said_where_hairpins_cannot_be_counted():
    facts = lab_facts()
    facts['gw']['conntrack']['accounting'] = False
    facts['svc-a']['conntrack']['accounting'] = False
    plan = build_plan(facts)
    assert plan['version'] == 2
    gateways = {gw['host']: gw for gw in plan['gateways']}
    assert gateways['gw']['accounting'] is False
    assert gateways['gw']['reason'].endswith(
        'hairpin flows hold 5 entries (8.8% of the table); conntrack accounting is off (nf_conntrack_acct=0), so the bytes of '
        'these hairpins cannot be counted here: conntrack_tuning_accounting: true turns it on')
    # no hairpin through svc-a: accounting is carried, not a finding
    assert gateways['svc-a']['accounting'] is False
    assert 'accounting' not in gateways['svc-a']['reason']


@pytest.mark.parametrize('value, expect', [(True, True), (None, None), ('off', None)])
def test_gateway_accounting_on_or_unknown_is_not_said(value, expect):
    facts = lab_facts()
    facts['gw']['conntrack']['accounting'] = value
    gw = build_plan(facts)['gateways'][0]
    assert gw['accounting'] is expect
    assert 'accounting' not in gw['reason']


def test_facts_without_accounting_plan_as_before():
    facts = lab_facts()
    facts['gw']['conntrack'].pop('accounting', None)
    assert build_plan(facts)['gateways'][0]['accounting'] is None


def test_headroom_recommendation_leaves_accounting_to_a_person():
    """The headroom fix sizes the table; accounting is a measurement choice with a cost per entry, so
    the plan says it in the reason and the report, not in the role input."""
    facts = lab_facts()
    facts['gw']['conntrack'].update({'count': 200000, 'usage': 200000 / 262144.0, 'accounting': False, 'writable': True})
    gw = build_plan(facts)['gateways'][0]
    assert gw['fix'] == 'conntrack_headroom'
    assert gw['recommendation']['mode'] == 'automatic' and gw['recommendation']['input'] == {}
    assert 'conntrack_tuning_accounting: true' in gw['reason']


def test_below_threshold_is_healthy():
    facts = lab_facts()
    facts['gw']['conntrack'].update({'count': 150000, 'usage': 150000 / 262144.0})
    assert build_plan(facts)['gateways'][0]['fix'] is None


def test_not_observed_sources():
    facts = lab_facts()
    facts['svc-c'] = None
    facts['svc-a']['conntrack'] = {'available': False, 'message': 'nf_conntrack is not loaded: modprobe nf_conntrack'}
    facts['gw']['hairpin_flows'] = {'failed': True, 'msg': 'permission denied reading /proc/net/nf_conntrack: run with become'}
    plan = build_plan(facts, name_ports=LAB_NAME_PORTS)
    assert plan['not_observed'] == [
        {'host': 'gw', 'source': 'hairpin_flows', 'reason': 'permission denied reading /proc/net/nf_conntrack: run with become'},
        {'host': 'svc-a', 'source': 'conntrack', 'reason': 'nf_conntrack is not loaded: modprobe nf_conntrack'},
        {'host': 'svc-c', 'source': 'all', 'reason': 'no hairpin_detect_facts facts: host unreachable or detection skipped'},
    ]
    # the rest still plans: svc-a's sockets and the forward map still find both pairs
    pairs = by_id(plan)
    assert pairs[PAIR_80]['seen_by'] == ['client_socket', 'dns_answer']
    assert pairs[PAIR_5432]['fix'] == 'local_shortcut'
    assert pairs[PAIR_5432]['backend']['host'] is None  # svc-c gave no addresses
    gateways = {gw['host']: gw for gw in plan['gateways']}
    assert gateways['svc-a']['available'] is False
    assert gateways['svc-a']['reason'].startswith('conntrack not observed')
    assert gateways['gw']['hairpin_entries'] is None


@pytest.mark.parametrize('facts', [None, {}, [], {'lonely': {}}])
def test_empty_facts(facts):
    plan = build_plan(facts)
    assert (plan['pairs'], plan['names'], plan['same_host'], plan['gateways']) == ([], [], [], [])
    assert plan['summary']['pairs'] == 0
    assert plan['summary']['by_fix'] == {kind: 0 for kind in FIX_KINDS}


# --- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize('kwargs, message', [
    ({'facts': 'gw'}, 'expects a dict {host: hairpin_detect_facts}'),
    ({'facts': {'gw': ['not', 'a', 'dict']}}, 'facts for host gw are a list'),
    ({'facts': [{'addresses': []}]}, 'has no "host"'),
    ({'facts': [42]}, 'facts list item 0 is a int'),
    ({'internal_cidrs': ['192.168.1.0/33']}, "internal_cidrs: '192.168.1.0/33' is not a network"),
    ({'internal_cidrs': 12}, 'internal_cidrs must be a list'),
    ({'networks': ['lan']}, "networks: 'lan' is not a network"),
    ({'usage_threshold': 70}, 'usage_threshold must be a number in (0, 1]'),
    ({'usage_threshold': 'high'}, 'usage_threshold must be a number in (0, 1]'),
    ({'ipv4_prefix': 40}, 'ipv4_prefix must be an integer prefix length 0-32'),
    ({'name_ports': ['app.example.test']}, 'name_ports must be a dict'),
    ({'name_ports': {'app.example.test': 'http'}}, "name_ports[app.example.test]: 'http' is not a port"),
    ({'forwards': {'public_ip': '203.0.113.7'}}, 'forwards must be a list'),
    ({'forwards': [{'public_ip': '203.0.113.7', 'public_port': 443}]}, 'forwards[0] needs public_ip, public_port and private_ip'),
    ({'public_addresses': '198.51.100.1'}, 'public_addresses must be a list of IP addresses'),
    ({'public_addresses': ['198.51.100.1:80']}, "public_addresses: '198.51.100.1:80' is not an IP address"),
])
def test_bad_input_names_the_problem(kwargs, message):
    kwargs = dict(kwargs)
    facts = kwargs.pop('facts', lab_facts())
    with pytest.raises(PlanError) as exc:
        build_plan(facts, **kwargs)
    assert message in str(exc.value)


def test_garbage_entries_are_skipped():
    facts = lab_facts()
    facts['gw']['hairpin_flows']['pairs'].append({'client_ip': 'garbage', 'public_ip': '198.51.100.1', 'public_port': 80})
    facts['gw']['hairpin_flows']['pairs'].append('not a dict')
    facts['svc-a']['outbound_flows']['to_public'].append({'remote_ip': '198.51.100.1', 'remote_port': None})
    facts['svc-a']['dns_answers']['answers'].append({'name': '', 'addresses': ['198.51.100.1']})
    facts['svc-b']['outbound_flows']['same_host'].append({'remote_ip': 'nope', 'remote_port': 1})
    assert build_plan(facts, name_ports=LAB_NAME_PORTS) == build_plan(lab_facts(), name_ports=LAB_NAME_PORTS)


def test_normalize_facts_keeps_empty_hosts():
    assert normalize_facts({'a': {}, 'b': None, 'c': {'hairpin_detect_facts': None}}) == {'a': None, 'b': None, 'c': None}


@pytest.mark.parametrize('client, listener, expected', [
    # the lab: nginx in front of gunicorn, switched by the unix_sockets role
    ('nginx', 'gunicorn', ('automatic', 'keeplocal.traffic.unix_sockets')),
    # a client socket in TIME_WAIT has no owner; the role checks nginx's configuration itself
    (None, 'gunicorn', ('automatic', 'keeplocal.traffic.unix_sockets')),
    # uWSGI and uvicorn behind nginx are switched too
    ('nginx', 'uwsgi', ('automatic', 'keeplocal.traffic.unix_sockets')),
    ('nginx', 'uvicorn', ('automatic', 'keeplocal.traffic.unix_sockets')),
    # an app server the role does not switch: a person does it
    ('nginx', 'waitress', ('manual', None)),
    # a client that is not a local proxy: its own configuration must change
    ('python3', 'gunicorn', ('manual', None)),
    # a front end's own listener is no finding at all
    (None, 'nginx', None),
    ('curl', None, None),
])
def test_same_host_recommendations(client, listener, expected):
    facts = lab_facts()
    facts['svc-b']['outbound_flows']['same_host'] = [
        {'remote_ip': '127.0.0.1', 'remote_port': 8000, 'connections': 2, 'client_process': client, 'listener_process': listener}]
    same_host = build_plan(facts)['same_host']
    if expected is None:
        assert same_host == []
        return
    (entry,) = same_host
    rec = entry['recommendation']
    assert (rec['mode'], rec['role']) == expected
    if rec['mode'] == 'automatic':
        assert (rec['host'], rec['input']) == ('svc-b', {'unix_sockets_pairs': [{'address': '127.0.0.1:8000'}]})
    else:
        assert rec['input'] is None and '127.0.0.1:8000' in rec['change']
