# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Conntrack table parsing and hairpin classification, on tables captured from a 6.18 kernel
(fixtures/capture.sh: gw forwards 198.51.100.1:80 -> 192.168.77.20:80 and :5432 -> 192.168.77.30:54321
with hairpin SNAT to 192.168.77.1, the same over IPv6, plus outside, DNS, ICMP and zone-7 traffic)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import InternalNetworks
from ansible_collections.keeplocal.traffic.plugins.module_utils import _conntrack_table
from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_table import (
    HairpinScanner,
    count_probe_entries,
    find_hairpin_flows,
    parse_line,
)

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')

# Lines copied from the captured fixtures.
TCP_PROC = ('ipv4     2 tcp      6 115 TIME_WAIT src=192.168.77.10 dst=198.51.100.1 sport=52908 dport=80 src=192.168.77.20 '
            'dst=192.168.77.1 sport=80 dport=52908 [ASSURED] mark=0 zone=0 use=2')
TCP_PORT_TRANSLATED = ('ipv4     2 tcp      6 431996 ESTABLISHED src=192.168.77.10 dst=198.51.100.1 sport=39372 dport=5432 '
                       'src=192.168.77.30 dst=192.168.77.1 sport=54321 dport=39372 [ASSURED] mark=42 zone=0 use=2')
UDP_ZONE = ('ipv4     2 udp      17 26 src=198.51.100.53 dst=198.51.100.1 sport=46481 dport=5003 [UNREPLIED] src=192.168.77.30 '
            'dst=198.51.100.53 sport=6000 dport=46481 mark=0 zone=7 use=2')
UDP_DNS = ('ipv4     2 udp      17 27 src=192.168.77.10 dst=198.51.100.53 sport=59512 dport=53 [UNREPLIED] src=198.51.100.53 '
           'dst=198.51.100.1 sport=53 dport=59512 mark=0 zone=0 use=2')
ICMP = ('ipv4     2 icmp     1 26 src=192.168.77.10 dst=198.51.100.99 type=8 code=0 id=19276 [UNREPLIED] src=198.51.100.99 '
        'dst=198.51.100.1 type=0 code=0 id=19276 mark=0 zone=0 use=2')
TCP6_PROC = ('ipv6     10 tcp      6 115 TIME_WAIT src=fd77:0000:0000:0000:0000:0000:0000:0010 dst=2001:0db8:0077:0000:0000:0000:0000:0001 '
             'sport=33096 dport=80 src=fd77:0000:0000:0000:0000:0000:0000:0020 dst=fd77:0000:0000:0000:0000:0000:0000:0001 sport=80 '
             'dport=33096 [ASSURED] mark=0 zone=0 use=2')
TCP_PLAIN = ('tcp      6 431997 ESTABLISHED src=192.168.77.10 dst=198.51.100.1 sport=41078 dport=5432 src=192.168.77.30 '
             'dst=192.168.77.1 sport=54321 dport=41078 [ASSURED] mark=42 use=1')
TCP6_ACCT = ('ipv6     10 tcp      6 119 TIME_WAIT src=fd77::10 dst=2001:db8:77::1 sport=46436 dport=80 packets=5 bytes=448 '
             'src=fd77::20 dst=fd77::1 sport=80 dport=46436 packets=5 bytes=409 [ASSURED] mark=0 delta-time=1 use=1')

# Hairpin pairs the capture produces: 3 curls + 2 held connections to :80, 1 held to :5432, IPv6 1 curl + 1 held.
EXPECTED_PAIRS = [
    {'client_ip': '192.168.77.10', 'proto': 'tcp', 'public_ip': '198.51.100.1', 'public_port': 80,
     'backend_ip': '192.168.77.20', 'backend_port': 80, 'snat': True, 'connections': 5},
    {'client_ip': 'fd77::10', 'proto': 'tcp', 'public_ip': '2001:db8:77::1', 'public_port': 80,
     'backend_ip': 'fd77::20', 'backend_port': 80, 'snat': True, 'connections': 2},
    {'client_ip': '192.168.77.10', 'proto': 'tcp', 'public_ip': '198.51.100.1', 'public_port': 5432,
     'backend_ip': '192.168.77.30', 'backend_port': 54321, 'snat': True, 'connections': 1},
]


def lines(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read().splitlines(True)


def test_parse_tcp_line():
    entry = parse_line(TCP_PROC)
    assert entry == {
        'l3': 'ipv4', 'proto': 'tcp', 'protonum': 6, 'timeout': 115, 'state': 'TIME_WAIT',
        'orig': {'src': '192.168.77.10', 'dst': '198.51.100.1', 'sport': 52908, 'dport': 80},
        'reply': {'src': '192.168.77.20', 'dst': '192.168.77.1', 'sport': 80, 'dport': 52908},
        'flags': ['ASSURED'], 'mark': 0, 'zone': 0, 'use': 2, 'assured': True, 'unreplied': False,
    }


def test_parse_udp_unreplied_zone():
    entry = parse_line(UDP_ZONE)
    assert entry['state'] is None
    assert entry['unreplied'] and not entry['assured']
    assert entry['zone'] == 7
    assert entry['orig'] == {'src': '198.51.100.53', 'dst': '198.51.100.1', 'sport': 46481, 'dport': 5003}
    assert entry['reply']['sport'] == 6000


def test_parse_icmp_has_type_code_id():
    entry = parse_line(ICMP)
    assert entry['proto'] == 'icmp' and entry['protonum'] == 1 and entry['state'] is None
    assert entry['orig'] == {'src': '192.168.77.10', 'dst': '198.51.100.99', 'type': 8, 'code': 0, 'id': 19276}
    assert entry['reply'] == {'src': '198.51.100.99', 'dst': '198.51.100.1', 'type': 0, 'code': 0, 'id': 19276}
    assert entry['use'] == 2


def test_parse_ipv6_expanded_is_normalized():
    entry = parse_line(TCP6_PROC)
    assert entry['l3'] == 'ipv6'
    assert entry['orig']['src'] == 'fd77::10' and entry['orig']['dst'] == '2001:db8:77::1'
    assert entry['reply']['dst'] == 'fd77::1'


def test_parse_plain_conntrack_l_and_mark():
    entry = parse_line(TCP_PLAIN)
    assert entry['l3'] is None and entry['proto'] == 'tcp' and entry['state'] == 'ESTABLISHED'
    assert entry['mark'] == 42 and entry['zone'] == 0 and entry['use'] == 1
    assert entry['reply']['sport'] == 54321


def test_parse_accounting_and_timestamp():
    entry = parse_line(TCP6_ACCT)
    assert entry['orig']['packets'] == 5 and entry['orig']['bytes'] == 448
    assert entry['reply']['packets'] == 5 and entry['reply']['bytes'] == 409
    assert entry['delta-time'] == '1'


@pytest.mark.parametrize('garbage', [
    '',
    '\n',
    'conntrack v1.4.7 (conntrack-tools): 13 flow entries have been shown.',
    'ipv4     2 tcp      6 115 TIME_WAIT src=192.168.77.10 dst=198.51.100.1 sport=52908 dport=80',   # truncated after the original tuple
    'ipv4     2 tcp      6 115 TIME_WAIT src=192.168.77.10 dst=198.51.100.1 sport=52908 dport=80 src=192.168.77.20',
    'ipv4     2 tcp      six 115 TIME_WAIT src=192.168.77.10 dst=198.51.100.1 sport=52908 dport=80 src=192.168.77.20 dst=192.168.77.1 sport=80 dport=1 use=2',
    'ipv4     2 tcp      6 115 TIME_WAIT src=192.168.77.10 dst=198.51.100.1 sport=x dport=80 src=192.168.77.20 dst=192.168.77.1 sport=80 dport=1 use=2',
    'random text with src=1 and dst=2 and src=3 words',
    '\x00\x01binary',
])
def test_garbage_lines_are_skipped(garbage):
    assert parse_line(garbage) is None
    result = find_hairpin_flows([garbage, TCP_PROC + '\n'])
    assert result['total_entries'] == 1
    assert result['hairpin_entries'] == 1


@pytest.mark.parametrize('fixture', [
    'nf_conntrack.txt',             # /proc/net/nf_conntrack
    'conntrack-L-extended.txt',     # conntrack -L -o extended
    'conntrack-L.txt',              # conntrack -L (no l3 prefix)
])
def test_captured_tables(fixture):
    result = find_hairpin_flows(lines(fixture))
    assert result['total_entries'] == 15
    assert result['hairpin_entries'] == 8
    assert result['pairs'] == EXPECTED_PAIRS
    assert len(result['flows']) == 8
    # outside clients, DNS to an outside server, pings and the zone-7 UDP forward are not hairpin
    for flow in result['flows']:
        assert flow['client_ip'] in ('192.168.77.10', 'fd77::10')
        assert flow['snat_ip'] in ('192.168.77.1', 'fd77::1')
        assert flow['proto'] == 'tcp' and flow['assured'] is True
        assert flow['state'] in ('ESTABLISHED', 'TIME_WAIT')


def test_the_three_formats_agree():
    results = [find_hairpin_flows(lines(name)) for name in ('nf_conntrack.txt', 'conntrack-L-extended.txt', 'conntrack-L.txt')]
    assert results[0]['pairs'] == results[1]['pairs'] == results[2]['pairs']


def test_accounting_table():
    result = find_hairpin_flows(lines('nf_conntrack-acct.txt'))
    assert result['hairpin_entries'] == 10
    assert [p['connections'] for p in result['pairs']] == [6, 3, 1]


def test_flow_fields():
    result = find_hairpin_flows([TCP_PORT_TRANSLATED])
    assert result['flows'] == [{
        'proto': 'tcp', 'client_ip': '192.168.77.10', 'client_port': 39372, 'public_ip': '198.51.100.1', 'public_port': 5432,
        'backend_ip': '192.168.77.30', 'backend_port': 54321, 'snat_ip': '192.168.77.1', 'state': 'ESTABLISHED', 'assured': True,
    }]


@pytest.mark.parametrize('line', [UDP_ZONE, UDP_DNS, ICMP])
def test_not_hairpin(line):
    result = find_hairpin_flows([line])
    assert result['total_entries'] == 1 and result['hairpin_entries'] == 0 and result['pairs'] == []


def test_hairpin_without_snat():
    # Captured line with the SNAT removed (client in another subnet, the reply goes straight back).
    line = TCP_PROC.replace('dst=192.168.77.1 sport=80', 'dst=192.168.77.10 sport=80')
    result = find_hairpin_flows([line])
    assert result['flows'][0]['snat_ip'] is None
    assert result['pairs'][0]['snat'] is False


def test_limit_caps_flows_but_not_pairs():
    result = find_hairpin_flows(lines('nf_conntrack.txt'), limit=2)
    assert len(result['flows']) == 2
    assert result['pairs'] == EXPECTED_PAIRS
    assert find_hairpin_flows(lines('nf_conntrack.txt'), limit=0)['flows'] == []


def test_custom_internal_ranges():
    # Only the IPv4 LAN is internal: the IPv6 flows' sources are then not internal.
    result = find_hairpin_flows(lines('nf_conntrack.txt'), internal=['192.168.77.0/24'])
    assert result['hairpin_entries'] == 6
    assert InternalNetworks(['192.168.77.0/24']).contains('192.168.77.10')


def test_public_address_inside_internal_ranges():
    # A gateway behind carrier-grade NAT: its "public" address 100.64.0.1 is in RFC 6598 space.
    line = TCP_PROC.replace('198.51.100.1', '100.64.0.1')
    assert find_hairpin_flows([line])['hairpin_entries'] == 0
    result = find_hairpin_flows([line], public_addresses=['100.64.0.1'])
    assert result['hairpin_entries'] == 1
    assert result['pairs'][0]['public_ip'] == '100.64.0.1'


def test_streaming_feeds_accumulate():
    scanner = HairpinScanner(public_addresses=['2001:db8:77::1'], limit=1)
    scanner.feed(iter(lines('nf_conntrack.txt')))
    scanner.feed(iter(lines('conntrack-L.txt')))
    result = scanner.result()
    assert result['total_entries'] == 30
    assert result['hairpin_entries'] == 16
    assert [p['connections'] for p in result['pairs']] == [10, 4, 2]
    assert len(result['flows']) == 1


def test_memory_grows_with_hairpin_flows_only():
    # 20,000 non-hairpin entries (the captured outside-client line) keep nothing.
    outside = ('ipv4     2 tcp      6 431996 ESTABLISHED src=198.51.100.53 dst=198.51.100.1 sport=51818 dport=80 src=192.168.77.20 '
               'dst=198.51.100.53 sport=80 dport=51818 [ASSURED] mark=0 zone=0 use=2\n')
    scanner = HairpinScanner()
    scanner.feed(outside for dummy in range(20000))
    assert scanner.total_entries == 20000
    assert scanner.flows == [] and scanner.pairs == {}


# count_probe_entries: the gateway's `conntrack -L -s 192.168.77.10` around a probe from ports 40001-40004
# to 198.51.100.1:80, forwarded to 192.168.77.20:80 (the TCP_PLAIN shape).
PROBE_PORTS = [40001, 40002, 40003, 40004]
PUBLIC = ('198.51.100.1', 80)
PRIVATE = ('192.168.77.20', 80)


def listed(timeout, sport, dst='198.51.100.1', dport=80, backend='192.168.77.20', bport=80):
    return ('tcp      6 %d TIME_WAIT src=192.168.77.10 dst=%s sport=%d dport=%d src=%s dst=192.168.77.1 sport=%d dport=%d '
            '[ASSURED] mark=0 use=1' % (timeout, dst, sport, dport, backend, bport, sport))


def test_probe_entries_new():
    assert count_probe_entries([], [listed(119, 40001), listed(119, 40002)], PROBE_PORTS, PUBLIC, PRIVATE) == 2


def test_probe_entries_renewed():
    # The probe reused the tuple of an entry still in TIME_WAIT: the entry is replaced, its timeout goes up.
    assert count_probe_entries([listed(30, 40002)], [listed(119, 40002)], PROBE_PORTS, PUBLIC, PRIVATE) == 1


@pytest.mark.parametrize('timeout_after', [98, 100])
def test_probe_entries_stale(timeout_after):
    # An older connection's entry the probe did not touch: its timeout only went down (or the same second).
    assert count_probe_entries([listed(100, 40001)], [listed(timeout_after, 40001)], PROBE_PORTS, PUBLIC, PRIVATE) == 0


def test_probe_entries_other_port():
    # Another connection of the client; its reply tuple's port is one of the probe's, the original's is not.
    other = listed(119, 50000, bport=40003)
    assert count_probe_entries([], [other], PROBE_PORTS, PUBLIC, PRIVATE) == 0


@pytest.mark.parametrize('line', [
    listed(119, 40003, dport=5432, backend='192.168.77.30', bport=54321),   # the other forward of the public address
    listed(119, 40003, dport=443),                                          # the public address, another port
    listed(119, 40003, dst='192.168.77.20', dport=8080),                    # the backend, another port
    listed(119, 40003, dst='198.51.100.2'),                                 # another public address, same port
])
def test_probe_entries_other_pair(line):
    assert count_probe_entries([], [line], PROBE_PORTS, PUBLIC, PRIVATE) == 0


def test_probe_entries_translated_port():
    # 198.51.100.1:5432 forwards to 192.168.77.30:54321: each address goes with its own port.
    public, private = ('198.51.100.1', 5432), ('192.168.77.30', 54321)
    probe = [listed(119, 40001, dport=5432, backend='192.168.77.30', bport=54321),
             listed(119, 40002, dst='192.168.77.30', dport=54321, backend='192.168.77.30', bport=54321)]
    crossed = [listed(119, 40003, dport=54321, backend='192.168.77.30', bport=54321),
               listed(119, 40004, dst='192.168.77.30', dport=5432, backend='192.168.77.30', bport=5432)]
    assert count_probe_entries([], probe + crossed, PROBE_PORTS, public, private) == 2


def test_probe_entries_same_ports_other_protocol_or_zone():
    # Entries of another protocol or conntrack zone are other entries, even with the same addresses and ports.
    tcp = listed(90, 40001)
    udp = tcp.replace('tcp      6 90 TIME_WAIT', 'udp      17 119').replace(' [ASSURED]', '')
    zoned = listed(119, 40001).replace('mark=0', 'mark=0 zone=7')
    assert count_probe_entries([udp, zoned], [tcp, udp, zoned], PROBE_PORTS, PUBLIC, PRIVATE) == 1


def test_probe_entries_private_endpoint():
    # After the fix the client dials the backend directly: a routed client's entry still goes through the gateway.
    direct = listed(119, 40001, dst='192.168.77.20', backend='192.168.77.20')
    assert count_probe_entries([], [direct], PROBE_PORTS, PUBLIC, PRIVATE) == 1
    assert count_probe_entries([], [direct], PROBE_PORTS, PUBLIC, None) == 0


def test_probe_entries_ipv6_in_any_text_form():
    # conntrack -L prints compressed IPv6, /proc/net/nf_conntrack expanded; the plan may spell it either way.
    port = 46436
    compressed = TCP6_ACCT.replace('sport=46436', 'sport=%d' % port)
    expanded = TCP6_PROC.replace('33096', str(port))
    for lines_after in ([compressed], [expanded]):
        assert count_probe_entries([], lines_after, [port], ('2001:DB8:77:0::1', 80), ('fd77::20', 80)) == 1
    renewed_from = compressed.replace(' 119 TIME_WAIT', ' 20 TIME_WAIT')
    assert count_probe_entries([renewed_from], [expanded], [port], ('2001:db8:77::1', 80)) == 1
    assert count_probe_entries([compressed], [expanded], [port], ('2001:db8:77::1', 80)) == 0


def test_probe_entries_in_a_large_table(monkeypatch):
    # 30,000 entries of the client's other connections: only the lines from the probe's ports are parsed.
    others = [listed(119, port) for port in range(10000, 40000)]
    before = others + [listed(100, 40001), listed(30, 40002)]
    after = [listed(98, 40001)] + others + [listed(119, port) for port in PROBE_PORTS[1:]]
    parsed = []

    def counting_parse_line(line, normalize=None):
        parsed.append(line)
        return parse_line(line, normalize)

    monkeypatch.setattr(_conntrack_table, 'parse_line', counting_parse_line)
    assert count_probe_entries(before, after, PROBE_PORTS, PUBLIC, PRIVATE) == 3
    assert len(parsed) == 6


def test_probe_entries_skip_lines_that_are_not_entries():
    summary = 'conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.'
    truncated = listed(119, 40001).split(' src=192.168.77.20')[0]
    assert count_probe_entries([summary], [summary, truncated, '', listed(119, 40002)], PROBE_PORTS, PUBLIC, PRIVATE) == 1


@pytest.mark.parametrize('public', [('app.example.test', 80), ('198.51.100.1', 'http')])
def test_probe_entries_bad_endpoint(public):
    with pytest.raises(ValueError):
        count_probe_entries([], [], PROBE_PORTS, public)
