# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform policy (plugin_utils._platform), and the places that state it: every role that changes
hosts checks first, the roles' meta platforms and the README list exactly the tested platforms.
tests/integration/targets/platform_check runs the check through ansible-playbook."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._platform import (
    FAMILIES, TESTED, assess, describe, missing_facts, tested_text)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..')
# Roles that change hosts (they check first); hairpin_detect only reads, on any distribution.
CHANGING = ('conntrack_tuning', 'hairpin_watch', 'local_shortcut', 'split_dns', 'unix_sockets')
# The Debian release names of the tested majors (meta/main.yml lists release names).
DEBIAN_RELEASES = {'12': 'bookworm', '13': 'trixie'}


def _facts(family, name, major, version=None, release=''):
    return {'os_family': family, 'distribution': name, 'distribution_major_version': major,
            'distribution_version': version or major, 'distribution_release': release}


def _read(*path):
    with open(os.path.join(ROOT, *path), encoding='utf-8') as handle:
        return handle.read()


@pytest.mark.parametrize('facts', [_facts('Debian', 'Debian', '12', '12.11', 'bookworm'),
                                   _facts('Debian', 'Debian', '13', '13.1', 'trixie')])
def test_debian_12_and_13_are_tested(facts):
    verdict = assess(facts, 'split_dns', 'db1')
    assert verdict['status'] == 'tested'
    assert verdict['message'] is None


@pytest.mark.parametrize('facts, text', [
    (_facts('Debian', 'Ubuntu', '24', '24.04', 'noble'), 'Ubuntu 24.04 (noble)'),
    (_facts('Debian', 'Ubuntu', '22', '22.04', 'jammy'), 'Ubuntu 22.04 (jammy)'),
    (_facts('Debian', 'Debian', '11', '11.9', 'bullseye'), 'Debian 11.9 (bullseye)'),
])
def test_other_debian_family_releases_warn(facts, text):
    verdict = assess(facts, 'split_dns', 'db1')
    assert verdict['status'] == 'untested'
    assert verdict['message'] == (
        'split_dns: db1 runs %s, which is not tested (tested: Debian 12, Debian 13); going on, as it is of the Debian family, '
        'whose packages and paths the role uses.' % text)


@pytest.mark.parametrize('facts, family, text', [
    (_facts('RedHat', 'Rocky', '9', '9.4', 'Blue Onyx'), 'RedHat', 'Rocky 9.4 (Blue Onyx)'),
    (_facts('RedHat', 'RedHat', '9', '9.5', 'Plow'), 'RedHat', 'RedHat 9.5 (Plow)'),
    (_facts('Suse', 'SLES', '15', '15.6', '6'), 'Suse', 'SLES 15.6'),
    (_facts('Alpine', 'Alpine', '3', '3.20.3', 'NA'), 'Alpine', 'Alpine 3.20.3'),
    ({}, 'unknown', 'an unknown distribution'),
])
def test_other_families_fail(facts, family, text):
    verdict = assess(facts, 'unix_sockets', 'web1')
    assert verdict['status'] == 'unsupported'
    assert verdict['message'] == (
        'unix_sockets: the %s family is not supported by this role yet (tested: Debian 12, Debian 13); web1 runs %s. '
        'Nothing was changed.' % (family, text))


def test_missing_facts():
    assert missing_facts(None) == ['os_family', 'distribution', 'distribution_major_version']
    assert missing_facts({'os_family': 'Debian', 'distribution': 'Debian'}) == ['distribution_major_version']
    assert missing_facts(_facts('Debian', 'Debian', '12')) == []


def test_describe_without_release():
    assert describe({'distribution': 'Debian', 'distribution_major_version': '12'}) == 'Debian 12'


def test_tested_platforms_are_of_a_supported_family():
    assert tested_text() == 'Debian 12, Debian 13'
    assert all(name == 'Debian' for name, _major, _release in TESTED) and 'Debian' in FAMILIES
    assert all(DEBIAN_RELEASES[major] == release for _name, major, release in TESTED)


@pytest.mark.parametrize('role', sorted(os.listdir(os.path.join(ROOT, 'roles'))))
def test_meta_platforms_are_the_tested_ones(role):
    meta = yaml.safe_load(_read('roles', role, 'meta', 'main.yml'))
    expected = {}
    for name, _major, release in TESTED:
        expected.setdefault(name, []).append(release)
    assert meta['galaxy_info']['platforms'] == [{'name': name, 'versions': versions} for name, versions in expected.items()]


@pytest.mark.parametrize('role', CHANGING)
def test_changing_roles_check_first(role):
    tasks = yaml.safe_load(_read('roles', role, 'tasks', 'main.yml'))
    assert 'keeplocal.traffic.platform_check' in tasks[0], '%s: the platform check is not the first task' % role


def test_detection_is_not_checked():
    roles = set(os.listdir(os.path.join(ROOT, 'roles')))
    assert roles - set(CHANGING) == {'hairpin_detect'}, 'a new role: add it to CHANGING or say why it reads only'
    text = ''.join(_read('roles', 'hairpin_detect', 'tasks', name) for name in os.listdir(os.path.join(ROOT, 'roles', 'hairpin_detect', 'tasks')))
    assert 'platform_check' not in text


def test_readme_states_the_tested_platforms():
    readme = _read('README.md')
    section = readme[readme.index('## Supported versions'):]
    section = ' '.join(section[:section.index('\n## ', 1)].split())
    for name, major, release in TESTED:
        assert '%s %s (%s)' % (name, major, release) in section
    assert 'RedHat family is not supported by this role yet' in section
