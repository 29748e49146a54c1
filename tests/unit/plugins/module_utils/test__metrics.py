# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hairpin watch's metrics: the exact exposition text for captured tables (the ctnetlink dump of
fixtures/ctnetlink-capture.sh with its conntrack statistics; the socket tables of fixtures/capture.sh;
the sock_diag dump of fixtures/sockdiag-capture.sh), escaping, top N + other, relabelling, the byte
counters of both sides across runs and the cost estimate."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _metrics
from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_stats import build_info, netns_state
from ansible_collections.keeplocal.traffic.plugins.module_utils._ctnetlink import Dump
from ansible_collections.keeplocal.traffic.plugins.module_utils._metrics import (
    CountingScanner,
    Family,
    build_families,
    byte_series,
    costs,
    escape_label_value,
    format_value,
    relabel,
    per_month,
    render,
    socket_entry_bytes,
    top_with_other,
    update_counters,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._sockets import (
    connections_by_process,
    parse_proc_net_tcp,
    summarize,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._sock_diag import Dump as DiagDump
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.conntrack_fakes import ctnetlink_exchange
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import fixture

PUBLIC = ['198.51.100.1', '2001:db8:77::1']
NOW = 1767225600.0
PAIR_80 = '192.168.77.10 198.51.100.1:80/tcp 192.168.77.20:80 gateway'
PAIR_80_V6 = 'fd77::10 [2001:db8:77::1]:80/tcp [fd77::20]:80 gateway'
CLIENT_80 = '192.168.77.10 198.51.100.1:80/tcp unknown client'
CLIENT_80_V6 = 'fd77::10 [2001:db8:77::1]:80/tcp unknown client'

GATEWAY = '''\
# HELP keeplocal_collector_last_success_timestamp_seconds Unix time of the last successful keeplocal hairpin watch run.
# TYPE keeplocal_collector_last_success_timestamp_seconds gauge
keeplocal_collector_last_success_timestamp_seconds 1767225600.0
# HELP keeplocal_collector_duration_seconds How long the last keeplocal hairpin watch run took.
# TYPE keeplocal_collector_duration_seconds gauge
keeplocal_collector_duration_seconds 0.0123
# HELP keeplocal_conntrack_entries Entries in the connection-tracking table (nf_conntrack_count).
# TYPE keeplocal_conntrack_entries gauge
keeplocal_conntrack_entries 16
# HELP keeplocal_conntrack_max Size limit of the connection-tracking table (nf_conntrack_max).
# TYPE keeplocal_conntrack_max gauge
keeplocal_conntrack_max 262144
# HELP keeplocal_conntrack_usage_ratio Entries in the table divided by its limit.
# TYPE keeplocal_conntrack_usage_ratio gauge
keeplocal_conntrack_usage_ratio 6.1e-05
# HELP keeplocal_conntrack_drop_total Packets dropped because a new entry could not be added (table full), summed over CPUs.
# TYPE keeplocal_conntrack_drop_total counter
keeplocal_conntrack_drop_total 0
# HELP keeplocal_conntrack_early_drop_total Entries evicted to make room in a full table, summed over CPUs.
# TYPE keeplocal_conntrack_early_drop_total counter
keeplocal_conntrack_early_drop_total 0
# HELP keeplocal_conntrack_insert_failed_total Entries that could not be inserted (clashes, full table), summed over CPUs.
# TYPE keeplocal_conntrack_insert_failed_total counter
keeplocal_conntrack_insert_failed_total 0
# HELP keeplocal_conntrack_accounting 1 when conntrack accounting (nf_conntrack_acct) is on, so hairpin bytes are counted.
# TYPE keeplocal_conntrack_accounting gauge
keeplocal_conntrack_accounting 1
# HELP keeplocal_hairpin_entries Conntrack entries of hairpin flows (internal client, this host's DNAT, internal backend).
# TYPE keeplocal_hairpin_entries gauge
keeplocal_hairpin_entries 11
# HELP keeplocal_hairpin_share_ratio Hairpin entries divided by all entries in the table.
# TYPE keeplocal_hairpin_share_ratio gauge
keeplocal_hairpin_share_ratio 0.6875
# HELP keeplocal_hairpin_connections Hairpin connections in the table per pair; pairs past the top ones are summed under "other".
# TYPE keeplocal_hairpin_connections gauge
keeplocal_hairpin_connections{client="192.168.77.10",public="198.51.100.1:80/tcp",backend="192.168.77.20:80"} 4
keeplocal_hairpin_connections{client="fd77::10",public="[2001:db8:77::1]:80/tcp",backend="[fd77::20]:80"} 2
keeplocal_hairpin_connections{client="192.168.77.10",public="198.51.100.1/icmp",backend="192.168.77.20"} 1
keeplocal_hairpin_connections{client="other",public="other",backend="other"} 4
# HELP keeplocal_hairpin_bytes_total Hairpin bytes per pair, both directions, counted by the gateway (conntrack) or client (sockets); later pairs in "other".
# TYPE keeplocal_hairpin_bytes_total counter
keeplocal_hairpin_bytes_total{client="fd77::10",public="[2001:db8:77::1]:80/tcp",backend="[fd77::20]:80",counted_by="gateway"} 448
keeplocal_hairpin_bytes_total{client="192.168.77.10",public="198.51.100.1:80/tcp",backend="192.168.77.20:80",counted_by="gateway"} 172
'''

HOSTS = '''\
# HELP keeplocal_collector_last_success_timestamp_seconds Unix time of the last successful keeplocal hairpin watch run.
# TYPE keeplocal_collector_last_success_timestamp_seconds gauge
keeplocal_collector_last_success_timestamp_seconds 1767225600.0
# HELP keeplocal_collector_duration_seconds How long the last keeplocal hairpin watch run took.
# TYPE keeplocal_collector_duration_seconds gauge
keeplocal_collector_duration_seconds 0.004
# HELP keeplocal_public_connections TCP connections from this host to the fleet's public addresses, per address and process.
# TYPE keeplocal_public_connections gauge
keeplocal_public_connections{public="198.51.100.1:80/tcp",process="curl"} 2
keeplocal_public_connections{public="198.51.100.1:80/tcp",process="unknown"} 2
keeplocal_public_connections{public="198.51.100.1:5432/tcp",process="psql"} 1
keeplocal_public_connections{public="[2001:db8:77::1]:80/tcp",process="curl6"} 1
keeplocal_public_connections{public="[2001:db8:77::1]:80/tcp",process="unknown"} 1
# HELP keeplocal_same_host_connections TCP connections from this host to its own application servers, per listener.
# TYPE keeplocal_same_host_connections gauge
keeplocal_same_host_connections{listener="127.0.0.1:8000",process="gunicorn"} 4
'''


def gateway_scan():
    """hairpin_flows_info's result for the captured dump, read with CountingScanner as the collector does."""
    scanner = CountingScanner(public_addresses=PUBLIC, limit=0)
    dump = Dump(1, wanted=scanner.hairpin)
    for datagram in ctnetlink_exchange('ctnetlink-dump-dnat.txt')[1]:
        scanner.feed_entries(dump.feed(datagram))
    return dict(scanner.result(), available=True, total_entries=16)


def gateway_health():
    return build_info(16, 262144, 262144, fixture('conntrack-stat-host.txt'), netns_state(0o644, False, True))


def sockets(host):
    return parse_proc_net_tcp(fixture('%s-proc-net-tcp.txt' % host), 'little') + \
        parse_proc_net_tcp(fixture('%s-proc-net-tcp6.txt' % host), 'little')


def owners(host):
    return json.loads(fixture('%s-socket-inodes.json' % host))


def test_gateway_exposition_for_the_captured_table():
    scan = gateway_scan()
    counters = update_counters({}, scan['entry_bytes'], NOW, top_pairs=20)
    observation = {'conntrack': gateway_health(), 'accounting': True, 'hairpin': scan}
    text = render(build_families(observation, counters, {'top_pairs': 3}, NOW, 0.0123))
    assert text == GATEWAY


def test_client_and_server_exposition_for_the_captured_sockets():
    observation = {
        'conntrack': None, 'hairpin': None,
        'public_connections': connections_by_process(sockets('cli'), owners('cli'), PUBLIC),
        'same_host': [item for item in summarize(sockets('srv'), owners('srv'))['same_host']
                      if item['listener_process'] == 'gunicorn'],
    }
    text = render(build_families(observation, {}, {'top_pairs': 20}, NOW, 0.004))
    assert text == HOSTS


def test_byte_counters_come_from_accounting_only():
    """Entries without counters (accounting was off when they were created) give no bytes."""
    scan = gateway_scan()
    assert scan['entry_bytes'] == {
        'tcp 0 192.168.77.10 57347 198.51.100.1 80': (PAIR_80, 112 + 60),
        'tcp 0 fd77::10 58161 2001:db8:77::1 80': (PAIR_80_V6, 296 + 152),
    }
    # The scan's own result is hairpin_flows_info's: the same pairs as the plain scanner.
    assert [pair['connections'] for pair in scan['pairs']] == [4, 2, 1, 1, 1, 1, 1]


@pytest.mark.parametrize('value, expected', [
    ('plain', 'plain'),
    ('say "hi"', 'say \\"hi\\"'),
    ('C:\\path', 'C:\\\\path'),
    ('two\nlines', 'two\\nlines'),
    ('\\"\n', '\\\\\\"\\n'),
])
def test_label_values_are_escaped(value, expected):
    assert escape_label_value(value) == expected


def test_escaped_labels_and_help_in_the_text():
    family = Family('keeplocal_public_connections', 'gauge', 'help with \\ and\nnewline', ('public', 'process'))
    family.add(1, ('198.51.100.1:80/tcp', 'my "app"\\\n'))
    assert render([family]) == (
        '# HELP keeplocal_public_connections help with \\\\ and\\nnewline\n'
        '# TYPE keeplocal_public_connections gauge\n'
        'keeplocal_public_connections{public="198.51.100.1:80/tcp",process="my \\"app\\"\\\\\\n"} 1\n')


def test_label_overrides_reach_the_text_and_merge_series():
    observation = {'public_connections': connections_by_process(sockets('cli'), owners('cli'), PUBLIC)}
    overrides = {'public': {'198.51.100.1:80/tcp': 'app', '[2001:db8:77::1]:80/tcp': 'app'}, 'process': {'curl6': 'curl'}}
    text = render(build_families(observation, {}, {'top_pairs': 20, 'label_overrides': overrides}, NOW, 0.004))
    assert [line for line in text.splitlines() if line.startswith('keeplocal_public_connections')] == [
        'keeplocal_public_connections{public="app",process="curl"} 3',
        'keeplocal_public_connections{public="app",process="unknown"} 3',
        'keeplocal_public_connections{public="198.51.100.1:5432/tcp",process="psql"} 1',
    ]


def test_top_with_other():
    counts = {('a',): 1, ('b',): 5, ('c',): 3, ('d',): 3}
    assert top_with_other(counts, ('client',), 2) == [(('b',), 5), (('c',), 3), (('other',), 4)]
    # Nothing left over: no "other" series.
    assert top_with_other(counts, ('client',), 4) == [(('b',), 5), (('c',), 3), (('d',), 3), (('a',), 1)]
    assert top_with_other({}, ('client', 'public'), 2) == []


def test_relabel_sums_label_sets_that_become_equal():
    counts = {('10.0.0.1', 'x'): 2, ('10.0.0.2', 'x'): 3, ('10.0.0.3', 'x'): 1}
    assert relabel(counts, ('client', 'public'), {'client': {'10.0.0.1': 'web', '10.0.0.2': 'web'}}) == {
        ('web', 'x'): 5, ('10.0.0.3', 'x'): 1}


@pytest.mark.parametrize('value, expected', [
    (0, '0'), (262144, '262144'), (0.6875, '0.6875'), (6.1e-05, '6.1e-05'), (1767225600.25, '1767225600.25'),
    (True, '1'), (float('nan'), 'NaN'), (float('inf'), '+Inf'), (float('-inf'), '-Inf'),
])
def test_format_value(value, expected):
    assert format_value(value) == expected


def test_render_leaves_out_families_without_samples():
    empty = Family('keeplocal_hairpin_connections', 'gauge', 'x', ('client',))
    assert render([empty]) == ''
    assert render([empty, Family('keeplocal_x', 'gauge', 'y').add(2)]) == '# HELP keeplocal_x y\n# TYPE keeplocal_x gauge\nkeeplocal_x 2\n'


def pair(number):
    return '10.0.0.%d 198.51.100.1:80/tcp 10.1.0.1:80 gateway' % number


def entry(number, port=1000):
    return 'tcp 0 10.0.0.%d %d 198.51.100.1 80' % (number, port)


def total(counters):
    return sum(byte_series(counters).values())


def test_counters_add_growth_and_new_connections_on_a_reused_tuple():
    first = update_counters({}, {entry(1): (pair(1), 100)}, NOW, top_pairs=5)
    assert byte_series(first) == {tuple(pair(1).split()): 100}
    grown = update_counters(first, {entry(1): (pair(1), 250)}, NOW + 60, top_pairs=5)
    assert byte_series(grown) == {tuple(pair(1).split()): 250}
    # The entry shrank: a new connection on the same tuple, counted whole.
    reused = update_counters(grown, {entry(1): (pair(1), 40)}, NOW + 120, top_pairs=5)
    assert byte_series(reused) == {tuple(pair(1).split()): 290}
    # The entry is gone: nothing is lost or added, and it is forgotten.
    gone = update_counters(reused, {}, NOW + 180, top_pairs=5)
    assert byte_series(gone) == {tuple(pair(1).split()): 290}
    assert gone['entries'] == {}
    assert gone['pairs'][pair(1)]['last_seen'] == NOW + 120


def test_counters_past_the_first_pairs_go_to_other_and_every_byte_counts_once():
    counters = update_counters({}, {entry(1): (pair(1), 10), entry(2): (pair(2), 500), entry(3): (pair(3), 30)},
                               NOW, top_pairs=2)
    # The two largest new pairs get their own series.
    assert byte_series(counters) == {tuple(pair(2).split()): 500, tuple(pair(3).split()): 30, ('other',) * 4: 10}
    # A pair in "other" stays there while the first ones are alive, however large it grows.
    counters = update_counters(counters, {entry(1): (pair(1), 9000), entry(2): (pair(2), 600), entry(3): (pair(3), 30)},
                               NOW + 60, top_pairs=2)
    assert byte_series(counters) == {tuple(pair(2).split()): 600, tuple(pair(3).split()): 30, ('other',) * 4: 9000}
    assert total(counters) == 9000 + 600 + 30


def test_a_freed_slot_goes_to_the_busiest_pair_in_other_from_that_moment():
    counters = update_counters({}, {entry(1): (pair(1), 10), entry(2): (pair(2), 500)}, NOW, top_pairs=1)
    counters = update_counters(counters, {entry(1): (pair(1), 20)}, NOW + 86400, top_pairs=1)
    assert byte_series(counters) == {tuple(pair(2).split()): 500, ('other',) * 4: 20}
    # pair 2 idle past the retention: forgotten, its slot goes to pair 1, counting from here on.
    later = NOW + 86400 + _metrics.PAIR_RETENTION_SECONDS
    counters = update_counters(counters, {entry(1): (pair(1), 25)}, later, top_pairs=1)
    assert pair(2) not in counters['pairs']
    assert byte_series(counters) == {tuple(pair(1).split()): 5, ('other',) * 4: 20}
    # "other" never goes down: its series stays a counter.
    assert counters['other_bytes'] == 20


def test_costs_extrapolate_each_pair_over_its_window():
    counters = update_counters({}, {entry(1): (pair(1), 2 * 10 ** 9)}, NOW, top_pairs=5)
    counters = update_counters(counters, {entry(1): (pair(1), 3 * 10 ** 9)}, NOW + 3540, top_pairs=5)
    result = costs(counters, NOW + 3540, 60, 0.045, 'USD')
    # 3 GB over one hour (first seen one interval before NOW) -> 3 x 730 = 2190 GB a month.
    assert result == {
        'price_per_gb': 0.045, 'currency': 'USD', 'month_hours': 730, 'bytes': 3 * 10 ** 9,
        'gb_per_month': 2190.0, 'cost_per_month': 98.55,
        'pairs': [{'client': '10.0.0.1', 'public': '198.51.100.1:80/tcp', 'backend': '10.1.0.1:80', 'counted_by': 'gateway',
                   'bytes': 3 * 10 ** 9,
                   'window_seconds': 3600, 'gb_per_month': 2190.0, 'cost_per_month': 98.55}],
    }
    assert costs({}, NOW, 60, 0.045, 'USD')['pairs'] == []


def test_per_month_is_the_arithmetic_costs_and_the_report_share():
    # 1 GB over 730 hours is 1 GB a month; over one hour, 730.
    assert per_month(10 ** 9, 730 * 3600, 0.045) == (1.0, 0.04)
    assert per_month(10 ** 9, 3600, 0.045) == (730.0, 32.85)
    assert per_month(0, 60, 0.045) == (0.0, 0.0)


def diag_sockets():
    """The sockets of fixtures/sockdiag-capture.sh's dumps (both families), as _host_facts.tcp_sockets lists them."""
    found = []
    for name, seq in (('sockdiag-inet.txt', 1), ('sockdiag-inet6.txt', 2)):
        dump = DiagDump(seq)
        for datagram in ctnetlink_exchange(name)[1]:
            found.extend(dump.feed(datagram))
    return found


def test_client_bytes_come_from_the_connecting_sockets_with_counters():
    """The captured client called the public address with 5,000 bytes and got 70,000 back, over IPv4
    and IPv6; a third call closed before the dump is in TIME_WAIT, without counters; the server's
    accepted sockets (peer 192.168.77.10, not a public address) and the listeners are not calls."""
    assert socket_entry_bytes(diag_sockets(), PUBLIC) == {
        'socket 20896': (CLIENT_80, 5001 + 70000),
        'socket 20900': (CLIENT_80_V6, 5001 + 70000),
    }
    # A socket listing without counters (/proc/net/tcp) gives none.
    assert socket_entry_bytes(sockets('cli'), PUBLIC) == {}


def test_both_sides_count_in_one_set_of_series_bounded_together():
    scan = gateway_scan()
    entries = dict(scan['entry_bytes'], **socket_entry_bytes(diag_sockets(), PUBLIC))
    counters = update_counters({}, entries, NOW, top_pairs=3)
    observation = {'hairpin': None, 'client_byte_counters': True}
    text = render(build_families(observation, counters, {'top_pairs': 3}, NOW, 0.01))
    assert [line for line in text.splitlines() if not line.startswith('keeplocal_collector')][-8:] == [
        '# TYPE keeplocal_hairpin_bytes_total counter',
        'keeplocal_hairpin_bytes_total{client="192.168.77.10",public="198.51.100.1:80/tcp",backend="unknown",'
        'counted_by="client"} 75001',
        'keeplocal_hairpin_bytes_total{client="fd77::10",public="[2001:db8:77::1]:80/tcp",backend="unknown",'
        'counted_by="client"} 75001',
        'keeplocal_hairpin_bytes_total{client="fd77::10",public="[2001:db8:77::1]:80/tcp",backend="[fd77::20]:80",'
        'counted_by="gateway"} 448',
        'keeplocal_hairpin_bytes_total{client="other",public="other",backend="other",counted_by="other"} 172',
        '# HELP keeplocal_client_byte_counters 1 when this host\'s TCP byte counters are read (sock_diag with tcp_info), '
        'so its own connections to the public addresses count bytes.',
        '# TYPE keeplocal_client_byte_counters gauge',
        'keeplocal_client_byte_counters 1',
    ]
    assert [pair['counted_by'] for pair in costs(counters, NOW, 60, 0.045, 'USD')['pairs']] == \
        ['client', 'client', 'gateway', 'gateway']


def test_a_socket_counts_its_growth_and_its_last_bytes_are_missed_once_it_closes():
    key = 'socket 7'
    first = update_counters({}, {key: (CLIENT_80, 1000)}, NOW, top_pairs=5)
    grown = update_counters(first, {key: (CLIENT_80, 4000)}, NOW + 60, top_pairs=5)
    assert byte_series(grown) == {tuple(CLIENT_80.split()): 4000}
    # Closed (TIME_WAIT: no counters) before the next run: whatever it carried since is not seen.
    closed = update_counters(grown, {}, NOW + 120, top_pairs=5)
    assert byte_series(closed) == {tuple(CLIENT_80.split()): 4000}
    assert closed['entries'] == {}


def test_counters_of_an_older_format_start_afresh():
    old = {'version': 1, 'entries': {entry(1): ['10.0.0.1 198.51.100.1:80/tcp 10.1.0.1:80', 100]},
           'pairs': {'10.0.0.1 198.51.100.1:80/tcp 10.1.0.1:80': {'bytes': 100, 'first_seen': NOW, 'last_seen': NOW,
                                                                  'offset': 0}},
           'other_bytes': 0}
    counters = update_counters(old, {entry(1): (pair(1), 150)}, NOW + 60, top_pairs=5)
    assert byte_series(counters) == {tuple(pair(1).split()): 150}
    assert list(counters['pairs']) == [pair(1)]


def test_counters_survive_a_json_round_trip():
    """The collector keeps them in a JSON file between runs."""
    counters = update_counters({}, {entry(1): (pair(1), 100)}, NOW, top_pairs=5)
    again = json.loads(json.dumps(counters))
    assert update_counters(again, {entry(1): (pair(1), 150)}, NOW + 60, top_pairs=5) == \
        update_counters(counters, {entry(1): (pair(1), 150)}, NOW + 60, top_pairs=5)


@pytest.mark.skipif(shutil.which('promtool') is None, reason='promtool (Debian package prometheus) is not installed')
def test_promtool_accepts_the_exposition():
    """promtool check metrics parses the text as Prometheus does and lints names, types and units."""
    for text in (GATEWAY, HOSTS):
        proc = subprocess.run(['promtool', 'check', 'metrics'], input=text, universal_newlines=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        assert (proc.returncode, proc.stdout) == (0, '')
