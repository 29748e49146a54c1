# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keeplocal.traffic.plan_assignments filter (documentation in plan_assignments.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan_reader import PlanReadError, assignments


def plan_assignments(plan, source='keeplocal_plan', inventory=None, dns_servers=None, dns_server_address=None):
    """The plan's recommendations as inventory groups and each role's explicit variables."""
    try:
        return assignments(plan, source=source, inventory=inventory, dns_servers=dns_servers,
                           dns_server_address=dns_server_address)
    except PlanReadError as exc:
        raise AnsibleFilterError('keeplocal.traffic.plan_assignments: %s' % to_native(exc)) from exc


class FilterModule:
    """Plan reader filter."""

    def filters(self):
        return {'plan_assignments': plan_assignments}
