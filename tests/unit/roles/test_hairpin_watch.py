# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hairpin_watch role's rules file and defaults: the shipped rules file is the template written
with the defaults, other values reach the rules, and the defaults agree with the module's and the
planner's. promtool checks and tests the rules in scripts/test.sh host (tests/prometheus/).

Write the shipped copy again after changing the template or the defaults:
    PYTHONPATH=$KEEPLOCAL_COLLECTIONS python tests/unit/roles/test_hairpin_watch.py
"""

from __future__ import annotations

import os
import sys

import jinja2
import yaml

from ansible_collections.keeplocal.traffic.plugins.filter.hairpin_watch import hairpin_watch_settings
from ansible_collections.keeplocal.traffic.plugins.modules import hairpin_watch_info
from ansible_collections.keeplocal.traffic.plugins.module_utils._app_servers import KNOWN_SERVERS

ROLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'roles', 'hairpin_watch')
TEMPLATE = os.path.join(ROLE, 'templates', 'keeplocal-hairpin.rules.yml.j2')
SHIPPED = os.path.join(ROLE, 'files', 'keeplocal-hairpin.rules.yml')
# Role variables that do not reach the filter (vars/main.yml passes the rest, and its private state directory).
NOT_SETTINGS = ('state', 'install_node_exporter', 'rules_path', 'prometheus_config', 'prometheus_service')


def defaults():
    with open(os.path.join(ROLE, 'defaults', 'main.yml')) as handle:
        return yaml.safe_load(handle)


def settings(**changes):
    values = {name[len('hairpin_watch_'):]: value for name, value in defaults().items()
              if name[len('hairpin_watch_'):] not in NOT_SETTINGS}
    values['state_directory'] = '/var/lib/keeplocal-watch'
    values.update(changes)
    return hairpin_watch_settings(values)


def render(role_settings):
    """The rules file as tasks/rules.yml writes it (the template module with << >> delimiters)."""
    env = jinja2.Environment(variable_start_string='<<', variable_end_string='>>', keep_trailing_newline=True,
                             trim_blocks=True, undefined=jinja2.StrictUndefined)
    with open(TEMPLATE) as handle:
        return env.from_string(handle.read()).render(_hairpin_watch_settings=role_settings)


def rules(text):
    return {rule.get('alert') or rule['record']: rule for rule in yaml.safe_load(text)['groups'][0]['rules']}


def test_the_shipped_rules_are_the_template_with_the_defaults():
    with open(SHIPPED) as handle:
        assert handle.read() == render(settings()), 'write it again: python %s' % __file__


def test_variables_reach_the_rules():
    found = rules(render(settings(alert_pair_for='30s', alert_usage_threshold=0.5, alert_usage_for=45,
                                  alert_drops_window='2m', alert_drops_for='1m', interval='10s', alert_stale_after=40,
                                  alert_stale_for='15s', price_per_gb=0.052, currency='EUR')))
    assert found['KeeplocalHairpinActive']['for'] == found['KeeplocalPublicAddressCalls']['for'] == '30s'
    assert found['KeeplocalConntrackUsageHigh']['expr'] == 'keeplocal_conntrack_usage_ratio > 0.5'
    assert found['KeeplocalConntrackUsageHigh']['for'] == '45s'
    assert found['KeeplocalConntrackDrops']['expr'].count('[2m])') == 3 and found['KeeplocalConntrackDrops']['for'] == '1m'
    assert found['KeeplocalCollectorStale']['expr'].endswith('> 40') and found['KeeplocalCollectorStale']['for'] == '15s'
    assert found['keeplocal:hairpin_cost_per_month']['expr'] == 'keeplocal:hairpin_gb_per_month * 0.052'
    assert found['keeplocal:hairpin_cost_per_month']['labels'] == {'currency': 'EUR'}


def test_prometheus_templates_stay_as_they_are():
    summary = rules(render(settings()))['KeeplocalHairpinActive']['annotations']['summary']
    assert summary == 'Hairpin through {{ $labels.instance }}: {{ $labels.client }} -> {{ $labels.public }} -> {{ $labels.backend }}'


def test_defaults_agree_with_the_module_and_the_planner():
    role = defaults()
    options = {name: spec.get('default') for name, spec in
               yaml.safe_load(hairpin_watch_info.DOCUMENTATION)['options'].items()}
    for name in ('textfile_directory', 'interval', 'top_pairs', 'label_overrides', 'app_servers', 'price_per_gb', 'currency'):
        assert options[name] == role['hairpin_watch_' + name], name
    # The module's documented default and the role's default spell out the planner's list.
    assert role['hairpin_watch_app_servers'] == list(KNOWN_SERVERS)


if __name__ == '__main__':
    with open(SHIPPED, 'w') as out:
        out.write(render(settings()))
    sys.stdout.write('wrote %s\n' % SHIPPED)
