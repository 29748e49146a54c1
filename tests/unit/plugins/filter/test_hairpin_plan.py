# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hairpin_plan filter: registration, errors as AnsibleFilterError, and use from a real template."""

from __future__ import annotations

import gc

import pytest

from ansible.errors import AnsibleError, AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19 renders any string given to template()
    def trust_as_template(value):
        return value

from ansible_collections.keeplocal.traffic.plugins.filter import hairpin_plan as plugin
from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_stats import MSG_UNAVAILABLE, unavailable_result
from ansible_collections.keeplocal.traffic.tests.unit.plugins.plugin_utils.lab_fixture import PAIR_80, PAIR_5432, lab_facts


def test_registered():
    assert plugin.FilterModule().filters() == {'hairpin_plan': plugin.hairpin_plan}


def test_defaults_match_the_planner():
    plan = plugin.hairpin_plan(lab_facts())
    # without name_ports the lab's two names share one public address: neither is attributable
    assert [(pair['id'], pair['fix']) for pair in plan['pairs']] == [(PAIR_80, 'local_shortcut'), (PAIR_5432, 'local_shortcut')]


def test_not_observed_conntrack_says_why_in_the_modules_words():
    """conntrack_info (and hairpin_facts) put the reason of an unavailable table in ``message``."""
    facts = lab_facts()
    facts['svc-a']['conntrack'] = unavailable_result()
    plan = plugin.hairpin_plan(facts)
    assert plan['not_observed'] == [{'host': 'svc-a', 'source': 'conntrack', 'reason': MSG_UNAVAILABLE}]


class FactsRecordingTheCollector(dict):
    """Facts that note whether the garbage collector runs when the planner reads them."""

    def __init__(self, *args):
        super().__init__(*args)
        self.collector_enabled = []

    def items(self):
        self.collector_enabled.append(gc.isenabled())
        return super().items()


@pytest.mark.parametrize('enabled', [True, False])
def test_the_collector_pauses_while_planning_and_is_left_as_it_was(enabled):
    """The planner pauses the garbage collector while it plans (bench/results/plan_scale.md says why), also on errors."""
    was_enabled = gc.isenabled()
    try:
        if enabled:
            gc.enable()
        else:
            gc.disable()
        facts = FactsRecordingTheCollector(lab_facts())
        plugin.hairpin_plan(facts)
        assert facts.collector_enabled == [False]
        assert gc.isenabled() is enabled
        with pytest.raises(AnsibleFilterError):
            plugin.hairpin_plan(lab_facts(), usage_threshold=2)
        assert gc.isenabled() is enabled
    finally:
        if was_enabled:
            gc.enable()
        else:
            gc.disable()


@pytest.mark.parametrize('kwargs, message', [
    ({'usage_threshold': 2}, 'usage_threshold must be a number in (0, 1]'),
    ({'internal_cidrs': ['10.0.0.0/40']}, "internal_cidrs: '10.0.0.0/40' is not a network"),
])
def test_errors_are_filter_errors(kwargs, message):
    with pytest.raises(AnsibleFilterError) as exc:
        plugin.hairpin_plan(lab_facts(), **kwargs)
    assert 'keeplocal.traffic.hairpin_plan: ' + message in str(exc.value)


def template(expression, **variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


def test_from_a_template_with_hostvars_shape():
    """What the detect playbook does: zip host names with their hostvars, give name_ports."""
    facts = lab_facts()
    hostvars = {host: {'inventory_hostname': host, 'hairpin_detect_facts': value} for host, value in facts.items()}
    plan = template("{{ dict(hosts | zip(hosts | map('extract', hostvars))) | keeplocal.traffic.hairpin_plan("
                    "name_ports={'app.example.test': 80, 'db.example.test': [5432]}, usage_threshold=0.5) }}",
                    hosts=sorted(hostvars), hostvars=hostvars)
    assert plan['summary']['by_fix'] == {'unix_socket': 1, 'split_dns': 1, 'local_shortcut': 1, 'conntrack_headroom': 0}
    assert plan['pairs'][0]['public']['names'] == ['app.example.test']


def test_template_error_names_the_option():
    with pytest.raises(AnsibleError) as exc:
        template("{{ facts | keeplocal.traffic.hairpin_plan(name_ports='app') }}", facts=lab_facts())
    assert 'name_ports must be a dict' in str(exc.value)
