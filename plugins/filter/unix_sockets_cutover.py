# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The unix_sockets_cutover, unix_sockets_record and unix_sockets_nginx_changes filters (documentation in their .yml files)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.keeplocal.traffic.plugins.plugin_utils import _cutover


def unix_sockets_cutover(discovered_results, record, force=False, record_path='the record', state='present'):
    """Per pair, where its cutover stands and the step the unix_sockets role takes next."""
    try:
        return _cutover.cutover_steps(discovered_results, record, force, record_path, state)
    except _cutover.RecordError as exc:
        raise AnsibleFilterError('unix_sockets: nothing was changed: %s' % to_native(exc)) from exc


def unix_sockets_record(record, address, entry, record_path='the record'):
    """The record with ``address``'s entry replaced by ``entry`` (none removes it)."""
    try:
        return _cutover.record_with(_cutover.read_record(record, record_path), address, entry)
    except _cutover.RecordError as exc:
        raise AnsibleFilterError('unix_sockets: %s' % to_native(exc)) from exc


def unix_sockets_nginx_changes(first, second):
    """The cutover's nginx lines, original -> final, from its two switches."""
    return _cutover.nginx_changes(first, second)


class FilterModule:
    """The unix_sockets role's cutover record."""

    def filters(self):
        return {'unix_sockets_cutover': unix_sockets_cutover, 'unix_sockets_record': unix_sockets_record,
                'unix_sockets_nginx_changes': unix_sockets_nginx_changes}
