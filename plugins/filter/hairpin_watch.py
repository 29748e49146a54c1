# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hairpin_watch_settings and module_utils_closure filters (documentation in their .yml files)."""

from __future__ import annotations

import ast
import os

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.keeplocal.traffic.plugins.module_utils._metrics import BYTES_PER_GB, MONTH_SECONDS
from ansible_collections.keeplocal.traffic.plugins.module_utils._watch import COLLECTOR_SETTINGS
from ansible_collections.keeplocal.traffic.plugins.module_utils._watch_settings import (
    SettingsError,
    check_settings,
    format_duration,
)

PREFIX = 'hairpin_watch_'
MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'module_utils')
PACKAGE = 'ansible_collections.keeplocal.traffic.plugins.module_utils'
RULE_DURATIONS = ('pair_for', 'usage_for', 'drops_window', 'drops_for', 'stale_after', 'stale_for')


def hairpin_watch_settings(values):
    """The hairpin_watch role's variables (names without the prefix), checked: the collector's
    configuration, the interval, the components and the alerting rules' values."""
    try:
        settings = check_settings(values, prefix=PREFIX)
    except SettingsError as exc:
        raise AnsibleFilterError('hairpin_watch: fix these variables, nothing was changed: %s' % to_native(exc)) from exc
    rules = {name: format_duration(settings['alert_' + name]) for name in RULE_DURATIONS if 'alert_' + name in settings}
    rules.update(stale_after_seconds=settings.get('alert_stale_after'), usage_threshold=settings.get('alert_usage_threshold'),
                 price_per_gb=settings.get('price_per_gb'), currency=settings.get('currency'),
                 month_seconds=MONTH_SECONDS, bytes_per_gb=BYTES_PER_GB)
    return {
        'collector': {name: settings[name] for name in COLLECTOR_SETTINGS if name in settings},
        'interval': settings.get('interval'),
        'components': settings.get('components'),
        'rules': rules,
    }


def _imports(path):
    """The collection's module_utils names a Python file imports."""
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read(), path)
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue
        if node.module == PACKAGE:
            names.update(alias.name for alias in node.names)
        elif node.module.startswith(PACKAGE + '.'):
            names.add(node.module[len(PACKAGE) + 1:])
    return names


def module_utils_closure(name):
    """Absolute paths of the collection's module_utils file ``name`` and every one it imports,
    directly or not, sorted: what a host needs to run it without Ansible."""
    found = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in found:
            continue
        path = os.path.join(MODULE_UTILS, current + '.py')
        if not os.path.isfile(path):
            raise AnsibleFilterError('module_utils_closure: %s is not a module_utils file of keeplocal.traffic' % path)
        found.add(current)
        pending.extend(_imports(path))
    return sorted(os.path.join(MODULE_UTILS, current + '.py') for current in found)


class FilterModule:
    """The hairpin watch role's filters."""

    def filters(self):
        return {'hairpin_watch_settings': hairpin_watch_settings, 'module_utils_closure': module_utils_closure}
