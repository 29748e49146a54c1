# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""remediation_record writes and removes the roles' records; remediation_records reads them back
into what keeplocal.traffic.revert undoes, in its order, and refuses what it cannot read."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.keeplocal.traffic.plugins.modules import remediation_record, remediation_records
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import run


def test_no_directory_means_nothing_to_undo(tmp_path, capsys):
    failed, result = run(remediation_records.main, dict(directory=str(tmp_path / 'none')), capsys)
    assert not failed
    assert (result['records'], result['revert'], result['order'], result['changed']) == ({}, {}, [], False)


def test_records_come_back_in_the_order_the_revert_undoes_them(tmp_path, capsys):
    for kind, content in [('conntrack_tuning', {'original': {'max': 262144, 'buckets': 65536, 'timeouts': {}}, 'files': {}}),
                          ('unix_sockets', {'pairs': {'127.0.0.1:8000': {'state': 'switched', 'socket': '/run/app/gunicorn.sock'}}}),
                          ('split_dns_client', {'method': 'resolv_conf', 'nameservers': ['192.168.1.1']}),
                          ('split_dns_server', {'service_before': None, 'created': ['/etc/coredns']}),
                          ('local_shortcut', {'backend': 'nftables', 'unit': 'keeplocal-shortcut.service', 'created_directory': None})]:
        failed, result = run(remediation_record.main, dict(kind=kind, content=content, directory=str(tmp_path)), capsys)
        assert not failed and result['changed']
    (tmp_path / 'notes.json').write_text('{}')
    failed, result = run(remediation_records.main, dict(directory=str(tmp_path)), capsys)
    assert not failed
    assert result['order'] == ['split_dns_client', 'local_shortcut', 'unix_sockets', 'split_dns_server', 'conntrack_tuning']
    assert result['revert']['split_dns_client'] == {'split_dns_client_method': 'resolv_conf'}
    assert result['revert']['unix_sockets'] == {'unix_sockets_pairs': [{'address': '127.0.0.1:8000', 'socket': '/run/app/gunicorn.sock'}]}
    assert result['ignored'] == ['notes.json']
    assert result['records']['split_dns_server']['format'] == 'keeplocal.traffic/split_dns_server'


def test_a_unix_socket_record_without_pairs_leaves_nothing_to_undo(tmp_path, capsys):
    run(remediation_record.main, dict(kind='unix_sockets', content={'pairs': {}}, directory=str(tmp_path)), capsys)
    failed, result = run(remediation_records.main, dict(directory=str(tmp_path)), capsys)
    assert not failed and result['order'] == [] and 'unix_sockets' in result['records']


def test_the_first_runs_originals_survive_later_runs(tmp_path, capsys):
    args = dict(kind='conntrack_tuning', keep=['original'], directory=str(tmp_path))
    run(remediation_record.main, dict(args, content={'original': {'max': 65536}, 'files': {'a': 1}}), capsys)
    failed, result = run(remediation_record.main, dict(args, content={'original': {'max': 262144}, 'files': {'b': 2}}), capsys)
    assert not failed and result['changed']
    record = json.loads((tmp_path / 'conntrack_tuning.json').read_text())
    assert record['original'] == {'max': 65536} and record['files'] == {'b': 2}
    assert oct(os.stat(tmp_path / 'conntrack_tuning.json').st_mode & 0o777) == '0o600'


def test_writing_the_same_record_again_changes_nothing(tmp_path, capsys):
    args = dict(kind='local_shortcut', content={'backend': 'nftables'}, directory=str(tmp_path))
    run(remediation_record.main, args, capsys)
    failed, result = run(remediation_record.main, args, capsys)
    assert not failed and not result['changed']


def test_check_mode_writes_and_removes_nothing(tmp_path, capsys):
    args = dict(kind='local_shortcut', content={'backend': 'nftables'}, directory=str(tmp_path))
    failed, result = run(remediation_record.main, args, capsys, check_mode=True)
    assert not failed and result['changed'] and not os.path.exists(tmp_path / 'local_shortcut.json')
    run(remediation_record.main, args, capsys)
    failed, result = run(remediation_record.main, dict(args, state='absent'), capsys, check_mode=True)
    assert result['changed'] and os.path.exists(tmp_path / 'local_shortcut.json')


def test_absent_removes_the_record_once(tmp_path, capsys):
    args = dict(kind='split_dns_client', content={'method': 'resolved'}, directory=str(tmp_path))
    run(remediation_record.main, args, capsys)
    failed, result = run(remediation_record.main, dict(args, state='absent'), capsys)
    assert not failed and result['changed'] and result['record']['method'] == 'resolved'
    assert not os.path.exists(tmp_path / 'split_dns_client.json')
    failed, result = run(remediation_record.main, dict(args, state='absent'), capsys)
    assert not failed and not result['changed']


@pytest.mark.parametrize('other_file, removed', [(False, True), (True, False)], ids=['empty', 'in-use'])
def test_absent_removes_the_directory_the_role_created_when_empty(tmp_path, capsys, other_file, removed):
    created = tmp_path / 'resolved.conf.d'
    created.mkdir()
    if other_file:
        (created / 'site.conf').write_text('[Resolve]\n')
    records = tmp_path / 'records'
    args = dict(kind='split_dns_client', content={'method': 'resolved', 'created_directory': str(created)},
                directory=str(records))
    run(remediation_record.main, args, capsys)
    failed, result = run(remediation_record.main, dict(args, state='absent'), capsys, check_mode=True)
    assert not failed and result['removed_directory'] == (str(created) if removed else None)
    assert created.is_dir() and (records / 'split_dns_client.json').exists()
    failed, result = run(remediation_record.main, dict(args, state='absent'), capsys)
    assert not failed and result['changed'] and created.exists() != removed
    assert not (records / 'split_dns_client.json').exists()
    # A run killed after the directory went: the record alone is left, and removed.
    run(remediation_record.main, args, capsys)
    failed, result = run(remediation_record.main, dict(args, state='absent'), capsys)
    assert not failed and result['changed'] and result['removed_directory'] is None


@pytest.mark.parametrize('text, message', [
    ('{"format": "keeplocal.traffic/conntrack_tuning", "version": 7}', 'version 7, written by a newer keeplocal.traffic'),
    ('{"format": "keeplocal.traffic/unix_sockets", "version": 1}', 'is not a record of keeplocal.traffic.conntrack_tuning'),
    ('{"version": 1', 'is not JSON'),
])
def test_records_it_cannot_read_are_refused_naming_the_file(tmp_path, capsys, text, message):
    path = tmp_path / 'conntrack_tuning.json'
    path.write_text(text)
    failed, result = run(remediation_records.main, dict(directory=str(tmp_path)), capsys)
    assert failed and message in result['msg'] and str(path) in result['msg']
    failed, result = run(remediation_record.main, dict(kind='conntrack_tuning', content={'original': {}}, directory=str(tmp_path)), capsys)
    assert failed and 'nothing was changed' in result['msg']
    assert path.read_text() == text
