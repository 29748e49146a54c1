# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hairpin_watch_info on the fake gateway: one in-memory collection, the host checks, nothing written."""

from __future__ import annotations

import os

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _watch
from ansible_collections.keeplocal.traffic.plugins.modules import hairpin_watch_info
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.fake_hosts import fake_host
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import run


@pytest.fixture
def gateway(tmp_path, monkeypatch):
    fake_host(tmp_path, monkeypatch, netlink='ctnetlink-dump-dnat.txt')
    (tmp_path / 'systemd').mkdir()
    monkeypatch.setattr(_watch, 'SYSTEMD_RUNTIME', str(tmp_path / 'systemd'))
    (tmp_path / 'textfile').mkdir()
    return {'textfile_directory': str(tmp_path / 'textfile'), 'state_directory': str(tmp_path / 'state'),
            'public_addresses': ['198.51.100.1', '2001:db8:77::1']}


def files(path):
    return sorted(os.path.join(top, name) for top, dummy, names in os.walk(str(path)) for name in names)


def test_collects_in_memory_and_writes_nothing(gateway, tmp_path, capsys):
    before = files(tmp_path)
    failed, result = run(hairpin_watch_info.main, gateway, capsys, check_mode=True)
    assert not failed and result['changed'] is False
    assert result['problems'] == [] and result['systemd'] is True and result['node_exporters'] == []
    assert result['textfile_directory'] == {'path': gateway['textfile_directory'], 'exists': True, 'usable': True,
                                            'message': None}
    assert 'keeplocal_hairpin_connections{client="192.168.77.10",public="198.51.100.1:80/tcp",backend="192.168.77.20:80"} 4' \
        in result['metrics'].splitlines()
    assert result['result']['hairpin']['hairpin_entries'] == 11
    assert result['result']['series'] == len([line for line in result['metrics'].splitlines() if not line.startswith('#')])
    assert files(tmp_path) == before


def test_reports_what_stops_the_collector(gateway, tmp_path, monkeypatch, capsys):
    (tmp_path / 'file').write_text('')
    monkeypatch.setattr(_watch, 'SYSTEMD_RUNTIME', str(tmp_path / 'no-systemd'))
    failed, result = run(hairpin_watch_info.main, dict(gateway, textfile_directory=str(tmp_path / 'file' / 'prom')), capsys)
    assert not failed
    assert result['problems'] == [
        'textfile_directory: %s does not exist and cannot be created: %s is not a directory'
        % (tmp_path / 'file' / 'prom', tmp_path / 'file'),
        'components: the collector runs from a systemd timer and systemd is not running here (%s is missing): '
        'leave collector out of the components of this host' % (tmp_path / 'no-systemd'),
    ]


@pytest.mark.parametrize('args, message', [
    ({'interval': '5s'}, "interval: '5s' is shorter than 10s"),
    ({'label_overrides': {'host': {'a': 'b'}}}, 'label_overrides: unknown label name host'),
    ({'public_addresses': ['app.example.test']}, "public_addresses: 'app.example.test' is not an IP address"),
])
def test_bad_options_fail_naming_them(gateway, capsys, args, message):
    failed, result = run(hairpin_watch_info.main, dict(gateway, **args), capsys)
    assert failed and message in result['msg']
