# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report_files action plugin: writes on the controller, atomically, in check mode too, with no
connection, module or remote temporary directory."""

from __future__ import annotations

import os
import stat
import threading
from unittest.mock import MagicMock

import pytest

from ansible.errors import AnsibleActionFail
from ansible.playbook.task import Task

from ansible_collections.keeplocal.traffic.plugins.action import report_files
from ansible_collections.keeplocal.traffic.plugins.action.report_files import ActionModule, write_report_files

FILES = [{'name': 'plan.json', 'content': '{"version": 2}\n'}, {'name': 'report.md', 'content': '# Hairpin traffic report → ok\n'}]


def run(args, check_mode=False):
    task = MagicMock(Task)
    task.args = args
    task.check_mode = check_mode
    task.async_val = 0
    # Any use of the connection (a command, a file transfer, a temporary directory) fails the test.
    connection = MagicMock(side_effect=AssertionError('report_files used the connection'))
    connection._shell.tmpdir = None
    connection.exec_command.side_effect = AssertionError('report_files ran a command through the connection')
    connection.put_file.side_effect = AssertionError('report_files transferred a file')
    action = ActionModule(task, connection, MagicMock(), loader=None, templar=None, shared_loader_obj=None)
    action._execute_module = MagicMock(side_effect=AssertionError('report_files ran a module'))
    action._make_tmp_path = MagicMock(side_effect=AssertionError('report_files made a remote temporary directory'))
    return action.run(task_vars={})


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize('check_mode', [False, True])
def test_writes_the_files_and_the_directory_without_the_connection(tmp_path, check_mode):
    directory = tmp_path / 'keeplocal-report'
    result = run({'dir': str(directory), 'files': FILES}, check_mode=check_mode)
    assert result['changed'] is True
    assert result['dir'] == str(directory)
    assert result['paths'] == result['changed_paths'] == [str(directory / 'plan.json'), str(directory / 'report.md')]
    assert (directory / 'report.md').read_text(encoding='utf-8') == '# Hairpin traffic report → ok\n'
    assert mode_of(directory) == 0o755 and mode_of(directory / 'plan.json') == 0o644
    assert sorted(os.listdir(directory)) == ['plan.json', 'report.md']  # no temporary file left


def test_unchanged_files_are_left_alone(tmp_path):
    run({'dir': str(tmp_path), 'files': FILES})
    inode = os.stat(tmp_path / 'plan.json').st_ino
    result = run({'dir': str(tmp_path), 'files': FILES})
    assert (result['changed'], result['changed_paths']) == (False, [])
    assert os.stat(tmp_path / 'plan.json').st_ino == inode


def test_a_changed_file_is_replaced_by_a_rename(tmp_path):
    run({'dir': str(tmp_path), 'files': FILES})
    inode = os.stat(tmp_path / 'report.md').st_ino
    result = run({'dir': str(tmp_path), 'files': [FILES[0], {'name': 'report.md', 'content': 'new\n'}], 'mode': '0600'})
    assert result['changed_paths'] == [str(tmp_path / 'plan.json'), str(tmp_path / 'report.md')]  # plan.json: mode only
    assert (tmp_path / 'report.md').read_text() == 'new\n' and os.stat(tmp_path / 'report.md').st_ino != inode
    assert mode_of(tmp_path / 'plan.json') == 0o600


def test_a_relative_dir_is_below_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run({'dir': 'out', 'files': FILES[:1]})
    assert result['paths'] == [str(tmp_path / 'out' / 'plan.json')]


def test_readers_never_see_a_partial_file(tmp_path):
    """While one writer replaces a large file again and again, every read returns one whole version."""
    path = tmp_path / 'report.html'
    versions = [('<p>%d</p>' % index) * 200000 for index in range(2)]
    write_report_files(str(tmp_path), [('report.html', versions[0].encode())])
    stop = threading.Event()
    seen = set()

    def read():
        while not stop.is_set():
            seen.add(path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    for index in range(40):
        write_report_files(str(tmp_path), [('report.html', versions[index % 2].encode())])
    stop.set()
    reader.join()
    assert seen <= set(versions) and seen


def test_a_failed_write_keeps_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    write_report_files(str(tmp_path), [('plan.json', b'old\n')])

    def refuse(*dummy):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(report_files.os, 'replace', refuse)
    with pytest.raises(AnsibleActionFail, match='cannot write the report files in %s: .*No space left on device' % tmp_path):
        run({'dir': str(tmp_path), 'files': [{'name': 'plan.json', 'content': 'new\n'}]})
    assert (tmp_path / 'plan.json').read_text() == 'old\n'
    assert os.listdir(tmp_path) == ['plan.json']


def test_a_dir_that_is_a_file_is_an_error_naming_it(tmp_path):
    (tmp_path / 'taken').write_text('')
    with pytest.raises(AnsibleActionFail, match='cannot write the report files in %s' % (tmp_path / 'taken')):
        run({'dir': str(tmp_path / 'taken'), 'files': FILES})


@pytest.mark.parametrize('args, message', [
    ({'dir': '/tmp/x', 'files': [{'name': '../plan.json', 'content': ''}]}, "files[].name must be a plain file name in dir, got '../plan.json'"),
    ({'dir': '/tmp/x', 'files': [{'name': '..', 'content': ''}]}, "got '..'"),
    ({'dir': '/tmp/x', 'files': [{'name': 'a', 'content': ''}, {'name': 'a', 'content': ''}]}, 'files[].name must be unique, got a, a'),
    ({'dir': '/tmp/x', 'files': FILES, 'mode': 'rw-r--r--'}, "mode must be an octal permission such as 0644, got 'rw-r--r--'"),
    ({'dir': '/tmp/x', 'files': FILES, 'dir_mode': '999'}, "dir_mode must be an octal permission such as 0644, got '999'"),
    ({'dir': '/tmp/x', 'files': [{'name': 'a'}]}, 'missing required arguments: content'),
    ({'files': FILES}, 'missing required arguments: dir'),
])
def test_bad_arguments(args, message):
    with pytest.raises(AnsibleActionFail) as exc:
        run(args)
    assert message in str(exc.value)
