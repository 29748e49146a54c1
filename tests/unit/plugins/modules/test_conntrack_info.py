# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""conntrack_info against a fake kernel tree holding text captured from a real one."""

from __future__ import annotations

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils import _host_facts
from ansible_collections.keeplocal.traffic.plugins.modules import conntrack_info
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.conntrack_fakes import FakeKernel
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import fixture, run

DMESG = """\
[  812.100001] nf_conntrack: nf_conntrack: table full, dropping packet
[  817.000012] net_ratelimit: 211 callbacks suppressed
[  818.100450] nf_conntrack: nf_conntrack: table full, dropping packet
"""


def kernel_log(monkeypatch, dmesg=(0, DMESG, ''), journal=(0, '', ''), have=('dmesg', 'journalctl')):
    calls = []

    def run_command(self, args, **kw):
        calls.append(args[0])
        return dmesg if args[0].endswith('dmesg') else journal

    monkeypatch.setattr(AnsibleModule, 'get_bin_path', lambda self, name, *a, **kw: '/usr/bin/' + name if name in have else None)
    monkeypatch.setattr(AnsibleModule, 'run_command', run_command)
    return calls


@pytest.fixture
def fake(tmp_path, monkeypatch):
    def make(**kw):
        k = FakeKernel(str(tmp_path), **kw)
        monkeypatch.setattr(_host_facts, 'NETFILTER_SYSCTL', k.netfilter)
        monkeypatch.setattr(_host_facts, 'CONNTRACK_STAT', k.stat_file)
        return k
    return make


def test_host_namespace(fake, monkeypatch, capsys):
    fake(stat='conntrack-stat-host.txt')
    kernel_log(monkeypatch)
    failed, r = run(conntrack_info.main, {}, capsys)
    assert not failed and r['changed'] is False
    assert r['available'] is True
    assert (r['count'], r['max'], r['buckets']) == (21, 262144, 262144)
    assert r['usage'] == round(21 / 262144.0, 6)
    assert r['initial_netns'] is True and r['writable'] is True and r['message'] is None
    assert len(r['per_cpu']) == 2 and r['per_cpu'][1]['cpu'] == 1
    # the stat file's own snapshot of the table size (captured at another moment than count)
    assert r['stats']['entries'] == int(fixture('conntrack-stat-host.txt').splitlines()[1].split()[0], 16)
    assert r['memory_bytes'] == 21 * 320 + 262144 * 8
    assert r['max_memory_bytes'] == 85983232
    assert r['table_full_messages'] == 2 and r['kernel_log'] == 'dmesg'


def test_container_namespace_is_read_only(fake, monkeypatch, capsys):
    fake(initial_netns=False, stat='conntrack-stat-invalid.txt')
    kernel_log(monkeypatch)
    failed, r = run(conntrack_info.main, {'bytes_per_entry': 400}, capsys, check_mode=True)
    assert not failed and r['changed'] is False
    assert r['initial_netns'] is False and r['writable'] is False
    assert 'must be set on the host' in r['message']
    assert r['stats']['invalid'] == 10
    assert r['memory_bytes'] == 21 * 400 + 262144 * 8


def test_full_table_counters(fake, monkeypatch, capsys):
    fake(stat='conntrack-stat-full.txt')
    kernel_log(monkeypatch)
    dummy, r = run(conntrack_info.main, {}, capsys)
    assert r['stats']['early_drop'] == 0x17e31 and r['stats']['drop'] == 0


def test_without_nf_conntrack(fake, monkeypatch, capsys):
    k = fake(loaded=False)
    calls = kernel_log(monkeypatch)
    before = k.snapshot()
    failed, r = run(conntrack_info.main, {}, capsys)
    assert not failed and r['changed'] is False
    assert r['available'] is False
    assert r['count'] is None and r['stats'] == {} and r['per_cpu'] == []
    assert 'not loaded' in r['message']
    assert calls == []
    assert k.snapshot() == before


@pytest.mark.parametrize('dmesg, journal, have, expected', [
    # dmesg restricted (no CAP_SYSLOG in a container): the journal answers
    ((1, '', 'dmesg: read kernel buffer failed: Operation not permitted'), (0, DMESG, ''), ('dmesg', 'journalctl'), (2, 'journal')),
    # neither: unknown, not zero
    ((1, '', 'denied'), (0, '', 'No journal files were found.'), ('dmesg', 'journalctl'), (None, None)),
    ((1, '', 'denied'), (0, '', ''), ('dmesg',), (None, None)),
    # a container's own journal has no kernel messages: unknown, not zero
    ((1, '', 'denied'), (0, '', ''), ('dmesg', 'journalctl'), (None, None)),
    ((0, '[ 1.0] Linux version 6.18\n', ''), (0, DMESG, ''), ('dmesg', 'journalctl'), (0, 'dmesg')),
])
def test_kernel_log_sources(fake, monkeypatch, capsys, dmesg, journal, have, expected):
    fake()
    kernel_log(monkeypatch, dmesg=dmesg, journal=journal, have=have)
    dummy, r = run(conntrack_info.main, {}, capsys)
    assert (r['table_full_messages'], r['kernel_log']) == expected


def test_kernel_log_off(fake, monkeypatch, capsys):
    fake()
    calls = kernel_log(monkeypatch)
    dummy, r = run(conntrack_info.main, {'kernel_log': False}, capsys)
    assert calls == [] and r['table_full_messages'] is None and r['kernel_log'] is None


def test_bad_bytes_per_entry(fake, monkeypatch, capsys):
    fake()
    kernel_log(monkeypatch)
    failed, r = run(conntrack_info.main, {'bytes_per_entry': 0}, capsys)
    assert failed and 'bytes_per_entry' in r['msg']


def test_garbage_stat_file_fails_clearly(fake, monkeypatch, capsys):
    k = fake()
    with open(k.stat_file, 'w') as f:
        f.write('this is not a stat file\n')
    kernel_log(monkeypatch)
    failed, r = run(conntrack_info.main, {}, capsys)
    assert failed and 'cannot parse' in r['msg']
