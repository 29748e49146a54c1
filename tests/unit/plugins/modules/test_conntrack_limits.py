# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""conntrack_limits against a fake kernel tree: writes, read-back, rollback, persistence, check mode,
read-only namespaces and refusals."""

from __future__ import annotations

import errno
import os
import struct

import pytest

from ansible_collections.keeplocal.traffic.plugins.modules import conntrack_limits
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.conntrack_fakes import FakeKernel
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import run

GRANULE = os.sysconf('SC_PAGE_SIZE') // struct.calcsize('P')


def rounded(value):
    return -(-value // GRANULE) * GRANULE


@pytest.fixture
def fake(tmp_path, monkeypatch):
    def make(**kw):
        k = FakeKernel(str(tmp_path), **kw)
        monkeypatch.setattr(conntrack_limits, 'NETFILTER_SYSCTL', k.netfilter)
        monkeypatch.setattr(conntrack_limits, 'MODULE_DIR', k.module_dir)
        monkeypatch.setattr(conntrack_limits, 'MEMINFO', k.meminfo)
        return k
    return make


def files_args(k, **kw):
    args = {
        'sysctl_file': os.path.join(k.etc, 'sysctl.d/90-keeplocal-conntrack.conf'),
        'modprobe_file': os.path.join(k.etc, 'modprobe.d/keeplocal-conntrack.conf'),
        'modules_load_file': os.path.join(k.etc, 'modules-load.d/keeplocal-conntrack.conf'),
    }
    args.update(kw)
    return args


def content(path):
    with open(path) as f:
        return [line for line in f.read().splitlines() if line and not line.startswith('#')]


RAISE = {'policy': 'fixed', 'max': 524288, 'hashsize': 300000, 'timeouts': {'established': 86400}}


def test_raise_apply_persist_and_rerun(fake, capsys):
    k = fake()
    args = files_args(k, **RAISE)
    failed, r = run(conntrack_limits.main, args, capsys, diff=True)
    assert not failed, r['msg']
    assert r['changed'] is True and r['applied'] is True
    # runtime values, read back
    assert k.get('nf_conntrack_max') == 524288
    assert k.hashsize() == rounded(300000)
    assert k.get('nf_conntrack_tcp_timeout_established') == 86400
    assert k.get('nf_conntrack_tcp_timeout_time_wait') == 120  # not asked: unchanged
    assert r['after']['max'] == 524288 and r['before']['max'] == 262144
    assert r['target']['memory_bytes'] == 524288 * 320 + rounded(300000) * 8
    # persistence
    assert content(args['sysctl_file']) == [
        'net.netfilter.nf_conntrack_buckets = %d' % rounded(300000),
        'net.netfilter.nf_conntrack_max = 524288',
        'net.netfilter.nf_conntrack_tcp_timeout_established = 86400',
    ]
    assert content(args['modprobe_file']) == ['options nf_conntrack hashsize=%d' % rounded(300000)]
    assert content(args['modules_load_file']) == ['nf_conntrack']
    assert all(f['changed'] for f in r['files'].values())
    assert 'nf_conntrack_max 262144 -> 524288' in r['msg'] and 'persisted' in r['msg']
    # diff: runtime plus the three files
    assert [d['after_header'] for d in r['diff']] == ['runtime', args['modprobe_file'], args['modules_load_file'], args['sysctl_file']]
    assert 'nf_conntrack_max = 262144' in r['diff'][0]['before'] and 'nf_conntrack_max = 524288' in r['diff'][0]['after']

    # idempotent
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, args, capsys)
    assert not failed and r['changed'] is False
    assert k.snapshot() == snap
    assert not any(f['changed'] for f in r['files'].values())


def test_check_mode_writes_nothing(fake, capsys):
    k = fake()
    args = files_args(k, **RAISE)
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, args, capsys, check_mode=True, diff=True)
    assert not failed and r['changed'] is True
    assert r['after']['max'] == 524288  # predicted
    assert k.snapshot() == snap
    assert not os.path.exists(args['sysctl_file'])


def test_kube_proxy_on_many_cpus(fake, capsys, monkeypatch):
    k = fake()
    monkeypatch.setattr(conntrack_limits.os, 'cpu_count', lambda: 16)
    failed, r = run(conntrack_limits.main, files_args(k, persist=False), capsys)
    assert not failed
    assert k.get('nf_conntrack_max') == 524288
    assert k.hashsize() == 262144  # max/4 is below the running size: kept
    assert 'policy kube_proxy' in r['target']['max_reason']
    assert r['files'] == {}
    assert not os.path.exists(k.etc)


def test_not_lowered_without_allow_lower(fake, capsys):
    k = fake()
    failed, r = run(conntrack_limits.main, files_args(k, policy='fixed', max=200000, persist=False), capsys)
    assert not failed and r['changed'] is False
    assert k.get('nf_conntrack_max') == 262144
    assert 'kept' in r['target']['max_reason']


def test_lowered_with_allow_lower(fake, capsys):
    k = fake()
    failed, r = run(conntrack_limits.main, files_args(k, policy='fixed', max=200000, allow_lower=True, persist=False), capsys)
    assert not failed and r['changed'] is True
    assert k.get('nf_conntrack_max') == 200000 and k.hashsize() == rounded(50000)


@pytest.mark.parametrize('args, field', [
    ({'policy': 'fixed', 'max': 1000, 'allow_lower': True}, 'max'),  # below count 21 + headroom 16384
    ({'policy': 'fixed', 'max': 0}, 'max'),
    ({'policy': 'fixed'}, 'max'),
    ({'policy': 'fixed', 'max': 524288, 'hashsize': 600000}, 'hashsize'),
    ({'policy': 'memory', 'memory_share': 0.9}, 'memory_share'),
    ({'timeouts': {'established': 0}}, 'timeouts.established'),
])
def test_refusals_name_the_field_and_change_nothing(fake, capsys, args, field):
    k = fake()
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, files_args(k, **args), capsys)
    assert failed
    assert r['field'] == field
    assert field.split('.')[0] in r['msg']
    assert k.snapshot() == snap


def test_every_bad_value_is_named_at_once(fake, capsys):
    k = fake()
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, files_args(k, policy='fixed', cap=5, timeouts={'close_wait': 0}), capsys)
    assert failed and r['field'] == 'max'
    assert r['msg'] == (
        'max is required by policy=fixed (the nf_conntrack_max to set), e.g. max=262144; '
        'cap must be 0 (no cap) or at least floor (131072) and at most 2147483647, got 5; '
        'timeouts.close_wait must be from 1 to 2147483 seconds, or unset to leave it unchanged (kube-proxy uses 3600), got 0')
    assert k.snapshot() == snap


@pytest.mark.parametrize('args, words', [
    ({'policy': 'fixed', 'max': 'lots'}, "'max'"),
    ({'policy': 'bogus'}, 'policy'),
])
def test_type_errors_name_the_option(fake, capsys, args, words):
    k = fake()
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, files_args(k, **args), capsys)
    assert failed and words in r['msg']
    assert k.snapshot() == snap


def test_container_reports_what_to_set_on_the_host(fake, capsys):
    k = fake(initial_netns=False)
    args = files_args(k, **RAISE)
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, args, capsys)
    assert not failed and r['changed'] is False
    assert r['applied'] is False and r['writable'] is False and r['initial_netns'] is False
    assert r['would_set'] == {'nf_conntrack_max': 524288, 'hashsize': rounded(300000), 'timeouts': {'established': 86400},
                              'accounting': None}
    assert 'apply it on the host' in r['msg'] and 'nf_conntrack_max=524288' in r['msg']
    assert k.snapshot() == snap


def test_without_nf_conntrack(fake, capsys):
    k = fake(loaded=False)
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, files_args(k, **RAISE), capsys)
    assert not failed and r['changed'] is False
    assert r['available'] is False and r['applied'] is False
    assert 'not loaded' in r['msg']
    assert k.snapshot() == snap


def test_value_not_taken_is_rolled_back(fake, capsys, monkeypatch):
    """sysctl -w exits 0 with 'Invalid argument': the module reads back instead of trusting the write."""
    k = fake()
    real_write = conntrack_limits.write_int

    def kernel(path, value):
        if path.endswith('nf_conntrack_max'):
            return  # the write "succeeds" and the value stays
        real_write(path, value)

    monkeypatch.setattr(conntrack_limits, 'write_int', kernel)
    args = files_args(k, **RAISE)
    failed, r = run(conntrack_limits.main, args, capsys)
    assert failed
    assert 'nf_conntrack_max reads back 262144 after writing 524288' in r['msg']
    assert k.hashsize() == 262144  # the hash size written before was restored
    assert k.get('nf_conntrack_max') == 262144
    assert not os.path.exists(args['sysctl_file'])


def test_kernel_refusal_rolls_back_earlier_writes(fake, capsys, monkeypatch):
    k = fake()
    real_write = conntrack_limits.write_int

    def kernel(path, value):
        if path.endswith('timeout_established') and value == 86400:
            raise OSError(errno.EINVAL, 'Invalid argument')
        real_write(path, value)

    monkeypatch.setattr(conntrack_limits, 'write_int', kernel)
    failed, r = run(conntrack_limits.main, files_args(k, **RAISE), capsys)
    assert failed and 'refused nf_conntrack_tcp_timeout_established = 86400' in r['msg']
    assert 'Invalid argument' in r['msg']
    assert (k.get('nf_conntrack_max'), k.hashsize()) == (262144, 262144)
    assert r['after']['max'] == 262144


def test_replaced_file_is_backed_up(fake, capsys):
    k = fake()
    args = files_args(k, **RAISE)
    os.makedirs(os.path.dirname(args['sysctl_file']))
    with open(args['sysctl_file'], 'w') as f:
        f.write('net.netfilter.nf_conntrack_max = 1\n')
    failed, r = run(conntrack_limits.main, args, capsys)
    assert not failed
    backup = r['files']['sysctl']['backup_file']
    assert not backup.endswith('.conf')  # sysctl.d only reads *.conf
    with open(backup) as f:
        assert f.read() == 'net.netfilter.nf_conntrack_max = 1\n'
    assert 'backup_file' not in r['files']['modprobe']  # created, not replaced


def test_buckets_line_only_where_the_sysctl_is_writable(fake, capsys):
    k = fake(builtin=False)
    os.chmod(k.path('nf_conntrack_buckets'), 0o444)
    args = files_args(k, **RAISE)
    failed, r = run(conntrack_limits.main, args, capsys)
    assert not failed
    assert r['nf_conntrack_builtin'] is False
    assert not any('buckets' in line for line in content(args['sysctl_file']))
    assert k.hashsize() == rounded(300000)  # set through the module parameter


def test_builtin_detected(fake, capsys):
    k = fake(builtin=True)
    dummy, r = run(conntrack_limits.main, files_args(k, persist=False), capsys, check_mode=True)
    assert r['nf_conntrack_builtin'] is True


ACCOUNTING_ON = dict(RAISE, accounting=True)


def test_accounting_on_written_read_back_persisted_and_rerun(fake, capsys):
    k = fake()
    args = files_args(k, **ACCOUNTING_ON)
    failed, r = run(conntrack_limits.main, args, capsys, diff=True)
    assert not failed, r['msg']
    assert k.get('nf_conntrack_acct') == 1
    assert (r['before']['accounting'], r['after']['accounting']) == (0, 1)
    assert r['target']['changes']['accounting'] == {'before': 0, 'after': 1}
    assert 'net.netfilter.nf_conntrack_acct = 1' in content(args['sysctl_file'])
    assert 'nf_conntrack_acct 0 -> 1' in r['msg']
    assert 'nf_conntrack_acct = 0' in r['diff'][0]['before'] and 'nf_conntrack_acct = 1' in r['diff'][0]['after']
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, args, capsys)
    assert not failed and r['changed'] is False
    assert k.snapshot() == snap


def test_accounting_unset_is_left_alone_and_not_persisted(fake, capsys):
    k = fake()
    k.set('nf_conntrack_acct', 1)
    args = files_args(k, **RAISE)
    failed, r = run(conntrack_limits.main, args, capsys)
    assert not failed
    assert k.get('nf_conntrack_acct') == 1
    assert 'accounting' not in r['target']['changes']
    assert not any('nf_conntrack_acct' in line for line in content(args['sysctl_file']))


def test_accounting_off_is_written_as_zero(fake, capsys):
    k = fake()
    k.set('nf_conntrack_acct', 1)
    args = files_args(k, accounting=False)
    failed, r = run(conntrack_limits.main, args, capsys)
    assert not failed, r['msg']
    assert k.get('nf_conntrack_acct') == 0
    assert 'net.netfilter.nf_conntrack_acct = 0' in content(args['sysctl_file'])


def test_accounting_check_mode_predicts_and_writes_nothing(fake, capsys):
    k = fake()
    args = files_args(k, accounting=True)
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, args, capsys, check_mode=True, diff=True)
    assert not failed and r['changed'] is True
    assert r['after']['accounting'] == 1
    assert 'nf_conntrack_acct = 1' in r['diff'][0]['after']
    assert k.snapshot() == snap


def test_accounting_not_taken_is_rolled_back_with_the_rest(fake, capsys, monkeypatch):
    k = fake()
    real_write = conntrack_limits.write_int

    def kernel(path, value):
        if path.endswith('nf_conntrack_acct'):
            return  # the write "succeeds" and the value stays
        real_write(path, value)

    monkeypatch.setattr(conntrack_limits, 'write_int', kernel)
    args = files_args(k, **ACCOUNTING_ON)
    failed, r = run(conntrack_limits.main, args, capsys)
    assert failed and 'nf_conntrack_acct reads back 0 after writing 1' in r['msg']
    assert (k.get('nf_conntrack_max'), k.get('nf_conntrack_tcp_timeout_established')) == (262144, 432000)
    assert not os.path.exists(args['sysctl_file'])


def test_accounting_is_set_in_another_network_namespace_at_run_time_only(fake, capsys):
    """nf_conntrack_acct belongs to the namespace and the kernel leaves it writable there (0644,
    where nf_conntrack_max is 0444): set here, no file written, the limits reported for the host."""
    k = fake(initial_netns=False)
    args = files_args(k, **ACCOUNTING_ON)
    failed, r = run(conntrack_limits.main, args, capsys, diff=True)
    assert not failed, r['msg']
    assert r['changed'] is True and r['applied'] is False
    assert k.get('nf_conntrack_acct') == 1
    assert k.get('nf_conntrack_max') == 262144
    assert r['after']['accounting'] == 1 and r['would_set']['accounting'] is None
    assert 'nf_conntrack_max=524288' in r['msg'] and 'nf_conntrack_acct=' not in r['msg'].split('apply it on the host')[0]
    assert 'nf_conntrack_acct 0 -> 1 in this network namespace' in r['msg'] and '--sysctl net.netfilter.nf_conntrack_acct=1' in r['msg']
    assert not os.path.exists(os.path.dirname(args['sysctl_file']))
    assert [d['after'] for d in r['diff']] == ['nf_conntrack_acct = 1\n']
    failed, r = run(conntrack_limits.main, args, capsys)
    assert not failed and r['changed'] is False


def test_accounting_in_another_namespace_check_mode(fake, capsys):
    k = fake(initial_netns=False)
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, files_args(k, accounting=True), capsys, check_mode=True)
    assert not failed and r['changed'] is True and r['after']['accounting'] == 1
    assert 'would set nf_conntrack_acct 0 -> 1 in this network namespace' in r['msg']
    assert k.snapshot() == snap


def test_accounting_read_only_in_another_namespace_is_reported(fake, capsys, monkeypatch):
    k = fake(initial_netns=False)
    monkeypatch.setattr(conntrack_limits, 'sysctl_writable', lambda path: False)
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, files_args(k, accounting=True), capsys)
    assert not failed and r['changed'] is False
    assert r['would_set']['accounting'] is True
    assert 'nf_conntrack_acct belongs to this network namespace, where it is read-only' in r['msg']
    assert k.snapshot() == snap


def test_accounting_read_only_mount_in_the_initial_namespace_goes_to_the_host(fake, capsys, monkeypatch):
    k = fake()
    monkeypatch.setattr(conntrack_limits, 'read_netns_state', lambda path: {
        'initial_netns': True, 'writable': False, 'message': 'this is the initial network namespace but /proc/sys is mounted read-only'})
    monkeypatch.setattr(conntrack_limits, 'sysctl_writable', lambda path: False)
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, files_args(k, accounting=True), capsys)
    assert not failed and r['changed'] is False
    assert r['would_set']['accounting'] is True
    assert 'nf_conntrack_acct=1' in r['msg'].split('apply it on the host')[0]
    assert k.snapshot() == snap


def test_accounting_must_be_a_bool(fake, capsys):
    k = fake()
    snap = k.snapshot()
    failed, r = run(conntrack_limits.main, files_args(k, accounting='sometimes'), capsys)
    assert failed and 'accounting' in r['msg']
    assert k.snapshot() == snap
