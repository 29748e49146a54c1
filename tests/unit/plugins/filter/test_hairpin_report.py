# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report_markdown and report_html filters."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19 renders any string given to template()
    def trust_as_template(value):
        return value

from ansible_collections.keeplocal.traffic.plugins.filter import hairpin_report as plugin
from ansible_collections.keeplocal.traffic.tests.unit.plugins.plugin_utils.lab_fixture import LAB_NAME_PORTS, PAIR_80, lab_facts

AFTER = {'after': {PAIR_80: {'p50_ms': 0.4, 'p99_ms': 1.1, 'gw_entries_per_1000': 0, 'backend_saw': '192.168.1.10'}}}


def test_registered():
    assert plugin.FilterModule().filters() == {
        'report_markdown': plugin.report_markdown, 'report_html': plugin.report_html, 'report_outcome': plugin.report_outcome}


@pytest.mark.parametrize('name', ['report_markdown', 'report_html'])
def test_bad_input_is_a_filter_error(name):
    with pytest.raises(AnsibleFilterError) as exc:
        getattr(plugin, name)({'version': 9})
    assert str(exc.value).startswith('keeplocal.traffic.%s: unsupported plan version 9' % name)
    with pytest.raises(AnsibleFilterError) as exc:
        getattr(plugin, name)({'version': 2, 'pairs': []}, measurements={'before': {PAIR_80: {'p99_ms': 'slow'}}})
    assert 'p99_ms must be a number' in str(exc.value)


def test_plan_then_reports_in_templates():
    variables = {'facts': lab_facts(), 'name_ports': LAB_NAME_PORTS, 'probe': AFTER}
    templar = Templar(loader=DataLoader(), variables=variables)
    markdown = templar.template(trust_as_template(
        '{{ facts | keeplocal.traffic.hairpin_plan(name_ports=name_ports) | keeplocal.traffic.report_markdown(probe) }}'))
    assert '| `%s` | split\\_dns | - → 0 | - → 0.40 ms | - → 1.10 ms | - → 192.168.1.10 |' % PAIR_80 in markdown
    page = templar.template(trust_as_template(
        '{{ facts | keeplocal.traffic.hairpin_plan(name_ports=name_ports) | keeplocal.traffic.report_html(measurements=probe) }}'))
    assert page.startswith('<!DOCTYPE html>')
    assert 'split DNS: app.example.test → 192.168.1.20 · gateway entries - → 0 per 1,000 requests' in page
