# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hairpin_facts: one run returns what the five single-source modules return, on a fake gateway and
a fake client built from captured text."""

from __future__ import annotations

import shutil
import socket

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _host_facts
from ansible_collections.keeplocal.traffic.plugins.modules import (
    conntrack_info,
    dns_answers_info,
    hairpin_facts,
    hairpin_flows_info,
    nat_rules_info,
    outbound_flows_info,
)
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.conntrack_fakes import FakeKernel, FakeNetlink
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import (
    fake_tools,
    fixture,
    fixture_path,
    run,
)

EMPTY_NAT = '\n'.join(line for line in fixture('iptables-save-nat.txt').splitlines()
                      if not line.startswith('-A') and not line.startswith(':FORWARDS')) + '\n'
NAMES = ['app.example.test']
NOISE = ('changed', 'failed', 'invocation', 'warnings')


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A fake host: 'gw' has the captured NAT rules and conntrack table, 'cli' an empty nat table.
    Netlink answers EPERM unless a captured ``netlink`` dump is given (the table is then read from it)."""
    def build(kind, netlink='ctnetlink-eperm.txt'):
        kernel = FakeKernel(str(tmp_path / 'kernel'))
        sock = FakeNetlink(dump=netlink)
        monkeypatch.setattr(_host_facts, 'netlink_socket', lambda: sock)
        monkeypatch.setattr(_host_facts, 'IPVS_TABLE', str(tmp_path / 'no-ip_vs'))
        monkeypatch.setattr(_host_facts, 'NETFILTER_SYSCTL', kernel.netfilter)
        monkeypatch.setattr(_host_facts, 'CONNTRACK_STAT', kernel.stat_file)
        monkeypatch.setattr(_host_facts, 'CONNTRACK_TABLE', fixture_path('nf_conntrack.txt'))
        proc = tmp_path / 'proc'
        (proc / 'net').mkdir(parents=True)
        for name in ('tcp', 'tcp6'):
            (proc / 'net' / name).write_text(fixture('cli-proc-net-%s.txt' % name))
        monkeypatch.setattr(_host_facts, 'PROC', str(proc))
        resolv = tmp_path / 'resolv.conf'
        resolv.write_text('nameserver 192.168.77.1\n')
        monkeypatch.setattr(_host_facts, 'RESOLV_CONF', str(resolv))
        monkeypatch.setattr(_host_facts.socket, 'getaddrinfo',
                            lambda name, *a, **kw: [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('198.51.100.1', 0))])
        nat = fixture('iptables-save-nat.txt') if kind == 'gw' else EMPTY_NAT
        return fake_tools(monkeypatch, {'iptables-save': (0, nat, ''), 'ip': (0, fixture('cli-ip-j-addr.json'), '')})
    return build


def parts(result):
    return {key: value for key, value in result.items() if key not in NOISE}


def single(main, args, capsys):
    failed, result = run(main, args, capsys)
    assert not failed, result
    return parts(result)


def test_gateway_in_one_run_equals_the_single_modules(host, capsys):
    host('gw')
    failed, result = run(hairpin_facts.main, {'names': NAMES}, capsys, check_mode=True)
    assert not failed and result['changed'] is False
    assert sorted(parts(result)) == ['addresses', 'conntrack', 'dns_answers', 'hairpin_flows', 'nat_rules', 'outbound_flows']
    assert result['conntrack'] == single(conntrack_info.main, {}, capsys)
    assert result['nat_rules'] == single(nat_rules_info.main, {'source': 'auto'}, capsys)
    assert result['hairpin_flows'] == single(hairpin_flows_info.main, {}, capsys)
    assert result['outbound_flows'] == single(outbound_flows_info.main, {}, capsys)
    assert result['dns_answers'] == single(dns_answers_info.main, {'names': NAMES}, capsys)
    assert result['addresses'] == result['outbound_flows']['local_addresses'] == ['192.168.77.10', 'fd77::10']
    assert result['hairpin_flows']['hairpin_entries'] == 8
    assert [item['remote_ip'] for item in result['outbound_flows']['to_public']] == ['198.51.100.1', '2001:db8:77::1', '198.51.100.1']


def test_gateway_reads_its_table_over_netlink(host, capsys):
    host('gw', netlink='ctnetlink-dump-dnat.txt')
    failed, result = run(hairpin_facts.main, {}, capsys)
    assert not failed
    flows = result['hairpin_flows']
    assert flows['source'] == 'netlink' and flows['kernel_filter'] is True
    assert flows['total_entries'] == 16 and flows['hairpin_entries'] == 11
    assert flows == single(hairpin_flows_info.main, {'public_addresses': ['198.51.100.1']}, capsys)


def test_client_skips_the_conntrack_scan_and_dns_without_names(host, capsys):
    calls = host('cli')
    failed, result = run(hairpin_facts.main, {}, capsys)
    assert not failed
    assert sorted(parts(result)) == ['addresses', 'conntrack', 'nat_rules', 'outbound_flows']
    assert result['nat_rules']['forwards'] == []
    assert [call[0] for call in calls] == ['/usr/sbin/iptables-save', '/usr/sbin/ip']  # one read of each source


def test_forwarded_addresses_join_the_scan(host, tmp_path, monkeypatch, capsys):
    """A gateway whose public side is inside the internal ranges (carrier-grade NAT) still finds its
    hairpin flows: its own forwarded addresses count as public in the scan."""
    host('gw')
    cgnat = tmp_path / 'nf_conntrack-cgnat'
    cgnat.write_text(fixture('nf_conntrack.txt').replace('198.51.100.1', '100.64.7.1'))
    monkeypatch.setattr(_host_facts, 'CONNTRACK_TABLE', str(cgnat))
    fake_tools(monkeypatch, {'iptables-save': (0, fixture('iptables-save-nat.txt').replace('198.51.100.1', '100.64.7.1'), '')})
    dummy, result = run(hairpin_facts.main, {}, capsys)
    assert result['hairpin_flows']['hairpin_entries'] == 8
    dummy, alone = run(hairpin_flows_info.main, {}, capsys)
    assert alone['hairpin_entries'] == 2  # only the IPv6 flows: 100.64.7.1 is internal by default


@pytest.mark.parametrize('forwards, addresses', [
    ([{'public_ip': '198.51.100.1'}, {'public_ip': '198.51.100.1/32'}, {'public_ip': '2001:db8::1/128'}],
     ['198.51.100.1', '198.51.100.1', '2001:db8::1']),
    ([{'public_ip': '198.51.100.0/28'}, {'public_ip': None}, {'public_ip': 'eth0'}], []),
])
def test_forwarded_addresses(forwards, addresses):
    assert hairpin_facts.forwarded_addresses(forwards) == addresses


@pytest.mark.parametrize('args, message', [
    ({'flow_limit': -1}, 'flow_limit must be 0 or more'),
    ({'names': ['app example']}, "names: 'app example' is not a host name"),
    ({'internal_cidrs': ['10.0.0.0/40']}, "internal_cidrs: '10.0.0.0/40' is not a CIDR"),
    ({'public_addresses': ['198.51.100.1:80']}, "public_addresses: '198.51.100.1:80' is not an IP address"),
])
def test_bad_input_fails_before_reading(host, capsys, args, message):
    calls = host('gw')
    failed, result = run(hairpin_facts.main, args, capsys)
    assert failed and message in result['msg']
    assert calls == []


def test_proc_without_tcp_fails_clearly(host, monkeypatch, tmp_path, capsys):
    host('cli')
    shutil.rmtree(str(tmp_path / 'proc'))
    failed, result = run(hairpin_facts.main, {}, capsys)
    assert failed and 'net/tcp is not readable' in result['msg']
