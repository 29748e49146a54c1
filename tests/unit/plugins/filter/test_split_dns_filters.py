# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The split_dns filters as the role calls them (the logic is tested in plugin_utils/test__zones.py)."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.keeplocal.traffic.plugins.filter import (
    split_dns_config, split_dns_probes, split_dns_resolv_conf, split_dns_resolved_conflicts, split_dns_server_originals,
    split_dns_zone_files)

ZONES = [{'name': 'corp.example.test', 'records': [{'name': 'db', 'value': '192.168.1.30'}]}]


def test_filters_are_registered():
    assert set(split_dns_config.FilterModule().filters()) == {'split_dns_config'}
    assert set(split_dns_zone_files.FilterModule().filters()) == {'split_dns_zone_files'}
    assert set(split_dns_probes.FilterModule().filters()) == {'split_dns_probes'}
    assert set(split_dns_resolv_conf.FilterModule().filters()) == {'split_dns_resolv_conf'}
    assert set(split_dns_resolved_conflicts.FilterModule().filters()) == {'split_dns_resolved_conflicts'}
    assert set(split_dns_server_originals.FilterModule().filters()) == {'split_dns_server_originals'}


def test_role_pipeline():
    cfg = split_dns_config.split_dns_config(ZONES, names=[], internal_cidrs=['192.168.1.0/24'], listen_addresses=['192.168.1.1'],
                                            upstreams=['198.51.100.53'], listen_port='53', names_public_view=True,
                                            zone_defaults={'ttl': 300, 'negative_ttl': 60, 'nameserver': 'ns.invalid.', 'hostmaster': ''},
                                            client_nameservers=[], client_domains=[])
    assert cfg['errors'] == []
    files = split_dns_zone_files.split_dns_zone_files(cfg['zones'], previous=None, today='2026-11-23')
    assert [(f['file'], f['serial']) for f in files] == [('db.corp.example.test.internal', 2026112300)]
    again = split_dns_zone_files.split_dns_zone_files(cfg['zones'], previous={files[0]['file']: files[0]['content']}, today='20300101')
    assert again == files
    assert split_dns_probes.split_dns_probes(files, ['192.168.1.1'], ['192.168.1.0/24'], '15353') == [
        {'server': '192.168.1.1', 'source': '192.168.1.1', 'port': 15353, 'name': 'corp.example.test', 'type': 'SOA',
         'expect_rcode': 'NOERROR', 'expect_serial': 2026112300}]


def test_errors_become_filter_errors():
    cfg = split_dns_config.split_dns_config(ZONES, internal_cidrs=['192.168.1.0/24'])
    with pytest.raises(AnsibleFilterError, match='today must be YYYYMMDD'):
        split_dns_zone_files.split_dns_zone_files(cfg['zones'], today='tomorrow')
    with pytest.raises(AnsibleFilterError, match='split_dns_resolv_conf: no nameserver given'):
        split_dns_resolv_conf.split_dns_resolv_conf('nameserver 1.1.1.1\n', [])
    with pytest.raises(AnsibleFilterError, match="split_dns_resolv_conf: 'gw' is not an IP address"):
        split_dns_resolv_conf.split_dns_resolv_conf('', ['gw'])
    with pytest.raises(AnsibleFilterError, match='split_dns_probes'):
        split_dns_probes.split_dns_probes([{'zone': 'x'}], ['192.168.1.1'], ['192.168.1.0/24'])


def test_resolved_conflicts():
    out = 'Global: 198.51.100.53 192.168.1.1\nLink 2 (int0): 198.51.100.53\n'
    assert split_dns_resolved_conflicts.split_dns_resolved_conflicts(out, ['192.168.1.1']) == ['198.51.100.53']
    with pytest.raises(AnsibleFilterError, match="split_dns_resolved_conflicts: 'gw' is not an IP address"):
        split_dns_resolved_conflicts.split_dns_resolved_conflicts(out, ['gw'])


def _stat(path, kind=None, mode='0755', owner='root', group='root'):
    if kind is None:
        return {'item': path, 'stat': {'exists': False}}
    return {'item': path, 'stat': {'exists': True, 'isdir': kind == 'dir', 'islnk': kind == 'link', 'mode': mode,
                                   'pw_name': owner, 'gr_name': group}}


def test_server_originals_of_a_host_that_served_zones_before():
    before = split_dns_server_originals.split_dns_server_originals(
        [_stat('/etc/coredns/Corefile', 'file', '0644'), _stat('/etc/coredns', 'dir', '0755'),
         _stat('/etc/coredns/zones', 'dir', '0700', 'dns', 'dns'), _stat('/opt/coredns'), _stat('/opt/coredns/1.14.7'),
         _stat('/usr/local/bin/coredns', 'link'), _stat('/etc/systemd/system/coredns.service', 'file')],
        [{'path': '/etc/coredns/zones/db.site.test'}, {'path': '/etc/coredns/zones/db.corp.test'}],
        service={'name': 'coredns.service', 'state': 'running', 'status': 'enabled', 'source': 'systemd'})
    assert before == {
        'originals': ['/etc/coredns/Corefile', '/usr/local/bin/coredns', '/etc/systemd/system/coredns.service',
                      '/etc/coredns/zones/db.corp.test', '/etc/coredns/zones/db.site.test'],
        'directories': [{'path': '/etc/coredns', 'mode': '0755', 'owner': 'root', 'group': 'root'},
                        {'path': '/etc/coredns/zones', 'mode': '0700', 'owner': 'dns', 'group': 'dns'}],
        'service': {'running': True, 'enabled': True}}


@pytest.mark.parametrize('state, status, expected', [
    ('running', 'enabled', {'running': True, 'enabled': True}),
    ('stopped', 'enabled', {'running': False, 'enabled': True}),
    ('running', 'enabled-runtime', {'running': True, 'enabled': False}),
    ('inactive', 'disabled', {'running': False, 'enabled': False}),
    ('stopped', 'masked', {'running': False, 'enabled': False}),
    ('stopped', 'not-found', None),
])
def test_server_originals_keep_how_systemd_ran_the_service(state, status, expected):
    service = {'name': 'coredns.service', 'state': state, 'status': status, 'source': 'systemd'}
    assert split_dns_server_originals.split_dns_server_originals([], [], service=service)['service'] == expected


def test_server_originals_of_a_fresh_host_are_empty():
    assert split_dns_server_originals.split_dns_server_originals(
        [_stat('/etc/coredns/Corefile'), _stat('/etc/coredns')], []) == {'originals': [], 'directories': [], 'service': None}


def test_server_originals_refuse_what_is_not_a_stat_loop():
    with pytest.raises(AnsibleFilterError, match='results of ansible.builtin.stat in a loop'):
        split_dns_server_originals.split_dns_server_originals([{'path': '/etc/coredns'}], [])
    with pytest.raises(AnsibleFilterError, match=r'service must be an entry of ansible_facts.services'):
        split_dns_server_originals.split_dns_server_originals([], [], service={'name': 'coredns.service'})
