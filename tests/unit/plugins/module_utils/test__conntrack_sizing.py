# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizing of nf_conntrack_max / hash size: policies, safety rules, validation, persisted files."""

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_sizing import (
    HASHSIZE_LIMIT,
    TIMEOUT_LIMIT,
    SizingError,
    plan_limits,
    policy_max,
    render_modprobe,
    render_modules_load,
    render_sysctl,
    round_hashsize,
    validate_request,
)

GIB = 2 ** 30


def request(**kw):
    base = {'policy': 'kube_proxy', 'max': None, 'per_core': 32768, 'floor': 131072, 'cap': 1048576,
            'memory_share': 0.05, 'bytes_per_entry': 320, 'hashsize': None, 'headroom': 16384,
            'allow_lower': False, 'timeouts': {}}
    base.update(kw)
    return base


# This host as the module reads it (2 CPUs, 24 GiB, kernel defaults for 6.x with > 4 GiB RAM).
HOST = {'count': 21, 'max': 262144, 'buckets': 262144, 'cpus': 2, 'mem_total_bytes': 25276063744, 'granule': 512,
        'timeouts': {'established': 432000, 'time_wait': 120, 'close_wait': 60}}


def current(**kw):
    base = dict(HOST, timeouts=dict(HOST['timeouts']))
    base.update(kw)
    return base


@pytest.mark.parametrize('req, cpus, mem, expected', [
    # kube-proxy: max(per_core x CPUs, floor)
    (request(), 2, 8 * GIB, 131072),
    (request(), 4, 8 * GIB, 131072),
    (request(), 8, 8 * GIB, 262144),
    (request(), 16, 8 * GIB, 524288),
    # newer kube-proxy caps at 1048576; cap=0 means none
    (request(), 64, 8 * GIB, 1048576),
    (request(cap=0), 64, 8 * GIB, 2097152),
    (request(per_core=65536, floor=0 + 1), 3, 8 * GIB, 196608),
    # memory: entries x 320 B <= share x RAM
    (request(policy='memory', memory_share=0.05), 2, 8 * GIB, 1342177),
    (request(policy='memory', memory_share=0.01, bytes_per_entry=400), 2, 4 * GIB, 107374),
    (request(policy='fixed', max=300000), 2, 8 * GIB, 300000),
])
def test_policy_max(req, cpus, mem, expected):
    value, reason = policy_max(req, cpus, mem)
    assert value == expected
    assert req['policy'] in reason


def test_memory_policy_respects_the_budget():
    value, dummy = policy_max(request(policy='memory', memory_share=0.05), 2, 25276063744)
    assert value * 320 <= 0.05 * 25276063744 < (value + 1) * 320


@pytest.mark.parametrize('value, granule, expected', [
    (65537, 512, 66048),     # checked: the kernel reads back 66048 after writing 65537
    (300000, 512, 300032),   # checked via nf_conntrack_buckets
    (262144, 512, 262144),
    (1, 512, 512),
    (1000, 8192, 8192),      # 64 KiB pages
])
def test_round_hashsize_like_the_kernel(value, granule, expected):
    assert round_hashsize(value, granule) == expected


def test_raise_with_kube_proxy_on_a_bigger_host():
    plan = plan_limits(request(), current(cpus=16))
    assert plan['max'] == 524288 and plan['policy_max'] == 524288
    assert plan['hashsize'] == 262144  # max/4 = 131072 < running 262144: kept, never lowered
    assert 'kept' in plan['hashsize_reason']
    assert plan['changes'] == {'max': {'before': 262144, 'after': 524288}}
    assert plan['memory_bytes'] == 524288 * 320 + 262144 * 8
    assert plan['lowered'] is False


def test_never_lowers_unless_asked():
    plan = plan_limits(request(), current())  # kube_proxy on 2 CPUs: 131072 < running 262144
    assert plan['policy_max'] == 131072
    assert plan['max'] == 262144 and plan['hashsize'] == 262144
    assert plan['changes'] == {}
    assert 'below the running 262144, kept' in plan['max_reason']


def test_lowers_with_allow_lower():
    plan = plan_limits(request(allow_lower=True), current())
    assert plan['max'] == 131072 and plan['hashsize'] == 32768
    assert plan['lowered'] is True
    assert plan['changes']['max'] == {'before': 262144, 'after': 131072}
    assert plan['changes']['hashsize'] == {'before': 262144, 'after': 32768}


@pytest.mark.parametrize('req, cur, field', [
    # fixed value below count + headroom: refused even with allow_lower
    (request(policy='fixed', max=1000, allow_lower=True), current(), 'max'),
    (request(policy='fixed', max=1000), current(), 'max'),
    (request(policy='fixed', max=200000, headroom=0), current(count=200001), 'max'),
    # a policy whose value cannot hold today's entries names the knob to raise
    (request(), current(count=120000), 'floor'),
    (request(policy='memory', memory_share=0.0001), current(mem_total_bytes=GIB), 'memory_share'),
])
def test_refuses_below_count_plus_headroom(req, cur, field):
    with pytest.raises(SizingError) as e:
        plan_limits(req, cur)
    assert e.value.field == field
    assert 'headroom' in e.value.message and 'drops' in e.value.message


def test_headroom_exactly_met_is_fine():
    plan = plan_limits(request(policy='fixed', max=300000, headroom=100), current(count=299900))
    assert plan['max'] == 300000


def test_explicit_hashsize_rounded_and_bounded():
    plan = plan_limits(request(policy='fixed', max=600000, hashsize=300000), current())
    assert plan['hashsize'] == 300032
    assert 'rounded up to 300032' in plan['hashsize_reason']
    assert plan['changes']['hashsize'] == {'before': 262144, 'after': 300032}
    with pytest.raises(SizingError) as e:
        plan_limits(request(policy='fixed', max=600000, hashsize=600001), current())
    assert e.value.field == 'hashsize' and 'larger than allowed' in e.value.message


def test_explicit_hashsize_lower_than_running_is_kept():
    plan = plan_limits(request(policy='fixed', max=600000, hashsize=65536), current())
    assert plan['hashsize'] == 262144 and plan['changes'] == {'max': {'before': 262144, 'after': 600000}}


def test_timeouts_only_when_given():
    plan = plan_limits(request(policy='fixed', max=262144, timeouts={'established': 86400, 'time_wait': 120, 'close_wait': None}),
                       current())
    assert plan['timeouts'] == {'established': 86400, 'time_wait': 120}
    assert plan['changes'] == {'timeout_established': {'before': 432000, 'after': 86400}}


def test_memory_warning_for_a_huge_fixed_table():
    plan = plan_limits(request(policy='fixed', max=100000000), current(mem_total_bytes=8 * GIB))
    assert plan['warnings'] and 'of RAM' in plan['warnings'][0]


@pytest.mark.parametrize('req, field, words', [
    (request(policy='bogus'), 'policy', 'must be one of'),
    (request(policy='fixed'), 'max', 'required by policy fixed'),
    (request(policy='fixed', max=0), 'max', 'at least 1'),
    (request(policy='fixed', max=-5), 'max', 'at least 1'),
    (request(policy='fixed', max='lots'), 'max', 'integer'),
    (request(policy='fixed', max=2 ** 31), 'max', 'at most'),
    (request(max=262144), 'max', 'only used by policy fixed'),
    (request(per_core=0), 'per_core', 'at least 1'),
    (request(floor=True), 'floor', 'integer'),
    (request(cap=1000), 'cap', 'below floor'),
    (request(policy='memory', memory_share=0), 'memory_share', 'fraction'),
    (request(policy='memory', memory_share=0.9), 'memory_share', 'fraction'),
    (request(bytes_per_entry=8), 'bytes_per_entry', 'at least'),
    (request(hashsize=0), 'hashsize', 'at least 1'),
    (request(hashsize=HASHSIZE_LIMIT + 1), 'hashsize', 'at most'),
    (request(headroom=-1), 'headroom', 'at least 0'),
    (request(timeouts={'established': 0}), 'timeouts.established', 'at least 1'),
    (request(timeouts={'close_wait': TIMEOUT_LIMIT + 1}), 'timeouts.close_wait', 'at most'),
    (request(timeouts={'fin_wait': 10}), 'timeouts', 'unknown timeout'),
])
def test_validation_names_the_field(req, field, words):
    with pytest.raises(SizingError) as e:
        validate_request(req)
    assert e.value.field == field
    assert words in e.value.message
    assert e.value.message.startswith(field.split('.')[0])


def test_render_files():
    sysctl = render_sysctl(524288, 131072, {'established': 86400, 'close_wait': 3600})
    lines = [line for line in sysctl.splitlines() if line and not line.startswith('#')]
    assert lines == [
        'net.netfilter.nf_conntrack_buckets = 131072',
        'net.netfilter.nf_conntrack_max = 524288',
        'net.netfilter.nf_conntrack_tcp_timeout_close_wait = 3600',
        'net.netfilter.nf_conntrack_tcp_timeout_established = 86400',
    ]
    assert 'nf_conntrack_buckets' not in render_sysctl(524288, None, {})
    assert render_modprobe(131072).splitlines()[-1] == 'options nf_conntrack hashsize=131072'
    assert render_modules_load().splitlines()[-1] == 'nf_conntrack'
    for text in (sysctl, render_modprobe(1), render_modules_load()):
        assert text.startswith('# Managed by keeplocal.traffic') and text.endswith('\n')
