# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hairpin_flows_info on conntrack tables captured from a 6.18 kernel: ctnetlink answers replayed by a
fake socket, a file standing in for /proc/net/nf_conntrack, or the output of a stand-in conntrack
executable."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from ansible.module_utils import basic

from ansible_collections.keeplocal.traffic.plugins.module_utils import _host_facts
from ansible_collections.keeplocal.traffic.plugins.modules import hairpin_flows_info
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.conntrack_fakes import FakeNetlink, ctnetlink_exchange
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import fixture_path, run

PAIRS = [
    ('192.168.77.10', 'tcp', '198.51.100.1', 80, '192.168.77.20', 80, True, 5),
    ('fd77::10', 'tcp', '2001:db8:77::1', 80, 'fd77::20', 80, True, 2),
    ('192.168.77.10', 'tcp', '198.51.100.1', 5432, '192.168.77.30', 54321, True, 1),
]

# The hairpin pairs in the ctnetlink capture (fixtures/ctnetlink-capture.sh).
NETLINK_PAIRS = [
    ('192.168.77.10', 'tcp', '198.51.100.1', 80, '192.168.77.20', 80, True, 4),
    ('fd77::10', 'tcp', '2001:db8:77::1', 80, 'fd77::20', 80, True, 2),
    ('192.168.77.10', 'icmp', '198.51.100.1', None, '192.168.77.20', None, True, 1),
    ('192.168.77.10', 'tcp', '198.51.100.1', 5432, '192.168.77.30', 54321, True, 1),
    ('192.168.77.10', 'udp', '198.51.100.1', 5000, '192.168.77.30', 5000, True, 1),
    ('192.168.77.10', 'udp', '198.51.100.1', 5353, '192.168.77.30', 53, True, 1),
    ('192.168.77.10', 'udp', '198.51.100.1', 7000, '192.168.77.30', 7000, True, 1),
]

# What conntrack-tools 1.4.7 prints for a non-root user (captured with setpriv --reuid=65534).
NOT_ROOT = 'conntrack v1.4.7 (conntrack-tools): Operation failed: sorry, you must be root or get CAP_NET_ADMIN capability to do this'


def pairs(result):
    return [(p['client_ip'], p['proto'], p['public_ip'], p['public_port'], p['backend_ip'], p['backend_port'], p['snat'],
             p['connections']) for p in result['pairs']]


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """Point the module at a fake table, sysctl and ctnetlink socket; returns a function to set them
    up, which returns the fake socket. By default netlink answers EPERM, as it does to a process
    without CAP_NET_ADMIN (a container without it may still read /proc)."""
    def setup(table='nf_conntrack.txt', loaded=True, conntrack_output=None, conntrack_rc=0, conntrack_err='',
              netlink='ctnetlink-eperm.txt', ipvs=False):
        proc_table = fixture_path(table) if table else str(tmp_path / 'missing-nf_conntrack')
        ipvs_table = tmp_path / 'ip_vs'
        if ipvs:
            ipvs_table.write_text('IP Virtual Server version 1.2.1 (size=4096)\n')
        monkeypatch.setattr(_host_facts, 'IPVS_TABLE', str(ipvs_table))
        sock = FakeNetlink(dump=netlink)
        monkeypatch.setattr(_host_facts, 'netlink_socket', lambda: sock)
        if loaded:
            (tmp_path / 'nf_conntrack_max').write_text('262144\n')
        monkeypatch.setattr(_host_facts, 'CONNTRACK_TABLE', proc_table)
        monkeypatch.setattr(_host_facts, 'NETFILTER_SYSCTL', str(tmp_path))
        tool = None
        if conntrack_output is not None:
            tool = tmp_path / 'conntrack'
            tool.write_text('#!/bin/sh\n[ "$*" = "-L -o extended" ] || exit 9\ncat "%s"\necho "%s" >&2\nexit %d\n' % (
                fixture_path(conntrack_output) if conntrack_output else '/dev/null', conntrack_err, conntrack_rc))
            tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
        monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                            lambda self, name, *a, **kw: str(tool) if name == 'conntrack' and tool else None)
        return sock
    return setup


def test_netlink_first(kernel, capsys):
    sock = kernel(netlink='ctnetlink-dump-dnat.txt')
    failed, result = run(hairpin_flows_info.main, {}, capsys)
    assert not failed
    assert result['available'] is True and result['source'] == 'netlink' and result['kernel_filter'] is True
    assert sock.requests == [ctnetlink_exchange('ctnetlink-dump-dnat.txt')[0], ctnetlink_exchange('ctnetlink-stats.txt')[0]]
    assert sock.closed
    # The table's size comes from the kernel's count: the dump held only the 12 DNATed entries.
    assert result['total_entries'] == 16 and result['hairpin_entries'] == 11
    assert pairs(result) == NETLINK_PAIRS
    assert len(result['flows']) == 11


def test_netlink_on_a_kernel_that_ignores_the_status_filter(kernel, capsys):
    kernel(netlink='ctnetlink-dump-all.txt')
    dummy, result = run(hairpin_flows_info.main, {'limit': 2}, capsys)
    assert result['source'] == 'netlink' and result['kernel_filter'] is False
    assert result['total_entries'] == 16 and result['hairpin_entries'] == 11
    assert pairs(result) == NETLINK_PAIRS
    assert len(result['flows']) == 2


def test_ipvs_host_skips_netlink(kernel, capsys):
    sock = kernel(netlink='ctnetlink-dump-dnat.txt', ipvs=True)
    dummy, result = run(hairpin_flows_info.main, {}, capsys)
    assert result['source'] == 'proc' and sock.requests == []
    dummy, result = run(hairpin_flows_info.main, {'source': 'netlink'}, capsys)
    assert result['source'] == 'netlink'


def test_explicit_netlink_source_without_cap_net_admin(kernel, capsys):
    kernel()
    failed, result = run(hairpin_flows_info.main, {'source': 'netlink'}, capsys)
    assert not failed and result['available'] is False and result['source'] is None
    assert result['msg'] == ('netlink: the kernel refused the conntrack dump: Operation not permitted '
                             '(ctnetlink needs CAP_NET_ADMIN: run as root, become: true)')


def test_no_netlink_socket(kernel, monkeypatch, capsys):
    kernel()

    def refused():
        raise OSError(errno.EPROTONOSUPPORT, os.strerror(errno.EPROTONOSUPPORT))
    monkeypatch.setattr(_host_facts, 'netlink_socket', refused)
    dummy, result = run(hairpin_flows_info.main, {}, capsys)
    assert result['source'] == 'proc'
    dummy, result = run(hairpin_flows_info.main, {'source': 'netlink'}, capsys)
    assert result['available'] is False
    assert result['msg'].startswith('netlink: no NETLINK_NETFILTER socket: [Errno 93] Protocol not supported')


def test_proc_table(kernel, capsys):
    kernel()
    failed, result = run(hairpin_flows_info.main, {}, capsys)
    assert not failed and result['changed'] is False
    assert result['available'] is True and result['source'] == 'proc' and result['kernel_filter'] is False
    assert result['total_entries'] == 15 and result['hairpin_entries'] == 8
    assert pairs(result) == PAIRS
    assert len(result['flows']) == 8
    assert set(result['flows'][0]) == {'proto', 'client_ip', 'client_port', 'public_ip', 'public_port', 'backend_ip',
                                       'backend_port', 'snat_ip', 'state', 'assured'}
    assert 'msg' not in result


def test_conntrack_tool_when_proc_is_absent(kernel, capsys):
    kernel(table=None, conntrack_output='conntrack-L-extended.txt',
           conntrack_err='conntrack v1.4.7 (conntrack-tools): 15 flow entries have been shown.')
    failed, result = run(hairpin_flows_info.main, {'limit': 1}, capsys)
    assert not failed
    assert result['available'] is True and result['source'] == 'conntrack'
    assert result['total_entries'] == 15 and result['hairpin_entries'] == 8
    assert pairs(result) == PAIRS
    assert len(result['flows']) == 1


def test_explicit_conntrack_source(kernel, capsys):
    kernel(conntrack_output='conntrack-L-extended-acct.txt')
    dummy, result = run(hairpin_flows_info.main, {'source': 'conntrack'}, capsys)
    assert result['source'] == 'conntrack' and result['hairpin_entries'] == 10


def test_check_mode_gives_the_same_answer(kernel, capsys):
    kernel()
    dummy, normal = run(hairpin_flows_info.main, {}, capsys)
    dummy, checked = run(hairpin_flows_info.main, {}, capsys, check_mode=True)
    assert checked == normal


def test_public_addresses_and_internal_cidrs(kernel, capsys):
    kernel()
    dummy, result = run(hairpin_flows_info.main, {'internal_cidrs': ['192.168.77.0/24'], 'public_addresses': ['198.51.100.1']}, capsys)
    assert [p[3] for p in pairs(result)] == [80, 5432]


def test_conntrack_not_permitted(kernel, capsys):
    kernel(table=None, conntrack_output='', conntrack_rc=1, conntrack_err=NOT_ROOT)
    failed, result = run(hairpin_flows_info.main, {}, capsys)
    assert not failed
    assert result['available'] is False and result['source'] is None
    assert 'you must be root' in result['msg'] and 'become: true' in result['msg']
    assert result['flows'] == [] and result['pairs'] == [] and result['total_entries'] == 0


def test_no_proc_table_and_no_tool(kernel, tmp_path, capsys):
    kernel(table=None)
    failed, result = run(hairpin_flows_info.main, {}, capsys)
    assert not failed and result['available'] is False
    problems = result['msg'].split('; ')
    assert [problem.split(' ')[0] for problem in problems] == ['netlink:', str(tmp_path / 'missing-nf_conntrack'), str(tmp_path / 'missing-nf_conntrack')]
    assert 'install the conntrack package' in problems[2]


def test_explicit_proc_source_when_absent(kernel, capsys):
    kernel(table=None)
    failed, result = run(hairpin_flows_info.main, {'source': 'proc'}, capsys)
    assert not failed and result['available'] is False
    assert 'source=conntrack' in result['msg']


def test_nf_conntrack_not_loaded(kernel, capsys):
    kernel(table=None, loaded=False)
    failed, result = run(hairpin_flows_info.main, {}, capsys)
    assert not failed and result['available'] is False
    assert 'nf_conntrack is not loaded' in result['msg']


@pytest.mark.parametrize('args, message', [
    ({'internal_cidrs': ['192.168.0.0/16', 'lan']}, "internal_cidrs: 'lan' is not a CIDR"),
    ({'public_addresses': ['198.51.100.1:80']}, "public_addresses: '198.51.100.1:80' is not an IP address"),
    ({'limit': -1}, 'limit must be 0 or more'),
])
def test_bad_input(kernel, capsys, args, message):
    kernel()
    failed, result = run(hairpin_flows_info.main, args, capsys)
    assert failed
    assert message in result['msg']


def test_unreadable_table(kernel, tmp_path, monkeypatch, capsys):
    kernel()
    monkeypatch.setattr(_host_facts, 'CONNTRACK_TABLE', str(tmp_path))  # a directory: reading fails
    failed, result = run(hairpin_flows_info.main, {'source': 'proc'}, capsys)
    assert not failed and result['available'] is False
    assert result['msg'].startswith(str(tmp_path) + ' could not be read')
    assert os.path.isdir(str(tmp_path))
