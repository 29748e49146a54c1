# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every detection module returns the facts schema (module_utils/_facts_schema.py) on fake hosts built
from captured text, and documents exactly its keys and types in RETURN."""

from __future__ import annotations

import ast
import inspect

import pytest
import yaml

from ansible_collections.keeplocal.traffic.plugins.module_utils._facts_schema import (
    ADDRESSES,
    FACTS,
    SECTIONS,
    ListOf,
    MapOf,
    Record,
    check,
)
from ansible_collections.keeplocal.traffic.plugins.modules import (
    conntrack_info,
    dns_answers_info,
    hairpin_facts,
    hairpin_flows_info,
    nat_rules_info,
    outbound_flows_info,
)
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.fake_hosts import fake_host
from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules.module_harness import fixture, run

# Keys Ansible adds to every module result (the role drops them, see hairpin_detect_result_noise).
NOISE = ('changed', 'failed', 'invocation', 'warnings', 'deprecations')

DMESG = '[  812.100001] nf_conntrack: nf_conntrack: table full, dropping packet\n'
GW_NAT = fixture('iptables-save-nat.txt')

# Whose sockets, which rules, conntrack loaded or not, which tools answer; and the hairpin_facts runs.
SCENARIOS = {
    'gateway, /proc table, kernel log': (
        dict(nat=GW_NAT, tools={'iptables-save': (0, GW_NAT, ''), 'ip': (0, fixture('cli-ip-j-addr.json'), ''),
                                'dmesg': (0, DMESG, '')}),
        [{'names': ['app.example.test', 'app.internal.test', 'nope.example.test']}]),
    'gateway over netlink': (dict(nat=GW_NAT, netlink='ctnetlink-dump-dnat.txt'), [{}]),
    'nftables gateway': (
        dict(tools={'nft': (0, fixture('nft-ruleset.json'), ''), 'ip': (0, fixture('cli-ip-j-addr.json'), '')}), [{}]),
    'app server with processes': (dict(sockets='srv'), [{'names': ['app.example.test']}]),
    'nothing readable': (
        dict(conntrack=False, table=None, tools={}),
        [{}, {'gather_subset': ['!nat_rules']}, {'gather_subset': ['!all']}]),
}
# The module's own result: the facts without what the role adds (host, detected_at).
RESULT = Record({key: shape for key, shape in FACTS.fields.items() if key not in ('host', 'detected_at')}, optional=SECTIONS)
# outbound_flows_info adds the host's addresses to the outbound_flows value.
OUTBOUND_FLOWS_INFO = Record(dict(SECTIONS['outbound_flows'].fields, local_addresses=ADDRESSES))


def facts(result):
    return {key: value for key, value in result.items() if key not in NOISE}


def paths(value, shape, path, found):
    """Add the paths of ``shape`` that ``value`` holds (list items as []) to ``found``."""
    found.add(path)
    if isinstance(shape, Record) and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.fields:
                paths(item, shape.fields[key], '%s.%s' % (path, key), found)
    elif isinstance(shape, ListOf) and isinstance(value, list):
        for item in value:
            paths(item, shape.item, path + '[]', found)


def all_paths(shape, path):
    found = {path}
    if isinstance(shape, Record):
        for key, item in shape.fields.items():
            found |= all_paths(item, '%s.%s' % (path, key))
    elif isinstance(shape, ListOf):
        found |= all_paths(shape.item, path + '[]')
    return found


def hairpin_facts_results(tmp_path, monkeypatch, capsys, scenario):
    """The facts of every hairpin_facts run of ``scenario``, in normal and in check mode."""
    host, runs = SCENARIOS[scenario]
    fake_host(tmp_path, monkeypatch, **host)
    results = []
    for args in runs:
        for check_mode in (False, True):
            failed, result = run(hairpin_facts.main, args, capsys, check_mode=check_mode)
            assert not failed, result
            results.append(facts(result))
    return results


@pytest.mark.parametrize('scenario', sorted(SCENARIOS))
def test_hairpin_facts_returns_the_schema(tmp_path, monkeypatch, capsys, scenario):
    for result in hairpin_facts_results(tmp_path, monkeypatch, capsys, scenario):
        assert check(result, RESULT, 'hairpin_facts') == []


def test_the_scenarios_hold_every_key(tmp_path, monkeypatch, capsys):
    """Each key of the schema, optional ones included, appears in some scenario's result: the checks
    above do not pass for want of data."""
    seen = set()
    for number, scenario in enumerate(sorted(SCENARIOS)):
        base = tmp_path / str(number)
        base.mkdir()
        for result in hairpin_facts_results(base, monkeypatch, capsys, scenario):
            paths(result, RESULT, 'hairpin_facts', seen)
    assert sorted(all_paths(RESULT, 'hairpin_facts') - seen) == []


@pytest.mark.parametrize('scenario', sorted(SCENARIOS))
def test_single_modules_return_the_schema(tmp_path, monkeypatch, capsys, scenario):
    host, dummy = SCENARIOS[scenario]
    fake_host(tmp_path, monkeypatch, **host)
    runs = [
        (conntrack_info, {}, SECTIONS['conntrack']),
        (nat_rules_info, {}, SECTIONS['nat_rules']),
        (hairpin_flows_info, {}, SECTIONS['hairpin_flows']),
        (outbound_flows_info, {}, OUTBOUND_FLOWS_INFO),
        (dns_answers_info, {'names': ['app.example.test', 'nope.example.test']}, SECTIONS['dns_answers']),
    ]
    for module, args, shape in runs:
        failed, result = run(module.main, args, capsys)
        assert not failed, result
        assert check(facts(result), shape, module.__name__.rsplit('.', 1)[-1]) == []


# --- RETURN documentation ----------------------------------------------------------------------------

def _doc(module, name):
    """A module's DOCUMENTATION or RETURN, parsed from its source as ansible-doc reads it."""
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == name:
            return yaml.safe_load(node.value.value)
    raise AssertionError('%s has no %s' % (module.__name__, name))


def doc_problems(entries, shape, path, detailed):
    """Where the RETURN ``entries`` (a key -> {type, elements, returned, contains, sample} mapping)
    differ from the Record ``shape``: keys, types, list elements, always or not, and samples that
    do not fit. ``detailed``: every dict and list of dicts must list its keys (``contains``)."""
    problems = []
    if sorted(entries) != sorted(shape.fields):
        problems.append('%s: documents %s, the schema has %s' % (path, sorted(entries), sorted(shape.fields)))
    for key in sorted(set(entries) & set(shape.fields)):
        entry, item, where = entries[key], shape.fields[key], '%s.%s' % (path, key)
        if entry.get('type') != item.name:
            problems.append('%s: type %s, the schema has %s' % (where, entry.get('type'), item.name))
        returned = entry.get('returned', 'always')
        if (returned == 'always') == (key in shape.optional):
            problems.append('%s: returned %r, the schema has it %s'
                            % (where, returned, 'optional' if key in shape.optional else 'always there'))
        inner = item.item if isinstance(item, ListOf) else item
        if isinstance(item, ListOf) and entry.get('elements') != inner.name:
            problems.append('%s: elements %s, the schema has %s' % (where, entry.get('elements'), inner.name))
        if isinstance(inner, Record):
            if 'contains' in entry:
                problems.extend(doc_problems(entry['contains'], inner, where, detailed))
            elif detailed:
                problems.append('%s: the keys are not documented (contains)' % where)
        elif 'contains' in entry and not isinstance(inner, MapOf):
            problems.append('%s: documents keys the schema has no record for' % where)
        if 'sample' in entry:
            problems.extend(check(entry['sample'], item, where + ' sample'))
    return problems


@pytest.mark.parametrize('module, shape, detailed', [
    (hairpin_facts, RESULT, True),
    (conntrack_info, SECTIONS['conntrack'], False),
    (nat_rules_info, SECTIONS['nat_rules'], False),
    (hairpin_flows_info, SECTIONS['hairpin_flows'], False),
    (outbound_flows_info, OUTBOUND_FLOWS_INFO, False),
    (dns_answers_info, SECTIONS['dns_answers'], False),
], ids=lambda value: value.__name__.rsplit('.', 1)[-1] if inspect.ismodule(value) else None)
def test_return_docs_state_the_schema(module, shape, detailed):
    assert doc_problems(_doc(module, 'RETURN'), shape, 'RETURN', detailed) == []


def test_deprecated_modules_name_their_replacement():
    """Each deprecated module is hairpin_facts with one subset; its deprecation says which."""
    for module, key in ((nat_rules_info, 'nat_rules'), (hairpin_flows_info, 'hairpin_flows'),
                        (outbound_flows_info, 'outbound_flows'), (dns_answers_info, 'dns_answers')):
        alternative = _doc(module, 'DOCUMENTATION')['deprecated']['alternative']
        assert 'gather_subset=[%s]' % key in alternative
    assert 'deprecated' not in _doc(conntrack_info, 'DOCUMENTATION')
