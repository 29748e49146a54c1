# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one plan reader: the plan's recommendations as inventory groups and each role's variables.

The planner decides (``_plan.py``, ``_recommend.py``); this module only collects what it decided,
per host, so that the playbooks choose which play runs and the roles receive explicit variables.
The plan's version is checked here and nowhere else. Pure functions, controller side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import parse_ip
from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import PLAN_VERSION

# Group per role that applies a fix; the plays of remediate.yml target these.
GROUP_FOR_ROLE = {
    'keeplocal.traffic.local_shortcut': 'keeplocal_fix_local_shortcut',
    'keeplocal.traffic.unix_sockets': 'keeplocal_fix_unix_socket',
    'keeplocal.traffic.split_dns': 'keeplocal_fix_split_dns',
    'keeplocal.traffic.conntrack_tuning': 'keeplocal_fix_conntrack_headroom',
}
GROUP_DNS_SERVERS = 'keeplocal_fix_split_dns_server'
GROUP_MEASURE = 'keeplocal_measure'
# The list each role takes per host; recommendations for one host are concatenated.
LIST_INPUTS = ('local_shortcut_rules', 'unix_sockets_pairs', 'split_dns_names')


class PlanReadError(ValueError):
    """The plan cannot be read; the message names the source and the fix."""


def read_plan(value, source):
    """The plan as a dict, from a dict or its JSON text; ``source`` names it in errors."""
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise PlanReadError('%s is not JSON (%s): pass the plan.json that keeplocal.traffic.detect wrote' % (source, exc)) from None
    if not isinstance(value, Mapping):
        raise PlanReadError('%s must be a plan (a JSON object from keeplocal.traffic.detect), got %s' % (source, type(value).__name__))
    version = value.get('version')
    if version != PLAN_VERSION:
        raise PlanReadError('%s has plan version %r; this collection reads version %d: run keeplocal.traffic.detect again '
                            'to write a current plan' % (source, version, PLAN_VERSION))
    for key in ('pairs', 'same_host', 'gateways'):
        if not isinstance(value.get(key), list):
            raise PlanReadError('%s.%s must be a list (a plan from keeplocal.traffic.detect)' % (source, key))
    return dict(value)


def _findings(plan):
    for key in ('pairs', 'same_host', 'gateways'):
        for finding in plan[key]:
            if isinstance(finding, Mapping) and finding.get('recommendation'):
                yield key, finding


class _Host:

    def __init__(self, name):
        self.name = name
        self.groups = set()
        self.roles = {}
        self.measure = []
        self.measure_same_host = []

    def add_input(self, role, role_input):
        merged = self.roles.setdefault(role.rsplit('.', 1)[-1], {})
        for key, value in (role_input or {}).items():
            if key in LIST_INPUTS:
                merged.setdefault(key, [])
                merged[key].extend(item for item in value if item not in merged[key])
            else:
                merged[key] = value

    def out(self):
        return {'name': self.name, 'groups': sorted(self.groups),
                'vars': {'roles': self.roles, 'measure': self.measure, 'measure_same_host': self.measure_same_host}}


def assignments(plan, source='keeplocal_plan', inventory=None, dns_servers=None, dns_server_address=None):
    """What each host does, from the plan's recommendations.

    Returns ``{plan, hosts: [{name, groups, vars: {roles: {role: {variable: value}}, measure: [pair],
    measure_same_host: [same_host entry]}}],
    manual: [{id, change}], problems: [text]}``. ``problems`` lists what keeps remediation from
    applying an automatic recommendation (a host not in ``inventory``, no DNS server for split DNS);
    measuring needs none of that, so they are reported, not raised.
    """
    plan = read_plan(plan, source)
    known = None if inventory is None else set(inventory)
    servers = list(dns_servers or [])
    hosts = {}
    manual = []
    problems = []
    names_for_servers = []

    def host(name):
        if name not in hosts:
            hosts[name] = _Host(name)
        return hosts[name]

    for kind, finding in _findings(plan):
        rec = finding['recommendation']
        label = finding.get('id') or finding.get('host')
        if rec.get('mode') != 'automatic':
            manual.append({'id': label, 'change': rec.get('change')})
            continue
        role, name = rec.get('role'), rec.get('host')
        if role not in GROUP_FOR_ROLE:
            raise PlanReadError('%s: %s %s names role %r, which remediate does not run: run keeplocal.traffic.detect again'
                                % (source, kind, label, role))
        if known is not None and name not in known:
            problems.append('%s %s: the plan applies %s on %s, which is not in this inventory: run keeplocal.traffic.detect '
                            'with this inventory, or add the host' % (kind, label, role, name))
            continue
        target = host(name)
        target.groups.add(GROUP_FOR_ROLE[role])
        target.add_input(role, rec.get('input'))
        if role == 'keeplocal.traffic.split_dns':
            names_for_servers.extend(rec['input']['split_dns_names'])
        if finding.get('status') == 'active' and kind in ('pairs', 'same_host'):
            target.groups.add(GROUP_MEASURE)
            (target.measure if kind == 'pairs' else target.measure_same_host).append(finding)

    if names_for_servers:
        address = parse_ip(dns_server_address) if isinstance(dns_server_address, str) else None
        if not servers:
            problems.append('the plan has automatic split_dns fixes but no DNS server: put the host that runs CoreDNS in the '
                            'inventory group named by keeplocal_dns_servers (default dns_servers)')
        if address is None:
            problems.append('keeplocal_dns_server_address must be the address clients query the private resolver at '
                            '(e.g. 192.168.1.1), got %r' % (dns_server_address,))
        for name in servers:
            server = host(name)
            server.groups.add(GROUP_DNS_SERVERS)
            merged = server.roles.setdefault('split_dns_server', {'split_dns_names': []})
            merged['split_dns_names'].extend(item for item in names_for_servers if item not in merged['split_dns_names'])
        for target in hosts.values():
            if 'split_dns' in target.roles and address is not None:
                target.roles['split_dns']['split_dns_client_nameservers'] = [str(address)]

    return {
        'plan': plan,
        'hosts': [hosts[name].out() for name in sorted(hosts)],
        'manual': manual,
        'problems': problems,
    }
