# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local_shortcut_rules, unix_sockets_pairs and conntrack_tuning_settings filters (documentation in their .yml files)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.keeplocal.traffic.plugins.plugin_utils import _role_inputs


def local_shortcut_rules(rules):
    """The local_shortcut role's rules, checked, one per public endpoint, with their fingerprint."""
    try:
        return _role_inputs.local_shortcut_rules(rules)
    except _role_inputs.RoleInputError as exc:
        raise AnsibleFilterError('local_shortcut: fix these rules, nothing was changed: %s' % to_native(exc)) from exc


def unix_sockets_pairs(pairs, socket_path):
    """The unix_sockets role's pairs, checked, one per TCP address, with the socket path filled in."""
    try:
        return _role_inputs.unix_sockets_pairs(pairs, socket_path)
    except _role_inputs.RoleInputError as exc:
        raise AnsibleFilterError('unix_sockets: fix these pairs, nothing was changed: %s' % to_native(exc)) from exc


def conntrack_tuning_settings(settings):
    """The conntrack_tuning role's variables, checked, as conntrack_limits' arguments."""
    try:
        return _role_inputs.conntrack_tuning_settings(settings)
    except _role_inputs.RoleInputError as exc:
        raise AnsibleFilterError('conntrack_tuning: fix these variables, nothing was changed: %s' % to_native(exc)) from exc


class FilterModule:
    """Role input filters."""

    def filters(self):
        return {'local_shortcut_rules': local_shortcut_rules, 'unix_sockets_pairs': unix_sockets_pairs,
                'conntrack_tuning_settings': conntrack_tuning_settings}
