# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The facts schema's checker, and the examples in docs/architecture.md checked against the schema."""

from __future__ import annotations

import copy
import os
import re

import pytest
import yaml

from ansible_collections.keeplocal.traffic.plugins.module_utils._facts_schema import (
    CONNTRACK,
    FACTS,
    SECTIONS,
    check,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

FORWARD = {'proto': 'tcp', 'public_ip': '198.51.100.1', 'public_port': 80, 'public_port_end': None, 'private_ip': '192.168.1.20',
           'private_port': 80, 'port_translated': False, 'in_interface': None, 'rule': '-A PREROUTING ...'}
GATEWAY = {
    'host': 'gw',
    'addresses': ['192.168.1.1'],
    'nat_rules': {'source': 'iptables', 'forwards': [FORWARD], 'snat_rules': []},
    'conntrack': {'available': False, 'count': None, 'max': None, 'buckets': None, 'usage': None, 'initial_netns': None,
                  'writable': False, 'accounting': None, 'stats': {}, 'per_cpu': [], 'memory_bytes': None, 'max_memory_bytes': None,
                  'table_full_messages': None, 'kernel_log': None, 'message': 'nf_conntrack is not loaded'},
}


def changed(path, value):
    """GATEWAY with the value at ``path`` (keys and list indexes) replaced, or removed for ``...``."""
    facts = copy.deepcopy(GATEWAY)
    node = facts
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return facts


def test_facts_that_fit():
    assert check(GATEWAY, FACTS) == []
    assert check({'addresses': []}, FACTS) == []   # every subset left out, the role's host too


@pytest.mark.parametrize('path, value, problem', [
    (('addresses',), ..., 'facts.addresses: missing'),
    (('nat_rules', 'snat_rules'), ..., 'facts.nat_rules.snat_rules: missing'),
    (('nat_rules', 'hairpin_capable'), True, 'facts.nat_rules.hairpin_capable: not in the schema'),
    (('nat_rules', 'unparsed'), [], 'facts.nat_rules.unparsed: not in the schema'),
    (('nat_rules', 'source'), 'pf', "facts.nat_rules.source: 'pf' is not one of iptables, nft, none"),
    (('nat_rules', 'forwards', 0, 'public_port'), '80', "facts.nat_rules.forwards[0].public_port: '80' is not an integer"),
    (('nat_rules', 'forwards', 0, 'public_port'), True, 'facts.nat_rules.forwards[0].public_port: True is not an integer'),
    (('nat_rules', 'forwards', 0, 'rule'), None, 'facts.nat_rules.forwards[0].rule: null, expected str'),
    (('nat_rules', 'forwards'), {}, 'facts.nat_rules.forwards: {} is not a list'),
    (('conntrack', 'available'), None, 'facts.conntrack.available: null, expected bool'),
    (('conntrack', 'available'), 1, 'facts.conntrack.available: 1 is not true or false'),
    (('conntrack', 'usage'), '0.5', "facts.conntrack.usage: '0.5' is not a number"),
    (('conntrack', 'stats'), {'drop': '0'}, "facts.conntrack.stats.drop: '0' is not an integer"),
    (('conntrack', 'stats'), {1: 0}, 'facts.conntrack.stats: key 1 is not a string'),
    (('conntrack', 'per_cpu'), [[]], 'facts.conntrack.per_cpu[0]: [] is not a dict'),
    (('conntrack',), 'unavailable', "facts.conntrack: 'unavailable' is not a dict"),
    (('dns_answers',), None, 'facts.dns_answers: null, expected dict'),
])
def test_what_does_not_fit_is_named(path, value, problem):
    assert check(changed(path, value), FACTS) == [problem]


def test_nullable_and_optional_keys():
    assert check(changed(('nat_rules', 'msg'), 'iptables-save: not installed'), FACTS) == []
    assert check(changed(('conntrack', 'usage'), 1), FACTS) == []       # a whole number is a number too
    assert check(changed(('conntrack', 'count'), 5), FACTS) == []
    assert check(changed(('host',), ...), FACTS) == []


def test_every_problem_is_listed():
    facts = changed(('conntrack', 'count'), 'many')
    facts['conntrack']['kernel_log'] = 'syslog'
    assert check(facts['conntrack'], CONNTRACK, 'conntrack') == [
        "conntrack.count: 'many' is not an integer",
        "conntrack.kernel_log: 'syslog' is not one of dmesg, journal",
    ]


# --- docs/architecture.md --------------------------------------------------------------------------

def _facts_section():
    with open(os.path.join(ROOT, 'docs', 'architecture.md'), encoding='utf-8') as handle:
        text = handle.read()
    start = text.index('\n## Facts per host')
    return text[start:text.index('\n## ', start + 1)]


def _examples():
    """{None: the example before the first ### heading, heading: the first example under it}."""
    section = _facts_section()
    parts = re.split(r'\n### (\S+)\n', section)
    blocks = {}
    for heading, body in [(None, parts[0])] + list(zip(parts[1::2], parts[2::2])):
        found = re.search(r'```yaml\n(.*?)```', body, re.S)
        if found:
            blocks[heading] = yaml.safe_load(found.group(1))
    return blocks


def test_docs_show_one_example_per_facts_key():
    examples = _examples()
    assert sorted(key for key in examples if key) == sorted(SECTIONS)
    assert sorted(examples[None]['hairpin_detect_facts']) == sorted(FACTS.fields)


@pytest.mark.parametrize('key', sorted(SECTIONS))
def test_docs_example_fits_the_schema(key):
    assert check(_examples()[key], SECTIONS[key], key) == []
