# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hairpin watch collector's I/O: whole runs on a fake gateway (captured ctnetlink dump, socket
tables and conntrack statistics) and a fake client (captured sock_diag dumps), the configuration, and the host checks the role
runs first (node_exporter's command line, the textfile directory, systemd)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _watch
from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import DEFAULT_INTERNAL_CIDRS
from ansible_collections.keeplocal.traffic.plugins.module_utils._watch import (
    HostTools,
    directory_state,
    host_problems,
    main,
    node_exporter_textfile,
    node_exporters,
)
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.fake_hosts import fake_host

PUBLIC = ['198.51.100.1', '2001:db8:77::1']


@pytest.fixture
def gateway(tmp_path, monkeypatch):
    """A fake gateway with conntrack accounting on and no sock_diag; returns the collector's configuration file."""
    fake_host(tmp_path, monkeypatch, netlink='ctnetlink-dump-dnat.txt')
    return configure(tmp_path, monkeypatch)


@pytest.fixture
def client(tmp_path, monkeypatch):
    """A fake client without nf_conntrack (its NAT is outside) whose kernel answers sock_diag."""
    fake_host(tmp_path, monkeypatch, conntrack=False, sock_diag=True)
    return configure(tmp_path, monkeypatch)


def configure(tmp_path, monkeypatch):
    """The collector's configuration file for the fake host (accounting on where nf_conntrack is)."""
    netfilter = tmp_path / 'kernel' / 'proc/sys/net/netfilter'
    if netfilter.is_dir():
        (netfilter / 'nf_conntrack_acct').write_text('1\n')
    # No ip command: the host's addresses come from the fake /proc.
    monkeypatch.setattr(HostTools, 'get_bin_path', staticmethod(lambda name: None))
    config = tmp_path / 'hairpin-watch.json'
    config.write_text(json.dumps({
        'interval': 60, 'textfile_directory': str(tmp_path / 'textfile'), 'state_directory': str(tmp_path / 'state'),
        'public_addresses': PUBLIC, 'internal_cidrs': DEFAULT_INTERNAL_CIDRS, 'top_pairs': 20, 'label_overrides': {},
        'app_servers': ['gunicorn'], 'price_per_gb': 0.045, 'currency': 'USD',
    }))
    (tmp_path / 'textfile').mkdir()
    return config


def samples(text, name):
    return [line for line in text.splitlines() if line.startswith(name + '{') or line.startswith(name + ' ')]


def test_a_run_writes_metrics_counters_and_result(gateway, tmp_path, capsys):
    assert main(['--config', str(gateway)]) == 0
    text = (tmp_path / 'textfile' / 'keeplocal_hairpin.prom').read_text()
    assert samples(text, 'keeplocal_hairpin_connections')[0] == \
        'keeplocal_hairpin_connections{client="192.168.77.10",public="198.51.100.1:80/tcp",backend="192.168.77.20:80"} 4'
    assert samples(text, 'keeplocal_hairpin_bytes_total') == [
        'keeplocal_hairpin_bytes_total{client="fd77::10",public="[2001:db8:77::1]:80/tcp",backend="[fd77::20]:80",'
        'counted_by="gateway"} 448',
        'keeplocal_hairpin_bytes_total{client="192.168.77.10",public="198.51.100.1:80/tcp",backend="192.168.77.20:80",'
        'counted_by="gateway"} 172',
    ]
    # The fake host also holds the captured client's sockets: its connections to the public address.
    assert samples(text, 'keeplocal_public_connections')[0] == \
        'keeplocal_public_connections{public="198.51.100.1:80/tcp",process="curl"} 2'
    assert samples(text, 'keeplocal_conntrack_accounting') == ['keeplocal_conntrack_accounting 1']
    result = json.loads((tmp_path / 'state' / 'result.json').read_text())
    assert result['hairpin'] == {'source': 'netlink', 'total_entries': 16, 'hairpin_entries': 11, 'pairs': 7}
    assert result['cost']['bytes'] == 620 and len(result['cost']['pairs']) == 2
    # No sock_diag here: the sockets came from /proc, the run says so and counts no client bytes.
    assert samples(text, 'keeplocal_client_byte_counters') == ['keeplocal_client_byte_counters 0']
    assert result['client_bytes'] == {
        'source': 'proc', 'byte_counters': False, 'counted_sockets': 0, 'time_wait_sockets': 3,
        'msg': 'sock_diag: no NETLINK_SOCK_DIAG socket: [Errno 93] Protocol not supported; the sockets come from '
               '%s/net/tcp, without byte counters' % _watch._host_facts.PROC}
    assert result['series'] == len([line for line in text.splitlines() if not line.startswith('#')])
    assert os.stat(str(tmp_path / 'textfile' / 'keeplocal_hairpin.prom')).st_mode & 0o777 == 0o644
    assert sorted(os.listdir(str(tmp_path / 'textfile'))) == ['keeplocal_hairpin.prom']
    assert capsys.readouterr().err == ''


def test_the_next_run_counts_no_byte_twice(gateway, tmp_path):
    assert main(['--config', str(gateway)]) == 0
    first = (tmp_path / 'textfile' / 'keeplocal_hairpin.prom').read_text()
    assert main(['--config', str(gateway)]) == 0
    second = (tmp_path / 'textfile' / 'keeplocal_hairpin.prom').read_text()
    # The same entries with the same counters: the counters stay, the run's timestamp moves.
    assert samples(second, 'keeplocal_hairpin_bytes_total') == samples(first, 'keeplocal_hairpin_bytes_total')
    assert samples(second, 'keeplocal_collector_last_success_timestamp_seconds') != \
        samples(first, 'keeplocal_collector_last_success_timestamp_seconds')


def test_a_client_counts_the_bytes_of_its_own_calls_to_the_public_addresses(client, tmp_path, capsys):
    assert main(['--config', str(client)]) == 0
    text = (tmp_path / 'textfile' / 'keeplocal_hairpin.prom').read_text()
    assert samples(text, 'keeplocal_hairpin_bytes_total') == [
        'keeplocal_hairpin_bytes_total{client="192.168.77.10",public="198.51.100.1:80/tcp",backend="unknown",'
        'counted_by="client"} 75001',
        'keeplocal_hairpin_bytes_total{client="fd77::10",public="[2001:db8:77::1]:80/tcp",backend="unknown",'
        'counted_by="client"} 75001',
    ]
    assert samples(text, 'keeplocal_client_byte_counters') == ['keeplocal_client_byte_counters 1']
    # The listing is sock_diag's: the TIME_WAIT call is a connection too, without a process.
    assert samples(text, 'keeplocal_public_connections') == [
        'keeplocal_public_connections{public="198.51.100.1:80/tcp",process="unknown"} 2',
        'keeplocal_public_connections{public="[2001:db8:77::1]:80/tcp",process="unknown"} 1',
    ]
    result = json.loads((tmp_path / 'state' / 'result.json').read_text())
    assert result['client_bytes'] == {'source': 'sock_diag', 'byte_counters': True, 'msg': None,
                                      'counted_sockets': 2, 'time_wait_sockets': 1}
    assert result['hairpin'] is None and result['conntrack']['available'] is False
    assert [(pair['counted_by'], pair['bytes']) for pair in result['cost']['pairs']] == [('client', 75001)] * 2
    # The same sockets with the same counters in the next run: nothing counted twice.
    assert main(['--config', str(client)]) == 0
    again = (tmp_path / 'textfile' / 'keeplocal_hairpin.prom').read_text()
    assert samples(again, 'keeplocal_hairpin_bytes_total') == samples(text, 'keeplocal_hairpin_bytes_total')
    assert capsys.readouterr().err == ''


def test_a_failed_run_keeps_the_previous_metrics(gateway, tmp_path, monkeypatch, capsys):
    assert main(['--config', str(gateway)]) == 0
    before = (tmp_path / 'textfile' / 'keeplocal_hairpin.prom').read_text()
    monkeypatch.setattr(_watch._host_facts, 'PROC', str(tmp_path / 'no-proc'))
    assert main(['--config', str(gateway)]) == 1
    assert 'net/tcp is not readable' in capsys.readouterr().err
    assert (tmp_path / 'textfile' / 'keeplocal_hairpin.prom').read_text() == before


def test_an_unreadable_table_fails_the_run(tmp_path, monkeypatch, capsys, gateway):
    fake_host(tmp_path / 'eperm', monkeypatch, netlink='ctnetlink-eperm.txt', table=None)
    assert main(['--config', str(gateway)]) == 1
    err = capsys.readouterr().err
    assert 'the conntrack table cannot be read: netlink: the kernel refused the conntrack dump' in err


@pytest.mark.parametrize('config, message', [
    (None, 'cannot read the configuration'),
    ({'interval': 60}, 'missing textfile_directory, state_directory'),
    ('bad top_pairs', ': top_pairs: 0 is not a whole number from 1 to 1000'),
])
def test_a_bad_configuration_is_refused_naming_the_setting(gateway, tmp_path, capsys, config, message):
    path = tmp_path / 'other.json'
    if config == 'bad top_pairs':
        config = dict(json.loads(gateway.read_text()), top_pairs=0)
    if config is not None:
        path.write_text(json.dumps(config))
    assert main(['--config', str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith('keeplocal-hairpin-watch: ') and message in err
    assert not (tmp_path / 'textfile' / 'keeplocal_hairpin.prom').exists()


@pytest.mark.parametrize('argv, expected', [
    (['/usr/bin/prometheus-node-exporter'], (True, '/var/lib/prometheus/node-exporter')),
    (['/usr/bin/prometheus-node-exporter', '--collector.textfile.directory=/srv/prom/'], (True, '/srv/prom')),
    (['/usr/local/bin/node_exporter', '--collector.textfile.directory', '/var/lib/node_exporter'],
     (True, '/var/lib/node_exporter')),
    (['/usr/local/bin/node_exporter'], (True, None)),
    (['/usr/bin/prometheus-node-exporter', '--no-collector.textfile'], (False, '/var/lib/prometheus/node-exporter')),
])
def test_node_exporter_textfile(argv, expected):
    assert node_exporter_textfile(argv) == expected


def test_node_exporters_are_found_by_process_name(tmp_path):
    for pid, comm, argv in ((812, 'prometheus-node', ['/usr/bin/prometheus-node-exporter', '--web.listen-address=:9100']),
                            (90, 'node_exporter', ['/bin/node_exporter', '--collector.textfile.directory=/x']),
                            (77, 'nginx', ['nginx'])):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / 'comm').write_text(comm + '\n')
        (tmp_path / str(pid) / 'cmdline').write_text('\0'.join(argv) + '\0')
    (tmp_path / 'self').mkdir()
    assert node_exporters(str(tmp_path)) == [
        {'pid': 90, 'process': 'node_exporter', 'command': '/bin/node_exporter --collector.textfile.directory=/x',
         'textfile_enabled': True, 'textfile_directory': '/x'},
        {'pid': 812, 'process': 'prometheus-node', 'command': '/usr/bin/prometheus-node-exporter --web.listen-address=:9100',
         'textfile_enabled': True, 'textfile_directory': '/var/lib/prometheus/node-exporter'},
    ]


def test_directory_state(tmp_path, monkeypatch):
    assert directory_state(str(tmp_path)) == {'path': str(tmp_path), 'exists': True, 'usable': True, 'message': None}
    missing = str(tmp_path / 'a' / 'b')
    assert directory_state(missing)['usable'] and not directory_state(missing)['exists']
    (tmp_path / 'file').write_text('')
    assert directory_state(str(tmp_path / 'file'))['message'] == '%s exists and is not a directory' % (tmp_path / 'file')
    under_file = str(tmp_path / 'file' / 'sub')
    assert directory_state(under_file)['message'] == \
        '%s does not exist and cannot be created: %s is not a directory' % (under_file, tmp_path / 'file')
    # Root may write anywhere; a read-only file system is what refuses it (os.access answers EROFS).
    monkeypatch.setattr(_watch.os, 'access', lambda path, mode: False)
    state = directory_state(missing)
    assert not state['usable']
    assert state['message'].startswith('%s does not exist and cannot be created: %s is not writable here' % (missing, tmp_path))


def test_host_problems_name_the_setting():
    usable = {'path': '/var/lib/prometheus/node-exporter', 'exists': True, 'usable': True, 'message': None}
    debian = {'pid': 812, 'process': 'prometheus-node', 'command': 'x', 'textfile_enabled': True,
              'textfile_directory': '/var/lib/prometheus/node-exporter'}
    assert host_problems(usable, [debian], True) == []
    assert host_problems(usable, [dict(debian, textfile_directory='/srv/prom')], True) == [
        'textfile_directory: /var/lib/prometheus/node-exporter, but the running node_exporter (pid 812) reads /srv/prom: '
        'set it to /srv/prom']
    upstream = dict(debian, textfile_directory=None, command='/usr/local/bin/node_exporter')
    assert host_problems(usable, [upstream], True)[0].startswith(
        'textfile_directory: the running node_exporter (pid 812: /usr/local/bin/node_exporter) reads no textfile directory')
    assert 'textfile collector off' in host_problems(usable, [dict(debian, textfile_enabled=False)], True)[0]
    assert host_problems(usable, [], False)[0].startswith('components: the collector runs from a systemd timer')
    unusable = dict(usable, usable=False, message='/x does not exist and cannot be created: / is not writable here')
    assert host_problems(unusable, [], True) == [
        'textfile_directory: /x does not exist and cannot be created: / is not writable here']
