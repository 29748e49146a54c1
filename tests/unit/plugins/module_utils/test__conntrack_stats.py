# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""/proc/net/stat/nf_conntrack parsing and the conntrack_info result, on text captured from a
6.18 kernel (fixtures/conntrack-stat-capture.sh recaptures it)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_stats import (
    MSG_NO_PERMISSION,
    MSG_NOT_INITIAL,
    MSG_READONLY_MOUNT,
    MSG_UNAVAILABLE,
    build_info,
    count_table_full,
    memory_estimate,
    netns_state,
    parse_stat,
    unavailable_result,
)

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures')

# Kernel 4.x printed other columns (searched / delete_list, no clashres / chainlength):
# fixtures/conntrack-stat-old-format.txt is written by hand in that format (no such kernel here).


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


@pytest.mark.parametrize('name, cpus, entries, summed', [
    # the host's initial namespace, idle: only the table size
    ('conntrack-stat-host.txt', 2, None, {'drop': 0, 'early_drop': 0, 'insert_failed': 0, 'invalid': 0}),
    # 5 SYN|FIN segments from CPU 1, seen on OUTPUT and PREROUTING: 10 invalid, all on row 1
    ('conntrack-stat-invalid.txt', 2, 300, {'invalid': 10, 'drop': 0, 'early_drop': 0}),
    # a namespace filled past nf_conntrack_max with unreplied UDP: early_drop evicted them
    ('conntrack-stat-full.txt', 2, 262144, {'early_drop': 0x17e31, 'drop': 0, 'insert_failed': 0}),
])
def test_parse_captured_rows(name, cpus, entries, summed):
    per_cpu, stats = parse_stat(fixture(name))
    assert [row['cpu'] for row in per_cpu] == list(range(cpus))
    # entries is the namespace's table size on every row: taken once, not multiplied by CPUs
    assert stats['entries'] == per_cpu[0]['entries']
    if entries is not None:
        assert stats['entries'] == entries
    for key, value in summed.items():
        assert stats[key] == value
        assert sum(row[key] for row in per_cpu) == value
    assert set(stats) == set(per_cpu[0]) - {'cpu'}
    assert {'clashres', 'chainlength', 'search_restart', 'icmp_error', 'expect_delete'} <= set(stats)


def test_invalid_counted_on_the_cpu_that_sent():
    per_cpu, dummy = parse_stat(fixture('conntrack-stat-invalid.txt'))
    assert [row['invalid'] for row in per_cpu] == [0, 10]


def test_columns_come_from_the_header():
    per_cpu, stats = parse_stat(fixture('conntrack-stat-old-format.txt'))
    assert stats['entries'] == 500
    assert stats['found'] == 0xa10 + 0xb20
    assert stats['ignore'] == 3000
    assert stats['invalid'] == 5
    assert stats['drop'] == 5 and stats['early_drop'] == 2 and stats['insert_failed'] == 1
    assert stats['search_restart'] == 1
    assert 'searched' in stats and 'delete_list' in stats and 'clashres' not in stats
    assert per_cpu[1] == dict(per_cpu[1], cpu=1, drop=5)


def test_garbage_rows_are_skipped():
    text = fixture('conntrack-stat-invalid.txt')
    header, row0, row1 = text.splitlines()[:3]
    garbled = '\n'.join([header, row0, 'zzzz not hex at all', row1[:30], '', row1]) + '\n'
    per_cpu, stats = parse_stat(garbled)
    assert len(per_cpu) == 2
    assert stats['invalid'] == 10


@pytest.mark.parametrize('text', ['', '\n\n', '00000001 00000002\n'])
def test_no_header_is_an_error(text):
    with pytest.raises(ValueError):
        parse_stat(text)


def test_header_without_rows():
    header = fixture('conntrack-stat-host.txt').splitlines()[0]
    per_cpu, stats = parse_stat(header + '\n')
    assert per_cpu == [] and stats['entries'] == 0 and stats['drop'] == 0


@pytest.mark.parametrize('entries, buckets, per_entry, expected', [
    (123, 262144, 320, 123 * 320 + 262144 * 8),
    (262144, 262144, 320, 85983232),
    (0, 65536, 320, 524288),
    (1000, 512, 400, 400000 + 4096),
    (None, 262144, 320, None),
])
def test_memory_estimate(entries, buckets, per_entry, expected):
    assert memory_estimate(entries, buckets, per_entry) == expected


@pytest.mark.parametrize('mode, readonly, access, expected', [
    # what stat shows in the initial namespace (checked: -rw-r--r--)
    (0o100644, False, True, {'initial_netns': True, 'writable': True, 'message': None}),
    # any other namespace (checked with unshare -n: -r--r--r--, even root gets EACCES)
    (0o100444, False, False, {'initial_netns': False, 'writable': False, 'message': MSG_NOT_INITIAL}),
    # the mode decides, not access(): a 0444 sysctl is read-only whatever the caller may do
    (0o100444, False, True, {'initial_netns': False, 'writable': False, 'message': MSG_NOT_INITIAL}),
    (0o100644, True, False, {'initial_netns': True, 'writable': False, 'message': MSG_READONLY_MOUNT}),
    (0o100644, False, False, {'initial_netns': True, 'writable': False, 'message': MSG_NO_PERMISSION}),
    (None, False, False, {'initial_netns': None, 'writable': False, 'message': MSG_UNAVAILABLE}),
])
def test_netns_state(mode, readonly, access, expected):
    assert netns_state(mode, readonly, access) == expected


# dmesg lines in the two forms kernels print (the second "nf_conntrack: " comes from pr_fmt)
KERNEL_LOG = """\
[  812.100001] nf_conntrack: nf_conntrack: table full, dropping packet
[  812.100450] nf_conntrack: nf_conntrack: table full, dropping packet
[  817.000012] net_ratelimit: 211 callbacks suppressed
[  901.331000] nf_conntrack: table full, dropping packet.
[ 1002.000000] br0: port 1(v-gw) entered disabled state
"""


@pytest.mark.parametrize('text, expected', [
    (KERNEL_LOG, 3),
    ('[    0.000000] Linux version 6.18.44\n', 0),
    ('', 0),
    (None, None),
])
def test_count_table_full(text, expected):
    assert count_table_full(text) == expected


def test_build_info_matches_the_contract():
    netns = netns_state(0o100444, False, False)
    info = build_info(count=300, max_entries=262144, buckets=262144, stat_text=fixture('conntrack-stat-invalid.txt'),
                      netns=netns, table_full_messages=0, kernel_log='dmesg')
    # docs/architecture.md, conntrack_info
    assert set(info) >= {'available', 'count', 'max', 'buckets', 'usage', 'initial_netns', 'writable', 'stats',
                         'per_cpu', 'memory_bytes', 'max_memory_bytes'}
    assert info['available'] is True
    assert info['usage'] == round(300 / 262144.0, 6)
    assert info['initial_netns'] is False and info['writable'] is False
    assert info['stats']['invalid'] == 10
    assert len(info['per_cpu']) == 2
    assert info['memory_bytes'] == 300 * 320 + 262144 * 8
    assert info['max_memory_bytes'] == 85983232
    assert info['message'] == MSG_NOT_INITIAL
    assert info['table_full_messages'] == 0 and info['kernel_log'] == 'dmesg'


def test_build_info_takes_count_from_stats_when_the_sysctl_is_missing():
    info = build_info(count=None, max_entries=262144, buckets=None, stat_text=fixture('conntrack-stat-full.txt'),
                      netns=netns_state(0o100644, False, True))
    assert info['count'] == 262144
    assert info['usage'] == 1.0
    assert info['memory_bytes'] is None
    assert info['writable'] is True


def test_build_info_without_stat_file():
    info = build_info(count=5, max_entries=0, buckets=512, stat_text=None, netns=netns_state(0o100644, False, True))
    assert info['stats'] == {} and info['per_cpu'] == []
    assert info['usage'] is None


def test_unavailable_result_has_every_key():
    keys = set(build_info(1, 2, 3, None, netns_state(0o100644, False, True)))
    result = unavailable_result()
    assert set(result) == keys
    assert result['available'] is False and result['count'] is None and result['message'] == MSG_UNAVAILABLE
