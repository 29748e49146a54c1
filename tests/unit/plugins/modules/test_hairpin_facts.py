# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hairpin_facts: one run returns what the single-source modules return, on a fake gateway and a fake
client built from captured text; gather_subset picks the sources as ansible.builtin.setup does."""

from __future__ import annotations

import shutil

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _host_facts
from ansible_collections.keeplocal.traffic.plugins.module_utils._nat_rules import forwarded_addresses
from ansible_collections.keeplocal.traffic.plugins.modules import (
    conntrack_info,
    dns_answers_info,
    hairpin_facts,
    hairpin_flows_info,
    nat_rules_info,
    outbound_flows_info,
)
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.fake_hosts import fake_host
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import fake_tools, fixture, run

NAMES = ['app.example.test']
NOISE = ('changed', 'failed', 'invocation', 'warnings')
ALL = ['addresses', 'conntrack', 'dns_answers', 'hairpin_flows', 'nat_rules', 'outbound_flows']


@pytest.fixture
def host(tmp_path, monkeypatch):
    """'gw' has the captured NAT rules, 'cli' an empty nat table; both the captured conntrack table."""
    def build(kind, **kwargs):
        nat = fixture('iptables-save-nat.txt') if kind == 'gw' else None
        return fake_host(tmp_path, monkeypatch, nat=nat, **kwargs)
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
    assert sorted(parts(result)) == ALL
    assert result['conntrack'] == single(conntrack_info.main, {}, capsys)
    assert result['nat_rules'] == single(nat_rules_info.main, {'source': 'auto'}, capsys)
    assert result['hairpin_flows'] == single(hairpin_flows_info.main, {}, capsys)
    outbound = single(outbound_flows_info.main, {}, capsys)
    assert result['addresses'] == outbound.pop('local_addresses') == ['192.168.77.10', 'fd77::10']
    assert result['outbound_flows'] == outbound
    assert result['dns_answers'] == single(dns_answers_info.main, {'names': NAMES}, capsys)
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
    assert [call[0] for call in calls] == ['/usr/sbin/ip', '/usr/sbin/iptables-save']  # one read of each source


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
    dummy, without_rules = run(hairpin_facts.main, {'gather_subset': ['hairpin_flows']}, capsys)
    assert without_rules['hairpin_flows'] == parts(alone)


@pytest.mark.parametrize('forwards, addresses', [
    ([{'public_ip': '198.51.100.1'}, {'public_ip': '198.51.100.1/32'}, {'public_ip': '2001:db8::1/128'}],
     ['198.51.100.1', '198.51.100.1', '2001:db8::1']),
    ([{'public_ip': '198.51.100.0/28'}, {'public_ip': None}, {'public_ip': 'eth0'}], []),
])
def test_forwarded_addresses(forwards, addresses):
    assert forwarded_addresses(forwards) == addresses


@pytest.mark.parametrize('subset, keys, tools', [
    (['all'], ALL, ['ip', 'iptables-save']),
    ([], ALL, ['ip', 'iptables-save']),
    (['!all'], ['addresses'], ['ip']),
    (['nat_rules'], ['addresses', 'nat_rules'], ['ip', 'iptables-save']),
    (['outbound_flows'], ['addresses', 'outbound_flows'], ['ip']),
    (['!dns_answers'], ['addresses', 'conntrack', 'hairpin_flows', 'nat_rules', 'outbound_flows'], ['ip', 'iptables-save']),
    (['all', '!conntrack', '!outbound_flows'], ['addresses', 'dns_answers', 'hairpin_flows', 'nat_rules'], ['ip', 'iptables-save']),
    (['!all', 'conntrack'], ['addresses', 'conntrack'], ['ip']),
    (['conntrack', '!conntrack'], ['addresses', 'conntrack'], ['ip']),
    ([' dns_answers ', '! hairpin_flows'], ['addresses', 'dns_answers'], ['ip']),
    # without the rules, the table is scanned whatever the forwards
    (['hairpin_flows'], ['addresses', 'hairpin_flows'], ['ip']),
])
def test_gather_subset(host, capsys, subset, keys, tools):
    calls = host('gw')
    failed, result = run(hairpin_facts.main, {'names': NAMES, 'gather_subset': subset}, capsys)
    assert not failed, result
    assert sorted(parts(result)) == keys
    assert [call[0] for call in calls] == ['/usr/sbin/' + tool for tool in tools]


def test_client_scans_its_table_when_the_rules_are_left_out(host, capsys):
    host('cli')
    dummy, result = run(hairpin_facts.main, {'gather_subset': ['!nat_rules']}, capsys)
    assert result['hairpin_flows'] == single(hairpin_flows_info.main, {}, capsys)
    assert result['hairpin_flows']['hairpin_entries'] == 8


def test_sources_can_be_chosen(host, capsys):
    host('gw', netlink='ctnetlink-dump-dnat.txt',
         tools={'iptables-save': (0, fixture('iptables-save-nat.txt'), ''), 'nft': (0, fixture('nft-ruleset.json'), '')})
    dummy, result = run(hairpin_facts.main, {'nat_rules_source': 'nft', 'hairpin_flows_source': 'proc'}, capsys)
    assert result['nat_rules'] == single(nat_rules_info.main, {'source': 'nft'}, capsys)
    assert result['nat_rules']['source'] == 'nft'
    assert result['hairpin_flows']['source'] == 'proc'


@pytest.mark.parametrize('args, message', [
    ({'flow_limit': -1}, 'flow_limit must be 0 or more'),
    ({'names': ['app example']}, "names: 'app example' is not a host name"),
    ({'internal_cidrs': ['10.0.0.0/40']}, "internal_cidrs: '10.0.0.0/40' is not a CIDR"),
    ({'public_addresses': ['198.51.100.1:80']}, "public_addresses: '198.51.100.1:80' is not an IP address"),
    ({'gather_subset': ['nat']}, "gather_subset: 'nat' is not a subset; give all, conntrack, nat_rules, hairpin_flows, "
                                 "outbound_flows, dns_answers, or one of them after '!' to leave it out"),
    ({'gather_subset': ['!conntrak']}, "gather_subset: '!conntrak' is not a subset"),
    ({'gather_subset': ['dns_answers']}, 'gather_subset: dns_answers resolves the names given in names, which is empty'),
    ({'nat_rules_source': 'pf'}, 'nat_rules_source'),
])
def test_bad_input_fails_before_reading(host, capsys, args, message):
    calls = host('gw')
    failed, result = run(hairpin_facts.main, args, capsys)
    assert failed and message in result['msg']
    assert calls == []


def test_proc_without_tcp_fails_clearly(host, tmp_path, capsys):
    host('cli')
    shutil.rmtree(str(tmp_path / 'proc' / 'net'))
    failed, result = run(hairpin_facts.main, {}, capsys)
    assert failed and 'net/tcp is not readable' in result['msg']
    dummy, result = run(hairpin_facts.main, {'gather_subset': ['!outbound_flows']}, capsys)
    assert 'outbound_flows' not in result and not result.get('failed')
