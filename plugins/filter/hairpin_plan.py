# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keeplocal.traffic.hairpin_plan filter (documentation in hairpin_plan.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import (
    DEFAULT_IPV4_PREFIX,
    DEFAULT_IPV6_PREFIX,
    DEFAULT_USAGE_THRESHOLD,
    PlanError,
    build_plan,
)


def hairpin_plan(facts, internal_cidrs=None, networks=None, usage_threshold=DEFAULT_USAGE_THRESHOLD,
                 ipv4_prefix=DEFAULT_IPV4_PREFIX, ipv6_prefix=DEFAULT_IPV6_PREFIX, name_ports=None, forwards=None,
                 public_addresses=None, act_on_latent=False):
    """Join every host's hairpin_detect_facts facts into the hairpin plan (version 2)."""
    try:
        return build_plan(facts, internal_cidrs=internal_cidrs, networks=networks, usage_threshold=usage_threshold,
                          ipv4_prefix=ipv4_prefix, ipv6_prefix=ipv6_prefix, name_ports=name_ports, forwards=forwards,
                          public_addresses=public_addresses, act_on_latent=act_on_latent)
    except PlanError as exc:
        raise AnsibleFilterError('keeplocal.traffic.hairpin_plan: %s' % to_native(exc)) from exc


class FilterModule:
    """Hairpin planner filter."""

    def filters(self):
        return {'hairpin_plan': hairpin_plan}
