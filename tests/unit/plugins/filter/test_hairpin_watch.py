# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hairpin_watch role's filters: its variables checked and split into the collector's
configuration and the rules' values; the code the collector needs on a host, complete enough to run
there under python -I with nothing else on the path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible.errors import AnsibleFilterError
from ansible_collections.keeplocal.traffic.plugins.filter import hairpin_watch
from ansible_collections.keeplocal.traffic.plugins.filter.hairpin_watch import hairpin_watch_settings, module_utils_closure
from ansible_collections.keeplocal.traffic.plugins.module_utils._watch import COLLECTOR_SETTINGS

ROLE = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'roles', 'hairpin_watch')
ENTRY = os.path.join(ROLE, 'files', 'keeplocal_hairpin_watch.py')


def role_values(**changes):
    """The role's variables as vars/main.yml hands them to the filter."""
    with open(os.path.join(ROLE, 'defaults', 'main.yml')) as handle:
        defaults = yaml.safe_load(handle)
    values = {name[len('hairpin_watch_'):]: value for name, value in defaults.items()}
    for name in ('state', 'install_node_exporter', 'rules_path', 'prometheus_config', 'prometheus_service'):
        del values[name]
    values['state_directory'] = '/var/lib/keeplocal-watch'
    values.update(changes)
    return values


def test_filters_are_registered():
    assert set(hairpin_watch.FilterModule().filters()) == {'hairpin_watch_settings', 'module_utils_closure'}


def test_the_defaults():
    settings = hairpin_watch_settings(role_values())
    assert sorted(settings['collector']) == sorted(COLLECTOR_SETTINGS)
    assert settings['collector']['interval'] == settings['interval'] == 60
    assert settings['components'] == ['collector']
    assert settings['rules'] == {
        'pair_for': '15m', 'usage_for': '10m', 'drops_window': '10m', 'drops_for': '0s', 'stale_after': '5m',
        'stale_for': '1m', 'stale_after_seconds': 300, 'usage_threshold': 0.8, 'price_per_gb': 0.045, 'currency': 'USD',
        'month_seconds': 730 * 3600, 'bytes_per_gb': 10 ** 9,
    }


def test_bad_variables_fail_before_any_change_naming_them():
    with pytest.raises(AnsibleFilterError) as exc:
        hairpin_watch_settings(role_values(interval='5', alert_usage_threshold=80, label_overrides={'server': {}}))
    text = str(exc.value)
    assert text.startswith('hairpin_watch: fix these variables, nothing was changed: ')
    for name in ('hairpin_watch_interval', 'hairpin_watch_alert_usage_threshold', 'hairpin_watch_label_overrides'):
        assert name + ': ' in text


def test_the_closure_holds_what_the_collector_imports():
    names = [os.path.basename(path) for path in module_utils_closure('_watch')]
    assert {'_watch.py', '_metrics.py', '_watch_settings.py', '_host_facts.py', '_conntrack_table.py', '_ctnetlink.py',
            '_sockets.py', '_addresses.py', '_procfs.py', '_conntrack_stats.py'} <= set(names)
    assert names == sorted(names) and all(os.path.isfile(path) for path in module_utils_closure('_watch'))
    # Code only the controller or other modules use stays off the hosts.
    assert '_nginx_upstream.py' not in names and '_gunicorn.py' not in names


def test_an_unknown_name_is_an_error():
    with pytest.raises(AnsibleFilterError, match='_nowhere.py is not a module_utils file of keeplocal.traffic'):
        module_utils_closure('_nowhere')


def test_the_collector_runs_from_its_files_alone(tmp_path):
    """The tree the role installs: the closure under an ansible_collections package of its own, the
    entry script next to it, run with python -I -S (no PYTHONPATH, no site-packages). A missing import
    would end in a traceback; a complete tree reaches the collector's own message."""
    package = tmp_path / 'ansible_collections' / 'keeplocal' / 'traffic' / 'plugins' / 'module_utils'
    package.mkdir(parents=True)
    for directory in (package, package.parent, package.parent.parent, package.parent.parent.parent, tmp_path / 'ansible_collections'):
        (directory / '__init__.py').write_text('')
    for path in module_utils_closure('_watch'):
        shutil.copy(path, str(package))
    shutil.copy(ENTRY, str(tmp_path))
    proc = subprocess.run([sys.executable, '-I', '-S', str(tmp_path / 'keeplocal_hairpin_watch.py'), '--config',
                           str(tmp_path / 'missing.json')], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, cwd=str(tmp_path), check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith('keeplocal-hairpin-watch: cannot read the configuration %s' % (tmp_path / 'missing.json'))
