# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizing of nf_conntrack_max / hash size: policies, safety rules, validation, persisted files."""

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_sizing import (
    HASHSIZE_LIMIT,
    TIMEOUT_LIMIT,
    OptionNames,
    SizingError,
    plan_limits,
    policy_max,
    render_modprobe,
    render_modules_load,
    render_sysctl,
    request_problems,
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
        'timeouts': {'established': 432000, 'time_wait': 120, 'close_wait': 60}, 'accounting': 0}


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


def test_accounting_only_when_given():
    assert plan_limits(request(), current())['accounting'] is None
    assert 'accounting' not in plan_limits(request(), current(accounting=1))['changes']
    plan = plan_limits(request(accounting=True), current())
    assert plan['accounting'] is True
    assert plan['changes']['accounting'] == {'before': 0, 'after': 1}
    assert plan_limits(request(accounting=False), current(accounting=1))['changes']['accounting'] == {'before': 1, 'after': 0}
    assert 'accounting' not in plan_limits(request(accounting=True), current(accounting=1))['changes']


def test_accounting_on_a_kernel_without_it_is_refused():
    with pytest.raises(SizingError) as e:
        plan_limits(request(accounting=True), current(accounting=None))
    assert e.value.field == 'accounting' and 'no nf_conntrack_acct' in e.value.message
    assert plan_limits(request(), current(accounting=None))['changes'] == {}


@pytest.mark.parametrize('value', ['yes', 1, 0, 'true', [True]])
def test_accounting_must_be_a_bool_or_unset(value):
    problems = request_problems(request(accounting=value))
    assert [problem.field for problem in problems] == ['accounting']
    assert problems[0].message == ('accounting must be true (count packets and bytes per connection), false, or unset to leave '
                                   'nf_conntrack_acct as it is, got %r' % (value,))
    names = OptionNames(prefix='role_', timeouts='timeout_', assign='%s: %s')
    assert request_problems(request(accounting=value), names)[0].message.startswith('role_accounting must be true')


def test_memory_warning_for_a_huge_fixed_table():
    plan = plan_limits(request(policy='fixed', max=100000000), current(mem_total_bytes=8 * GIB))
    assert plan['warnings'] and 'of RAM' in plan['warnings'][0]


@pytest.mark.parametrize('changes, field, message', [
    ({'policy': 'bogus'}, 'policy', "policy must be one of fixed, kube_proxy, memory, got 'bogus'"),
    ({'policy': 'fixed'}, 'max', 'max is required by policy=fixed (the nf_conntrack_max to set), e.g. max=262144'),
    ({'max': 262144}, 'max', 'max is only used by policy=fixed (the policy is kube_proxy): remove max or set policy=fixed'),
    ({'policy': 'memory', 'max': 262144}, 'max',
     'max is only used by policy=fixed (the policy is memory): remove max or set policy=fixed'),
    ({'policy': 'fixed', 'max': 0}, 'max', 'max must be an integer from 1 to 2147483647 (entries), got 0'),
    ({'policy': 'fixed', 'max': 2 ** 31}, 'max', 'max must be an integer from 1 to 2147483647 (entries), got 2147483648'),
    ({'policy': 'fixed', 'max': 'lots'}, 'max', "max must be an integer from 1 to 2147483647 (entries), got 'lots'"),
    ({'policy': 'fixed', 'max': True}, 'max', 'max must be an integer from 1 to 2147483647 (entries), got True'),
    ({'per_core': 0}, 'per_core', 'per_core must be an integer from 1 to 2147483647 (entries per CPU, kube-proxy uses 32768), got 0'),
    # checked whatever the policy: the value is read as soon as the policy changes
    ({'policy': 'memory', 'per_core': 2 ** 31}, 'per_core',
     'per_core must be an integer from 1 to 2147483647 (entries per CPU, kube-proxy uses 32768), got 2147483648'),
    ({'floor': 0}, 'floor', 'floor must be an integer from 1 to 2147483647 (minimum entries, kube-proxy uses 131072), got 0'),
    ({'floor': True, 'cap': 0}, 'floor', 'floor must be an integer from 1 to 2147483647 (minimum entries, kube-proxy uses 131072), got True'),
    ({'cap': 1000}, 'cap', 'cap must be 0 (no cap) or at least floor (131072) and at most 2147483647, got 1000'),
    ({'cap': -1}, 'cap', 'cap must be 0 (no cap) or at least floor (131072) and at most 2147483647, got -1'),
    ({'cap': 2 ** 31}, 'cap', 'cap must be 0 (no cap) or at least floor (131072) and at most 2147483647, got 2147483648'),
    ({'cap': False}, 'cap', 'cap must be 0 (no cap) or at least floor (131072) and at most 2147483647, got False'),
    ({'policy': 'fixed', 'max': 262144, 'cap': 1000}, 'cap',
     'cap must be 0 (no cap) or at least floor (131072) and at most 2147483647, got 1000'),
    ({'memory_share': 0}, 'memory_share', 'memory_share must be a fraction of RAM above 0 and at most 0.5 (e.g. 0.05), got 0'),
    ({'policy': 'memory', 'memory_share': 0.9}, 'memory_share',
     'memory_share must be a fraction of RAM above 0 and at most 0.5 (e.g. 0.05), got 0.9'),
    ({'memory_share': '5%'}, 'memory_share', "memory_share must be a fraction of RAM above 0 and at most 0.5 (e.g. 0.05), got '5%'"),
    ({'bytes_per_entry': 63}, 'bytes_per_entry', 'bytes_per_entry must be from 64 to 65536 bytes (320 is the documented estimate), got 63'),
    ({'bytes_per_entry': 65537}, 'bytes_per_entry',
     'bytes_per_entry must be from 64 to 65536 bytes (320 is the documented estimate), got 65537'),
    ({'headroom': -1}, 'headroom', 'headroom must be from 0 to 2147483647 free entries above the entries in use, got -1'),
    ({'hashsize': 0}, 'hashsize', "hashsize must be from 1 to 268435455 buckets (the kernel's limit), or unset for max/4, got 0"),
    ({'hashsize': HASHSIZE_LIMIT + 1}, 'hashsize',
     "hashsize must be from 1 to 268435455 buckets (the kernel's limit), or unset for max/4, got 268435456"),
    ({'timeouts': {'established': 0}}, 'timeouts.established',
     'timeouts.established must be from 1 to 2147483 seconds, or unset to leave it unchanged (kube-proxy uses 86400), got 0'),
    ({'timeouts': {'time_wait': TIMEOUT_LIMIT + 1}}, 'timeouts.time_wait',
     "timeouts.time_wait must be from 1 to 2147483 seconds, or unset to leave it unchanged (the kernel's 120 is sane), got 2147484"),
    ({'timeouts': {'close_wait': 'x'}}, 'timeouts.close_wait',
     "timeouts.close_wait must be from 1 to 2147483 seconds, or unset to leave it unchanged (kube-proxy uses 3600), got 'x'"),
    ({'timeouts': {'fin_wait': 10}}, 'timeouts', "timeouts: unknown timeout 'fin_wait', use close_wait, established, time_wait"),
])
def test_each_rule_names_the_option_and_the_fix(changes, field, message):
    problems = request_problems(request(**changes))
    assert [(problem.field, problem.message) for problem in problems] == [(field, message)]


@pytest.mark.parametrize('changes', [
    {},
    {'policy': 'fixed', 'max': 1}, {'policy': 'fixed', 'max': 2 ** 31 - 1},
    {'policy': 'memory'},
    {'per_core': 1}, {'per_core': 2 ** 31 - 1},
    {'floor': 1, 'cap': 1}, {'cap': 0}, {'cap': 131072}, {'cap': 2 ** 31 - 1},
    {'memory_share': 0.5}, {'memory_share': 1e-9},
    {'bytes_per_entry': 64}, {'bytes_per_entry': 65536},
    {'headroom': 0}, {'headroom': 2 ** 31 - 1},
    {'hashsize': 1}, {'hashsize': HASHSIZE_LIMIT},
    {'timeouts': {'established': 1, 'time_wait': TIMEOUT_LIMIT, 'close_wait': None}},
    {'timeouts': None},
])
def test_values_at_the_edges_are_accepted(changes):
    assert request_problems(request(**changes)) == []


def test_every_problem_at_once_the_first_one_as_field():
    req = request(policy='fixed', per_core=0, cap=5, timeouts={'established': 0})
    assert [problem.field for problem in request_problems(req)] == ['max', 'per_core', 'cap', 'timeouts.established']
    with pytest.raises(SizingError) as e:
        validate_request(req)
    assert e.value.field == 'max'
    assert e.value.message.count('; ') == 3 and e.value.message.startswith('max is required')


def test_messages_in_a_role_spelling():
    names = OptionNames(prefix='role_', timeouts='timeout_', assign='%s: %s')
    messages = [problem.message for problem in request_problems(request(policy='fixed', cap=5, timeouts={'close_wait': 0}), names)]
    assert messages == [
        'role_max is required by role_policy: fixed (the nf_conntrack_max to set), e.g. role_max: 262144',
        'role_cap must be 0 (no cap) or at least role_floor (131072) and at most 2147483647, got 5',
        'role_timeout_close_wait must be from 1 to 2147483 seconds, or unset to leave it unchanged (kube-proxy uses 3600), got 0',
    ]


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
    assert 'nf_conntrack_acct' not in sysctl
    assert render_sysctl(524288, None, {}, True).splitlines()[-1] == 'net.netfilter.nf_conntrack_acct = 1'
    assert render_sysctl(524288, None, {}, False).splitlines()[-1] == 'net.netfilter.nf_conntrack_acct = 0'
    assert render_modprobe(131072).splitlines()[-1] == 'options nf_conntrack hashsize=131072'
    assert render_modules_load().splitlines()[-1] == 'nf_conntrack'
    for text in (sysctl, render_modprobe(1), render_modules_load()):
        assert text.startswith('# Managed by keeplocal.traffic') and text.endswith('\n')
