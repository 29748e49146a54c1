# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ctnetlink requests and the decoding of the kernel's answers, on exchanges captured from a 6.18
kernel (fixtures/ctnetlink-capture.sh: hairpin flows through DNAT + SNAT over TCP, UDP, ICMP and
IPv6, in zone 7, with mark 42, with and without counters; an outside client of the same forward;
plain entries; an SCTP entry inserted with conntrack -I). /proc/net/nf_conntrack was saved at the
same moment: every decoded entry must equal what parse_line makes of its line."""

from __future__ import annotations

import errno
import os
import socket

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_table import (
    HairpinScanner,
    find_hairpin_flows,
    parse_line,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._ctnetlink import (
    _TUPLE_LAYOUTS,
    CTA_TUPLE_ORIG,
    NLMSG_DONE,
    Dump,
    NetlinkError,
    _index,
    _messages,
    dump_request,
    global_entries,
    stats_request,
)
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.conntrack_fakes import ctnetlink_exchange

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')
PUBLIC = ['198.51.100.1', '2001:db8:77::1']

# The capture's hairpin pairs; the ICMP echo and the UDP flows have no TCP state.
HAIRPIN_PAIRS = [
    ('192.168.77.10', 'tcp', '198.51.100.1', 80, '192.168.77.20', 80, 4),
    ('fd77::10', 'tcp', '2001:db8:77::1', 80, 'fd77::20', 80, 2),
    ('192.168.77.10', 'icmp', '198.51.100.1', None, '192.168.77.20', None, 1),
    ('192.168.77.10', 'tcp', '198.51.100.1', 5432, '192.168.77.30', 54321, 1),
    ('192.168.77.10', 'udp', '198.51.100.1', 5000, '192.168.77.30', 5000, 1),
    ('192.168.77.10', 'udp', '198.51.100.1', 5353, '192.168.77.30', 53, 1),
    ('192.168.77.10', 'udp', '198.51.100.1', 7000, '192.168.77.30', 7000, 1),
]


def proc_lines():
    with open(os.path.join(FIXTURES, 'ctnetlink-nf_conntrack.txt')) as f:
        return f.read().splitlines(True)


def decode(name, status=None):
    """(Dump, entries) after feeding every datagram of a captured dump."""
    dump = Dump(1) if status is None else Dump(1, status)
    entries = []
    for datagram in ctnetlink_exchange(name)[1]:
        entries.extend(dump.feed(datagram))
    return dump, entries


def key(entry):
    orig = entry['orig']
    return entry['proto'], orig['src'], orig['dst'], orig.get('sport'), orig.get('id')


def proc_entries():
    return {key(entry): entry for entry in (parse_line(line) for line in proc_lines())}


def without_clock(entry):
    """An entry without what changes between two reads: the timeout ticks, and /proc counts the
    reference its own reader holds in use=."""
    return {k: v for k, v in entry.items() if k not in ('timeout', 'use')}


def pair_tuples(result):
    return [(p['client_ip'], p['proto'], p['public_ip'], p['public_port'], p['backend_ip'], p['backend_port'],
             p['connections']) for p in result['pairs']]


def test_requests_are_the_captured_ones():
    assert dump_request(1) == ctnetlink_exchange('ctnetlink-dump-dnat.txt')[0]
    assert dump_request(1, status=None) == ctnetlink_exchange('ctnetlink-dump-all.txt')[0]
    assert stats_request(2) == ctnetlink_exchange('ctnetlink-stats.txt')[0]


def test_kernel_filtered_dump():
    dump, entries = decode('ctnetlink-dump-dnat.txt')
    assert dump.done and dump.kernel_filter
    assert dump.read == len(entries) == 12
    proc = proc_entries()
    for entry in entries:
        assert without_clock(entry) == without_clock(proc[key(entry)])
        assert 0 <= proc[key(entry)]['timeout'] - entry['timeout'] <= 2
        assert entry['use'] >= 1


def test_every_entry_decodes_like_its_proc_line():
    dump, entries = decode('ctnetlink-dump-all.txt', status=0)
    assert dump.read == len(entries) == 16 == len(proc_lines())
    proc = proc_entries()
    assert sorted(proc) == sorted(key(entry) for entry in entries)
    for entry in entries:
        assert without_clock(entry) == without_clock(proc[key(entry)])


def test_decoded_fields():
    entries = {key(entry): entry for entry in decode('ctnetlink-dump-all.txt', status=0)[1]}
    sctp = [entry for entry in entries.values() if entry['proto'] == 'sctp'][0]
    assert sctp['state'] == 'ESTABLISHED' and sctp['protonum'] == 132
    assert sctp['orig']['packets'] == 0 and 'packets' in sctp['reply']
    zoned = [entry for entry in entries.values() if entry['zone'] == 7]
    assert [(e['proto'], e['orig']['dport'], e['reply']['sport']) for e in zoned] == [('udp', 7000, 7000)]
    marked = [entry for entry in entries.values() if entry['mark'] == 42]
    assert [(e['state'], e['orig']['dport'], e['reply']['sport']) for e in marked] == [('ESTABLISHED', 5432, 54321)]
    icmp = [entry for entry in entries.values() if entry['proto'] == 'icmp' and entry['orig']['dst'] == '198.51.100.1'][0]
    assert icmp['orig'] == {'src': '192.168.77.10', 'dst': '198.51.100.1', 'type': 8, 'code': 0, 'id': 19276}
    assert icmp['reply'] == {'src': '192.168.77.20', 'dst': '192.168.77.1', 'type': 0, 'code': 0, 'id': 19276}
    unreplied = sorted((e['orig']['dst'], e['orig']['dport']) for e in entries.values() if e['unreplied'])
    assert unreplied == [('198.51.100.1', 5000), ('198.51.100.53', 9)]
    assert all(e['flags'] == ['UNREPLIED'] and not e['assured'] for e in entries.values() if e['unreplied'])
    counted = sorted(e['l3'] for e in entries.values() if 'bytes' in e['orig'] and e['proto'] == 'tcp')
    assert counted == ['ipv4', 'ipv6']
    assert {e['state'] for e in entries.values() if e['proto'] == 'tcp'} == {'ESTABLISHED', 'TIME_WAIT'}


def test_kernel_that_ignores_the_status_filter():
    """An older kernel answers the filtered request with every entry (as the kernel answered the
    unfiltered one): the dump keeps the DNATed entries and says it filtered them itself."""
    dump, entries = decode('ctnetlink-dump-all.txt')
    assert dump.done and not dump.kernel_filter
    assert dump.read == 16
    filtered = decode('ctnetlink-dump-dnat.txt')[1]
    assert sorted(key(entry) for entry in entries) == sorted(key(entry) for entry in filtered)


def test_hairpin_flows_equal_the_proc_scan():
    scanner = HairpinScanner(public_addresses=PUBLIC)
    scanner.feed_entries(decode('ctnetlink-dump-dnat.txt')[1])
    netlink = scanner.result()
    assert netlink['total_entries'] == 12 and netlink['hairpin_entries'] == 11
    assert pair_tuples(netlink) == HAIRPIN_PAIRS
    proc = find_hairpin_flows(proc_lines(), public_addresses=PUBLIC)
    # The entry conntrack -I inserted rewrites the reply without IPS_DST_NAT: only /proc shows it.
    inserted = ('192.168.77.10', 'sctp', '198.51.100.1', 3868, '192.168.77.30', 3868, 1)
    assert [pair for pair in pair_tuples(proc) if pair != inserted] == HAIRPIN_PAIRS
    assert inserted in pair_tuples(proc)
    assert netlink['flows'] == [flow for flow in proc['flows'] if flow['proto'] != 'sctp']
    assert [flow['state'] for flow in netlink['flows']].count('TIME_WAIT') == 3


def test_feed_entries_classifies_like_feed():
    lines = proc_lines()
    scanner = HairpinScanner(public_addresses=PUBLIC)
    scanner.feed_entries(parse_line(line) for line in lines)
    assert scanner.result() == find_hairpin_flows(lines, public_addresses=PUBLIC)


def test_stream_one_datagram_at_a_time():
    dump = Dump(1)
    first, done = ctnetlink_exchange('ctnetlink-dump-dnat.txt')[1]
    assert len(dump.feed(first)) == 12 and not dump.done
    assert dump.feed(done) == [] and dump.done


def test_answers_to_other_requests_are_skipped():
    dump = Dump(7)
    for datagram in ctnetlink_exchange('ctnetlink-dump-dnat.txt')[1]:
        assert dump.feed(datagram) == []
    assert dump.read == 0 and not dump.done


def test_truncated_datagram():
    first = ctnetlink_exchange('ctnetlink-dump-dnat.txt')[1][0]
    with pytest.raises(ValueError, match='truncated netlink message'):
        Dump(1).feed(first[:-8])


def test_permission_denied():
    request, datagrams = ctnetlink_exchange('ctnetlink-eperm.txt')
    assert request == dump_request(1)
    with pytest.raises(NetlinkError) as caught:
        Dump(1).feed(datagrams[0])
    assert caught.value.errno == errno.EPERM


def test_global_entries():
    answer = ctnetlink_exchange('ctnetlink-stats.txt')[1][0]
    assert global_entries(answer, 2) == len(proc_lines())
    with pytest.raises(ValueError, match='no CTA_STATS_GLOBAL_ENTRIES'):
        global_entries(answer, 3)


@pytest.mark.parametrize('raw, text', [
    (bytes([192, 0, 2, 1]), '192.0.2.1'),
    (bytes.fromhex('fd770000000000000000000000000010'), 'fd77::10'),
    (bytes.fromhex('00000000000000000000ffffc0000201'), '192.0.2.1'),    # IPv4-mapped: as normalize_ip
    (bytes.fromhex('00000000000000000000000001020304'), '::102:304'),    # not inet_ntop's ::1.2.3.4
])
def test_address_text(raw, text):
    assert Dump(1)._address(raw) == text


def test_port_protocol_tuples_take_the_fixed_layout():
    """The kernel's TCP, UDP and SCTP tuples match the layout read with two unpacks; the ICMP ones are
    walked attribute by attribute (both give what /proc shows, see above)."""
    dump = Dump(1)
    shapes = set()
    for datagram in ctnetlink_exchange('ctnetlink-dump-all.txt')[1]:
        for msg_type, pos, end in _messages(datagram, 1):
            if msg_type == NLMSG_DONE:
                continue
            start, stop = _index(datagram, pos + 4, end)[CTA_TUPLE_ORIG]
            layout = _TUPLE_LAYOUTS.get(stop - start)
            fixed = layout is not None and layout[1].unpack_from(datagram, start) == layout[2]
            shapes.add((datagram[pos], dump._tuple(datagram, (start, stop))[1], fixed))
    assert shapes == {(socket.AF_INET, 6, True), (socket.AF_INET, 17, True), (socket.AF_INET, 132, True),
                      (socket.AF_INET, 1, False), (socket.AF_INET6, 6, True)}


def test_wanted_skips_entries_before_decoding_them():
    seen = []

    def wanted(src, dst, rsrc):
        seen.append((src, dst, rsrc))
        return rsrc == '192.168.77.30'
    dump, entries = Dump(1, wanted=wanted), []
    for datagram in ctnetlink_exchange('ctnetlink-dump-dnat.txt')[1]:
        entries.extend(dump.feed(datagram))
    assert dump.read == len(seen) == 12
    assert sorted(e['orig']['dport'] for e in entries) == [5000, 5353, 5432, 7000]
