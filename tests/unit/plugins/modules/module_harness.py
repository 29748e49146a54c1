# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() with given arguments and capture its JSON result (every module test uses it).

Works with ansible-core 2.19 (ansible.module_utils.testing.patch_module_args) and 2.18 (which
reads the arguments from ansible.module_utils.basic._ANSIBLE_ARGS)."""

from __future__ import annotations

import contextlib
import json
import os
from unittest import mock

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as _warnings
from ansible.module_utils.common.text.converters import to_bytes

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19
    @contextlib.contextmanager
    def patch_module_args(args=None):
        with mock.patch.object(basic, '_ANSIBLE_ARGS', to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}))):
            yield

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'module_utils', 'fixtures')


def fixture_path(name):
    return os.path.join(FIXTURES, name)


def fixture(name):
    with open(fixture_path(name)) as f:
        return f.read()


def _clear_warnings():
    """Warnings are kept process-wide (a module normally runs once per process)."""
    for name in ('_global_warnings', '_global_deprecations', 'global_warnings', 'global_deprecations'):
        store = getattr(_warnings, name, None)
        if store is not None:
            store.clear()


def warnings(result):
    """The warning texts of a result (2.19 returns WarningSummary dicts, 2.18 strings)."""
    return [w if isinstance(w, str) else w['event']['msg'] for w in result.get('warnings', [])]


def run(main, args, capsys, check_mode=False, diff=False):
    """(failed, result) of one module run."""
    _clear_warnings()
    args = dict(args)
    if check_mode:
        args['_ansible_check_mode'] = True
    if diff:
        args['_ansible_diff'] = True
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            main()
    result = json.loads(capsys.readouterr().out)
    return bool(exc.value.code), result


def fake_tools(monkeypatch, outputs):
    """Fake get_bin_path/run_command: ``outputs`` maps a tool name to (rc, stdout, stderr); tools
    not in it are not installed. Returns the list of commands run."""
    calls = []

    def get_bin_path(self, name, *args, **kwargs):
        return '/usr/sbin/' + name if name in outputs else None

    def run_command(self, args, *more, **kwargs):
        calls.append(list(args))
        return outputs[os.path.basename(args[0])]

    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    return calls
