# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conntrack_tuning role's vars/main.yml: every role variable reaches the filter that checks them
and becomes conntrack_limits' arguments, and the role's defaults are the module's."""

from __future__ import annotations

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from jinja2.nativetypes import NativeEnvironment

from ansible_collections.keeplocal.traffic.plugins.filter.role_inputs import conntrack_tuning_settings
from ansible_collections.keeplocal.traffic.plugins.modules import conntrack_limits

ROLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'roles', 'conntrack_tuning')
# Role variables the role uses itself rather than passing them to conntrack_limits.
NOT_ARGUMENTS = ('state', 'install_tools', 'packages', 'set_stats')


def _load(*path):
    with open(os.path.join(ROLE, *path), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def limits(**changes):
    """vars/main.yml's _conntrack_tuning_limits, rendered with the defaults and changes (names without the prefix)."""
    variables = _load('defaults', 'main.yml')
    variables.update(('conntrack_tuning_' + name, value) for name, value in changes.items())
    environment = NativeEnvironment()
    environment.filters['keeplocal.traffic.conntrack_tuning_settings'] = conntrack_tuning_settings
    return environment.from_string(_load('vars', 'main.yml')['_conntrack_tuning_limits']).render(variables)


def test_vars_hold_private_names_only():
    assert all(name.startswith('_conntrack_tuning_') for name in _load('vars', 'main.yml'))


def test_every_role_variable_reaches_the_module():
    passed = {name[len('conntrack_tuning_'):] for name in _load('defaults', 'main.yml')} - set(NOT_ARGUMENTS)
    arguments = limits()
    # the three timeouts go in one dict
    assert (set(arguments) - {'timeouts'}) | {'timeout_' + key for key in arguments['timeouts']} == passed


def test_role_defaults_are_the_module_defaults():
    options = yaml.safe_load(conntrack_limits.DOCUMENTATION)['options']
    arguments = limits()
    assert {name: value for name, value in arguments.items() if name != 'timeouts'} == {
        name: option.get('default') for name, option in options.items() if name != 'timeouts'}
    assert arguments['timeouts'] == dict.fromkeys(options['timeouts']['suboptions'])


def test_bad_variables_fail_naming_each_before_any_change():
    with pytest.raises(AnsibleFilterError) as exc:
        limits(policy='fixed', timeout_close_wait=0, sysctl_file='sysctl')
    assert str(exc.value).startswith('conntrack_tuning: fix these variables, nothing was changed: conntrack_tuning_max is required')
    assert 'conntrack_tuning_timeout_close_wait must be' in str(exc.value)
    assert 'conntrack_tuning_sysctl_file must be' in str(exc.value)
