# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""NAT rule parsing on rule sets saved by the real tools (fixtures/capture.sh): iptables-save and
ip6tables-save 1.8.9 (nf_tables), nft 1.0.6 -j for native rules and for iptables-nft rules."""

from __future__ import annotations

import json
import os
import re

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils._nat_rules import (
    LEGACY_TABLES_PRESENT,
    merge,
    parse_iptables_save,
    parse_nft_json,
    saved_by_iptables_nft,
)

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


def brief(forward):
    return (forward['proto'], forward['public_ip'], forward['public_port'], forward['public_port_end'],
            forward['private_ip'], forward['private_port'], forward['port_translated'], forward['in_interface'])


def test_iptables_forwards():
    result = parse_iptables_save(fixture('iptables-save-nat.txt'))
    assert [brief(f) for f in result['forwards']] == [
        ('tcp', '198.51.100.1', 80, None, '192.168.77.20', 80, False, None),
        ('tcp', '198.51.100.1', 5432, None, '192.168.77.30', 54321, True, None),
        ('udp', None, 5000, 5010, '192.168.77.30', 6000, True, 'pub0'),
        # reached through "-m addrtype --dst-type LOCAL -j FORWARDS": any local address
        ('tcp', None, 2222, None, '192.168.77.20', 22, True, '!int0'),
    ]
    assert result['forwards'][0]['rule'] == (
        '-A PREROUTING -d 198.51.100.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.168.77.20:80')
    assert result['unparsed'] == []


def test_iptables_snat_rules():
    result = parse_iptables_save(fixture('iptables-save-nat.txt'))
    assert result['snat_rules'] == [
        {'source': '192.168.77.0/24', 'destination': '192.168.77.20/32', 'out_interface': None, 'ctstate_dnat': True,
         'target': 'SNAT', 'to_source': '192.168.77.1',
         'rule': '-A POSTROUTING -s 192.168.77.0/24 -d 192.168.77.20/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT '
                 '-j SNAT --to-source 192.168.77.1'},
        {'source': '192.168.77.0/24', 'destination': '192.168.77.30/32', 'out_interface': None, 'ctstate_dnat': True,
         'target': 'MASQUERADE', 'to_source': None,
         'rule': '-A POSTROUTING -s 192.168.77.0/24 -d 192.168.77.30/32 -m conntrack --ctstate DNAT -j MASQUERADE'},
        {'source': None, 'destination': None, 'out_interface': 'pub0', 'ctstate_dnat': False,
         'target': 'MASQUERADE', 'to_source': None, 'rule': '-A POSTROUTING -o pub0 -j MASQUERADE'},
    ]


def test_ip6tables():
    result = parse_iptables_save(fixture('ip6tables-save-nat.txt'))
    assert [brief(f) for f in result['forwards']] == [('tcp', '2001:db8:77::1', 80, None, 'fd77::20', 80, False, None)]
    assert result['snat_rules'][0]['source'] == 'fd77::/64'
    assert result['snat_rules'][0]['destination'] == 'fd77::20/128'


def test_docker_style_chains():
    result = parse_iptables_save(fixture('iptables-save-docker-style.txt'))
    assert [brief(f) for f in result['forwards']] == [
        ('tcp', None, 8080, None, '172.17.0.2', 80, True, '!docker0'),
        # multiport: one forward per port or range; no port in --to-destination keeps the port
        ('tcp', '203.0.113.7', 443, None, '172.17.0.3', 443, False, '!docker0'),
        ('tcp', '203.0.113.7', 8443, 8445, '172.17.0.3', 8443, False, '!docker0'),
    ]
    snat = {r['rule']: r for r in result['snat_rules']}
    # the WAN_SNAT chain is reached by "-o wan0 -j WAN_SNAT": it inherits the output interface
    assert snat['-A WAN_SNAT -s 172.17.0.0/16 -j SNAT --to-source 203.0.113.7']['out_interface'] == 'wan0'
    assert snat['-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE']['out_interface'] == '!docker0'


def test_iptables_only_reads_the_nat_table():
    text = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DNAT --to-destination 10.0.0.1\nCOMMIT\n' + fixture('iptables-save-nat.txt')
    assert len(parse_iptables_save(text)['forwards']) == 4


@pytest.mark.parametrize('garbage', [
    '-A PREROUTING -p tcp --dport 80 -m comment --comment "unterminated -j DNAT --to-destination 10.0.0.1',
    '-A PREROUTING -p tcp --dport eighty -j DNAT --to-destination 10.0.0.1',
    '-A',
])
def test_iptables_garbage_is_reported(garbage):
    result = parse_iptables_save(fixture('iptables-save-nat.txt') + '\n' + garbage + '\n')
    assert result['unparsed'] == [garbage]
    assert len(result['forwards']) == 4


def test_iptables_empty():
    assert parse_iptables_save('') == {'forwards': [], 'snat_rules': [], 'unparsed': []}


def test_nft_forwards():
    result = parse_nft_json(fixture('nft-ruleset.json'))
    assert [brief(f) for f in result['forwards']] == [
        # table inet nat6
        ('tcp', '2001:db8:77::1', 80, None, 'fd77::20', 80, False, None),
        ('tcp', '198.51.100.2', 443, None, '192.168.77.20', 443, False, None),
        # table ip nat
        ('tcp', '198.51.100.1', 80, None, '192.168.77.20', 80, False, None),
        ('tcp', '198.51.100.1', 5432, None, '192.168.77.30', 54321, True, None),
        ('udp', None, 5000, 5010, '192.168.77.30', 6000, True, 'pub0'),
        # an anonymous set of ports gives one forward per port
        ('tcp', '198.51.100.1', 2222, None, '192.168.77.20', 22, True, '!int0'),
        ('tcp', '198.51.100.1', 2223, None, '192.168.77.20', 22, True, '!int0'),
        ('tcp', None, 8443, None, '192.168.77.20', 8443, False, 'pub0'),
    ]
    assert result['unparsed'] == []


def test_nft_rule_text_is_what_nft_prints():
    listing = re.sub(r'counter packets \d+ bytes \d+ ', '', fixture('nft-ruleset.nft'))
    listed = set(line.strip() for line in listing.splitlines())
    result = parse_nft_json(fixture('nft-ruleset.json'))
    for item in result['forwards'] + result['snat_rules']:
        assert item['rule'] in listed


def test_nft_snat_and_hairpin():
    result = parse_nft_json(fixture('nft-ruleset.json'))
    assert [(r['source'], r['destination'], r['out_interface'], r['ctstate_dnat'], r['target'], r['to_source'])
            for r in result['snat_rules']] == [
        ('fd77::/64', None, None, True, 'MASQUERADE', None),
        ('192.168.77.0/24', '192.168.77.20/32', None, True, 'SNAT', '192.168.77.1'),
        (None, None, 'pub0', False, 'MASQUERADE', None),
    ]


def test_nft_masquerade_on_wan_only():
    data = json.loads(fixture('nft-ruleset.json'))
    data['nftables'] = [
        item for item in data['nftables']
        if not ('rule' in item and item['rule']['chain'] == 'postrouting'
                and any('snat' in e or ('masquerade' in e and 'oifname' not in json.dumps(item)) for e in item['rule']['expr']))
    ]
    result = parse_nft_json(data)
    assert [r['out_interface'] for r in result['snat_rules']] == ['pub0']


def test_nft_reading_iptables_nft_rules():
    # iptables-nft stores its targets as opaque xt expressions: nothing is guessed, all is reported.
    result = parse_nft_json(fixture('nft-iptables-nft.json'))
    assert result['forwards'] == [] and result['snat_rules'] == []
    assert 'ip nat PREROUTING: ip daddr 198.51.100.1 tcp dport 80 xt target DNAT' in result['unparsed']
    assert len(result['unparsed']) == 10
    # non-NAT tables (raw CT, mangle CONNMARK) are not NAT rules and are not reported
    assert not any('raw' in text or 'mangle' in text for text in result['unparsed'])


def test_nft_named_set_and_jump():
    # A rule set as nft -j prints it (structure of the captured file), with a named set of public
    # addresses and a jump to a regular chain that inherits the jump's interface.
    data = {'nftables': [
        {'table': {'family': 'ip', 'name': 'fw', 'handle': 1}},
        {'set': {'family': 'ip', 'name': 'pub', 'table': 'fw', 'type': 'ipv4_addr', 'handle': 2,
                 'elem': ['198.51.100.1', '198.51.100.2']}},
        {'chain': {'family': 'ip', 'table': 'fw', 'name': 'pre', 'handle': 3, 'type': 'nat', 'hook': 'prerouting',
                   'prio': -100, 'policy': 'accept'}},
        {'chain': {'family': 'ip', 'table': 'fw', 'name': 'fwd', 'handle': 4}},
        {'rule': {'family': 'ip', 'table': 'fw', 'chain': 'pre', 'handle': 5, 'expr': [
            {'match': {'op': '==', 'left': {'meta': {'key': 'iifname'}}, 'right': 'wan'}},
            {'jump': {'target': 'fwd'}}]}},
        {'rule': {'family': 'ip', 'table': 'fw', 'chain': 'fwd', 'handle': 6, 'expr': [
            {'match': {'op': '==', 'left': {'payload': {'protocol': 'ip', 'field': 'daddr'}}, 'right': '@pub'}},
            {'match': {'op': '==', 'left': {'payload': {'protocol': 'tcp', 'field': 'dport'}}, 'right': 80}},
            {'dnat': {'addr': '10.0.0.20', 'port': 8080}}]}},
        {'rule': {'family': 'ip', 'table': 'fw', 'chain': 'fwd', 'handle': 7, 'expr': [
            {'dnat': {'addr': {'map': {'key': {'payload': {'protocol': 'tcp', 'field': 'dport'}}, 'data': '@ports'}}}}]}},
    ]}
    result = parse_nft_json(data)
    assert [brief(f) for f in result['forwards']] == [
        ('tcp', '198.51.100.1', 80, None, '10.0.0.20', 8080, True, 'wan'),
        ('tcp', '198.51.100.2', 80, None, '10.0.0.20', 8080, True, 'wan'),
    ]
    assert len(result['unparsed']) == 1 and 'dnat' in result['unparsed'][0]


@pytest.mark.parametrize('text', ['', '{}', '{"nftables": []}', '[]'])
def test_nft_empty(text):
    if text == '':
        with pytest.raises(ValueError):
            parse_nft_json(text)
    else:
        assert parse_nft_json(text)['forwards'] == []


def test_merge_ipv4_and_ipv6():
    merged = merge([parse_iptables_save(fixture('iptables-save-nat.txt')), parse_iptables_save(fixture('ip6tables-save-nat.txt'))])
    assert len(merged['forwards']) == 5 and len(merged['snat_rules']) == 4


# --- Gateways of tests/integration/targets/nft_gateway (captured with its runme.sh --capture) ---------
# nft-gateway-native: nftables only (verdict map, named sets, maps, a concatenated set, user chains);
# nft-gateway-mixed: a hand-written `table ip nat` with iptables-nft chains in it, iptables-legacy beside.

def test_nft_native_gateway_forwards():
    result = parse_nft_json(fixture('nft-gateway-native.json'))
    assert [brief(f) for f in result['forwards']] == [
        # the verdict map of prerouting (and the output hook) jump to port_forwards for 198.18.81.1 ...
        ('tcp', '198.18.81.1', 80, None, '10.81.0.20', 80, False, None),
        # ... where an address.port map forwards :5432
        ('tcp', '198.18.81.1', 5432, None, '10.81.0.30', 15432, True, None),
        # the output hook (walked first: same priority, name order) jumps there for each address
        # of the named set public4; the map's own key keeps :5432 on 198.18.81.1
        ('tcp', '198.18.81.2', 80, None, '10.81.0.20', 80, False, None),
        # and goes to more_forwards for 198.18.81.2: a map on the port gives the address only ...
        ('tcp', '198.18.81.2', 8080, None, '10.81.0.20', 8080, False, None),
        # ... or, with a second map, the port too
        ('tcp', '198.18.81.2', 8081, None, '10.81.0.20', 18081, True, None),
        # a concatenated set match: one forward per element
        ('tcp', '198.18.81.2', 2222, None, '10.81.0.30', 22, True, None),
        ('tcp', '198.18.81.2', 2223, None, '10.81.0.30', 22, True, None),
        # a named set of ports, one element with a comment
        ('tcp', '198.18.81.2', 9000, None, '10.81.0.30', 9000, False, None),
        ('tcp', '198.18.81.2', 9001, None, '10.81.0.30', 9001, False, None),
    ]
    assert result['unparsed'] == []
    assert [(r['source'], r['destination'], r['out_interface'], r['ctstate_dnat'], r['target']) for r in result['snat_rules']] == [
        ('10.81.0.0/24', '10.81.0.0/24', None, True, 'MASQUERADE'),
        (None, None, 'pub0', False, 'MASQUERADE'),
    ]


@pytest.mark.parametrize('name', ['nft-gateway-native', 'nft-gateway-mixed'])
def test_nft_gateway_rule_text_is_what_nft_prints(name):
    listing = re.sub(r'counter packets \d+ bytes \d+ ', '', fixture(name + '.nft'))
    listed = set(line.strip() for line in listing.splitlines())
    result = parse_nft_json(fixture(name + '.json'))
    for item in result['forwards'] + result['snat_rules']:
        assert item['rule'] in listed


def test_nft_mixed_gateway_native_rules():
    # The named map's forward is native nft; iptables-nft's rules in the same table carry opaque
    # targets: reported unless iptables-save (nf_tables) read them.
    result = parse_nft_json(fixture('nft-gateway-mixed.json'))
    assert [brief(f) for f in result['forwards']] == [('tcp', '198.18.82.1', 5432, None, '10.82.0.30', 15432, True, None)]
    assert result['forwards'][0]['rule'] == 'dnat ip to ip daddr . tcp dport map @forwards'
    assert result['unparsed'] == ['ip nat PREROUTING: ip daddr 198.18.82.1 tcp dport 80 xt target DNAT',
                                  'ip nat POSTROUTING: ip saddr 10.82.0.0/24 ip daddr 10.82.0.20 xt match conntrack xt target SNAT']
    assert parse_nft_json(fixture('nft-gateway-mixed.json'), iptables_nft_read=True)['unparsed'] == []


def test_mixed_gateway_every_source_together():
    nft_save = fixture('iptables-nft-save-gateway-mixed.txt')
    legacy_save = fixture('iptables-legacy-save-gateway-mixed.txt')
    assert saved_by_iptables_nft(nft_save) and not saved_by_iptables_nft(legacy_save)
    assert LEGACY_TABLES_PRESENT in fixture('iptables-nft-save-gateway-mixed.stderr')
    merged = merge([parse_iptables_save(nft_save), parse_iptables_save(legacy_save),
                    parse_nft_json(fixture('nft-gateway-mixed.json'), iptables_nft_read=True)])
    assert sorted(brief(f) for f in merged['forwards']) == [
        ('tcp', '198.18.82.1', 80, None, '10.82.0.20', 80, False, None),        # iptables-nft
        ('tcp', '198.18.82.1', 5432, None, '10.82.0.30', 15432, True, None),    # nft map
        ('tcp', '198.18.82.1', 8080, None, '10.82.0.20', 80, True, None),       # iptables-legacy
    ]
    assert [r['destination'] for r in merged['snat_rules']] == ['10.82.0.20/32', '10.82.0.30/32']
    assert merged['unparsed'] == []


def native_gateway_with(chain, expr, where='more_forwards'):
    """The captured native gateway with one rule (``expr``) added to ``chain`` of table inet edge."""
    data = json.loads(fixture('nft-gateway-native.json'))
    data['nftables'].append({'rule': {'family': 'inet', 'table': 'edge', 'chain': chain or where, 'handle': 99, 'expr': expr}})
    return data


DNAT_DB = {'dnat': {'family': 'ip', 'addr': '10.81.0.30'}}


@pytest.mark.parametrize('expr', [
    # an address range: not one address or network, so not guessed
    [{'match': {'op': '==', 'left': {'payload': {'protocol': 'ip', 'field': 'daddr'}},
                'right': {'range': ['198.18.81.4', '198.18.81.9']}}}, DNAT_DB],
    # a map whose data is a named map that does not exist
    [{'dnat': {'family': 'ip', 'addr': {'map': {'key': {'payload': {'protocol': 'tcp', 'field': 'dport'}}, 'data': '@nowhere'}}}}],
    # a map keyed on something a forward cannot say (the packet mark)
    [{'dnat': {'family': 'ip', 'addr': {'map': {'key': {'meta': {'key': 'mark'}}, 'data': {'set': [[1, '10.81.0.30']]}}}}}],
    # a comparison other than equality on a port
    [{'match': {'op': '>=', 'left': {'payload': {'protocol': 'tcp', 'field': 'dport'}}, 'right': 1024}}, DNAT_DB],
])
def test_nft_undecodable_forward_is_reported_not_dropped(expr):
    result = parse_nft_json(native_gateway_with('more_forwards', expr))
    assert len(result['forwards']) == 9
    assert len(result['unparsed']) == 1 and result['unparsed'][0].startswith('inet edge more_forwards: ')


@pytest.mark.parametrize('chain, expr', [
    # no NAT statement and no jump: it cannot hide a forward
    ('more_forwards', [{'match': {'op': '>=', 'left': {'payload': {'protocol': 'tcp', 'field': 'dport'}}, 'right': 1024}},
                       {'accept': None}]),
    # no NAT hook reaches this chain
    ('unhooked', [{'dnat': {'family': 'ip', 'addr': {'map': {'key': {'meta': {'key': 'mark'}}, 'data': {'set': [[1, '10.81.0.30']]}}}}}]),
])
def test_nft_undecodable_rule_that_cannot_hide_a_forward_is_not_reported(chain, expr):
    result = parse_nft_json(native_gateway_with(chain, expr))
    assert len(result['forwards']) == 9 and result['unparsed'] == []


def test_nft_empty_named_set_matches_nothing():
    data = json.loads(fixture('nft-gateway-native.json'))
    for item in data['nftables']:
        if item.get('set', {}).get('name') == 'admin_ports':
            item['set']['elem'] = []
    ports = [f['public_port'] for f in parse_nft_json(data)['forwards']]
    assert 9000 not in ports and None not in ports and len(ports) == 7


@pytest.mark.parametrize('to, private_ip, private_port', [
    ('192.168.77.20:8080', '192.168.77.20', 8080),
    ('192.168.77.20', '192.168.77.20', 80),
    ('192.168.77.20-192.168.77.22:8080-8090', '192.168.77.20', 8080),
    ('[fd77::20]:8080', 'fd77::20', 8080),
    ('[fd77::20]', 'fd77::20', 80),
    ('fd77::20', 'fd77::20', 80),
    ('[::ffff:192.168.77.20]:8080', '192.168.77.20', 8080),
])
def test_dnat_to_destination_forms(to, private_ip, private_port):
    text = '*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination %s\nCOMMIT\n' % to
    (forward,) = parse_iptables_save(text)['forwards']
    assert (forward['private_ip'], forward['private_port']) == (private_ip, private_port)
