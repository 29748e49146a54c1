# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""outbound_flows_info on a fake /proc built from captured socket tables: net/tcp, net/tcp6,
net/fib_trie, net/if_inet6, and /proc/PID/fd socket links for the captured inode owners."""

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _host_facts
from ansible_collections.keeplocal.traffic.plugins.modules import outbound_flows_info
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.fake_hosts import fake_proc
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import fake_tools, fixture, run, warnings

PUBLIC = ['198.51.100.1', '2001:db8:77::1']


@pytest.fixture
def proc(tmp_path, monkeypatch):
    def build(host, with_processes=True):
        root = fake_proc(tmp_path / 'proc', host, with_processes)
        monkeypatch.setattr(_host_facts, 'PROC', str(root))
        return root
    return build


def test_client_with_ip_command(proc, monkeypatch, capsys):
    proc('cli')
    calls = fake_tools(monkeypatch, {'ip': (0, fixture('cli-ip-j-addr.json'), '')})
    failed, result = run(outbound_flows_info.main, {'public_addresses': PUBLIC}, capsys)
    assert not failed and result['changed'] is False
    assert calls == [['/usr/sbin/ip', '-j', 'addr']]
    assert result['local_addresses'] == ['192.168.77.10', 'fd77::10']
    assert result['to_public'] == [
        {'remote_ip': '198.51.100.1', 'remote_port': 80, 'connections': 4, 'process': 'curl'},
        {'remote_ip': '2001:db8:77::1', 'remote_port': 80, 'connections': 2, 'process': 'curl6'},
        {'remote_ip': '198.51.100.1', 'remote_port': 5432, 'connections': 1, 'process': 'psql'},
    ]
    assert result['listeners'] == [] and result['same_host'] == []


def test_client_without_iproute2(proc, monkeypatch, capsys):
    proc('cli')
    fake_tools(monkeypatch, {})
    dummy, result = run(outbound_flows_info.main, {'public_addresses': PUBLIC}, capsys, check_mode=True)
    # from /proc/net/fib_trie and /proc/net/if_inet6
    assert result['local_addresses'] == ['192.168.77.10', 'fd77::10']
    assert len(result['to_public']) == 3


def test_backend_same_host(proc, monkeypatch, capsys):
    proc('srv')
    fake_tools(monkeypatch, {'ip': (0, fixture('srv-ip-j-addr.json'), '')})
    dummy, result = run(outbound_flows_info.main, {'public_addresses': PUBLIC}, capsys)
    assert [(item['ip'], item['port'], item['process']) for item in result['listeners']] == [
        ('::', 22, 'sshd'), ('::', 80, 'httpd'), ('::', 81, 'httpd6'), ('127.0.0.1', 8000, 'gunicorn'), ('::1', 9000, 'python3'),
    ]
    assert result['same_host'][0] == {'remote_ip': '127.0.0.1', 'remote_port': 8000, 'connections': 4,
                                      'client_process': 'nginx', 'listener_process': 'gunicorn'}
    assert len(result['same_host']) == 3
    assert result['to_public'] == []


def test_process_names_not_readable(proc, monkeypatch, capsys):
    proc('srv', with_processes=False)
    fake_tools(monkeypatch, {'ip': (1, '', 'Cannot open netlink socket')})
    dummy, result = run(outbound_flows_info.main, {}, capsys)
    assert result['local_addresses'] == ['192.168.77.20']   # fib_trie fallback; no if_inet6 here
    assert all(item['process'] is None and item['pid'] is None for item in result['listeners'])
    assert result['same_host'][0]['client_process'] is None


def test_public_means_outside_the_internal_ranges(proc, monkeypatch, capsys):
    proc('cli')
    fake_tools(monkeypatch, {})
    dummy, result = run(outbound_flows_info.main, {}, capsys)
    assert [(item['remote_ip'], item['remote_port']) for item in result['to_public']] == [
        ('198.51.100.1', 80), ('2001:db8:77::1', 80), ('198.51.100.1', 5432)]
    # Declared internal, the documentation range is no longer public.
    dummy, result = run(outbound_flows_info.main, {'internal_cidrs': ['192.168.0.0/16', '198.51.100.0/24']}, capsys)
    assert [item['remote_ip'] for item in result['to_public']] == ['2001:db8:77::1']


def test_listed_address_inside_internal_ranges_counts_as_public(proc, monkeypatch, capsys):
    proc('cli')
    fake_tools(monkeypatch, {})
    failed, result = run(outbound_flows_info.main, {'public_addresses': ['192.168.77.20']}, capsys)
    assert not failed and warnings(result) == []
    assert {'remote_ip': '192.168.77.20', 'remote_port': 80, 'connections': 1, 'process': 'curl'} in result['to_public']
    assert len(result['to_public']) == 4


@pytest.mark.parametrize('args, message', [
    ({'public_addresses': ['app.example.test']}, "public_addresses: 'app.example.test' is not an IP address"),
    ({'internal_cidrs': ['192.168.1.0/24', '10.0.0.0/40']}, "internal_cidrs: '10.0.0.0/40' is not a CIDR"),
])
def test_bad_input(proc, monkeypatch, capsys, args, message):
    proc('cli')
    fake_tools(monkeypatch, {})
    failed, result = run(outbound_flows_info.main, args, capsys)
    assert failed and message in result['msg']


def test_no_proc(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_host_facts, 'PROC', str(tmp_path / 'nothing'))
    fake_tools(monkeypatch, {})
    failed, result = run(outbound_flows_info.main, {}, capsys)
    assert failed and 'net/tcp is not readable' in result['msg']
