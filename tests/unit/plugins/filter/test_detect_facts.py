# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""detect_facts_files and current_detect_facts: detection facts kept by the slices of a sliced job and
read back for one plan (the per-host files and the fact cache)."""

from __future__ import annotations

import json

import pytest

from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19 renders any string given to template()
    def trust_as_template(value):
        return value

from ansible_collections.keeplocal.traffic.plugins.filter import detect_facts as plugin
from ansible_collections.keeplocal.traffic.plugins.filter.hairpin_plan import hairpin_plan
from ansible_collections.keeplocal.traffic.tests.unit.plugins.plugin_utils.lab_fixture import lab_facts

NOW = '2026-03-01T12:00:00Z'
EARLIER = '2026-03-01T11:50:00Z'      # 600 s before NOW
YESTERDAY = '2026-02-28T11:00:00Z'    # 90,000 s before NOW


def stamped(when=EARLIER):
    """The lab's facts as the role keeps them: each with its host and detected_at."""
    facts = lab_facts()
    for host, value in facts.items():
        value.update(host=host, detected_at=when)
    return facts


def test_registered():
    assert plugin.FilterModule().filters() == {
        'detect_facts_files': plugin.detect_facts_files,
        'current_detect_facts': plugin.current_detect_facts,
    }


def test_files_one_json_per_host_read_back_gives_the_same_plan():
    facts = stamped()
    files = plugin.detect_facts_files(facts)
    assert [item['name'] for item in files] == sorted(host + '.json' for host in facts)
    assert all(item['content'].endswith('}\n') for item in files)
    read_back = [json.loads(item['content']) for item in files]
    kept = plugin.current_detect_facts(read_back, hosts=sorted(facts), now=NOW)
    assert kept['found'] == sorted(facts) and kept['missing'] == [] and kept['stale'] == []
    assert kept['oldest'] == kept['newest'] == EARLIER
    assert hairpin_plan(kept['facts']) == hairpin_plan(lab_facts())


@pytest.mark.parametrize('facts, message', [
    ([], 'expects a dict {host: hairpin_detect_facts}, got list'),
    ({'gw': None}, 'the facts of gw are a NoneType, not a dict'),
    ({'a/b': {}}, "host name 'a/b' cannot be a file name"),
])
def test_files_errors(facts, message):
    with pytest.raises(AnsibleFilterError, match='keeplocal.traffic.detect_facts_files: ' + message.replace('{', r'\{')):
        plugin.detect_facts_files(facts)


def test_from_the_fact_cache_every_slice_gives_the_unsliced_plan():
    """{host: ansible_facts}: what each slice kept in the fact cache, read in one later run."""
    facts = stamped()
    hosts = sorted(facts)
    ansible_facts = {host: {'hairpin_detect_facts': facts[host], 'discovered_interpreter_python': '/usr/bin/python3'}
                     for host in hosts}
    kept = plugin.current_detect_facts(ansible_facts, hosts=hosts, now=NOW)
    assert kept['found'] == hosts
    assert hairpin_plan(kept['facts']) == hairpin_plan(lab_facts())


def test_a_slice_missing_is_not_observed_not_silently_left_out():
    facts = stamped()
    hosts = sorted(facts)
    slice_1 = hosts[0::2]
    kept = plugin.current_detect_facts({host: {'hairpin_detect_facts': facts[host]} for host in hosts[1::2]},
                                       hosts=hosts, now=NOW)
    assert kept['missing'] == slice_1
    assert [kept['facts'][host] for host in slice_1] == [None] * len(slice_1)
    plan = hairpin_plan(kept['facts'])
    assert sorted(item['host'] for item in plan['not_observed']) == slice_1
    assert plan['summary']['hosts'] == len(hosts)
    assert plan != hairpin_plan(lab_facts())


def test_old_facts_count_as_missing():
    """AAP keeps a host's facts until a job replaces them: an unreachable host's are an earlier run's."""
    facts = stamped()
    facts['svc-c']['detected_at'] = YESTERDAY
    del facts['svc-a']['detected_at']                  # kept by a role version without the time
    kept = plugin.current_detect_facts({host: {'hairpin_detect_facts': value} for host, value in facts.items()}, now=NOW)
    assert kept['stale'] == [{'host': 'svc-a', 'detected_at': None, 'age_seconds': None},
                             {'host': 'svc-c', 'detected_at': YESTERDAY, 'age_seconds': 90000}]
    assert kept['facts']['svc-a'] is None and kept['facts']['svc-c'] is None
    assert 'svc-a' not in kept['found'] and 'svc-c' not in kept['found']
    # max_age 0 takes any age; a larger one takes yesterday's
    assert plugin.current_detect_facts({'svc-c': {'hairpin_detect_facts': facts['svc-c']}}, max_age=0, now=NOW)['found'] == ['svc-c']
    assert plugin.current_detect_facts({'svc-c': {'hairpin_detect_facts': facts['svc-c']}}, max_age=90000, now=NOW)['found'] == ['svc-c']


def test_the_newest_facts_of_a_host_win_and_other_hosts_are_ignored():
    old, new = dict(stamped()['gw']), dict(stamped()['gw'])
    old['detected_at'], new['detected_at'] = '2026-03-01T11:00:00Z', '2026-03-01T11:30:00Z'
    new['addresses'] = ['192.0.2.99']
    other = dict(stamped()['svc-a'])
    for items in ([old, new, other], [new, old, other]):
        kept = plugin.current_detect_facts(items, hosts=['gw'], now=NOW)
        assert kept['facts'] == {'gw': new}
        assert kept['ignored'] == ['svc-a']


@pytest.mark.parametrize('data, kwargs, message', [
    ('gw', {}, 'expects a dict {host: ansible_facts} or a list of hairpin_detect_facts dicts, got str'),
    ([{'addresses': []}], {}, 'item 0 of the list is not a hairpin_detect_facts dict naming its host'),
    ({}, {'max_age': -1}, 'max_age must be a whole number of seconds, 0 or more'),
    ({}, {'max_age': 'soon'}, 'max_age must be a whole number of seconds'),
    ({}, {'max_age': True}, 'max_age must be a whole number of seconds'),
    ({}, {'now': 'yesterday'}, 'now must be a UTC time such as 2026-01-31T12:00:00Z'),
    ({}, {'hosts': 'gw'}, 'hosts must be a list of host names, got str'),
])
def test_current_errors(data, kwargs, message):
    with pytest.raises(AnsibleFilterError) as exc:
        plugin.current_detect_facts(data, **kwargs)
    assert 'keeplocal.traffic.current_detect_facts: ' + message in str(exc.value)


def template(expression, **variables):
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(expression))


def test_from_a_template_as_the_plan_entry_point_does():
    facts = stamped()
    hosts = sorted(facts)
    hostvars = {host: {'ansible_facts': {'hairpin_detect_facts': facts[host]}} for host in hosts}
    plan = template("{{ (dict(hosts | zip(hosts | map('extract', hostvars, 'ansible_facts')))"
                    " | keeplocal.traffic.current_detect_facts(hosts=hosts, max_age=0)).facts"
                    " | keeplocal.traffic.hairpin_plan }}", hosts=hosts, hostvars=hostvars)
    assert plan == hairpin_plan(lab_facts())
    files = template("{{ facts | keeplocal.traffic.detect_facts_files }}", facts=facts)
    assert [item['name'] for item in files] == [host + '.json' for host in hosts]
