# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which managed hosts the roles that change hosts run on: the one statement of it.

The roles call it through the ``keeplocal.traffic.platform_check`` action, as their first task:

- a tested platform (``TESTED``: Debian 12 and 13) passes;
- another release of a supported family (``FAMILIES``: Debian, so Ubuntu or Debian 11) passes with
  a warning that it is not tested: the roles use that family's packages, paths and tools;
- any other family fails before the role changes anything.

The roles' ``meta/main.yml`` platforms and the README list ``TESTED`` (a unit test ties them).
Detection (``hairpin_detect``, the modules) reads ``/proc`` and netlink with Python's standard
library and is not checked. Pure functions, controller side.
"""

from __future__ import annotations

# (distribution, major version, release name) of every platform the lab tests.
TESTED = (('Debian', '12', 'bookworm'), ('Debian', '13', 'trixie'))
# os_family values whose package names and paths the roles use.
FAMILIES = ('Debian',)
# The facts the check reads (ansible_facts names); the 'distribution' gather subset has them all.
NEEDED_FACTS = ('os_family', 'distribution', 'distribution_major_version')
GATHER_SUBSET = ['!all', '!min', 'distribution']
# What the check keeps of a setup result: the distribution facts only (not module_setup, which
# would tell gathering 'smart' that every fact was gathered).
KEPT_FACTS = ('ansible_os_family', 'ansible_distribution', 'ansible_distribution_major_version',
              'ansible_distribution_version', 'ansible_distribution_release', 'ansible_distribution_file_variety')


def tested_text():
    """``Debian 12, Debian 13``: the tested platforms as the messages name them."""
    return ', '.join('%s %s' % (name, major) for name, major, _release in TESTED)


def missing_facts(facts):
    """The needed facts ``facts`` (ansible_facts, names without the prefix) lacks."""
    facts = facts or {}
    return [name for name in NEEDED_FACTS if not facts.get(name)]


def describe(facts):
    """``Ubuntu 24.04 (noble)``, from the distribution facts."""
    name = facts.get('distribution') or 'an unknown distribution'
    version = facts.get('distribution_version') or facts.get('distribution_major_version') or ''
    release = facts.get('distribution_release') or ''
    text = ('%s %s' % (name, version)).strip()
    # Debian names its releases; SUSE's release fact is the service pack number, NA where there is none.
    if release and not release.isdigit() and release.lower() not in ('na', version.lower()):
        text += ' (%s)' % release
    return text


def assess(facts, role, host):
    """Where ``host`` stands for ``role``, from its distribution facts.

    Returns a dict: ``status`` (``tested``, ``untested`` or ``unsupported``), ``message`` (None when
    tested; a warning when untested; the failure when unsupported) and ``platform``.
    """
    facts = facts or {}
    family = facts.get('os_family') or 'unknown'
    name = facts.get('distribution') or ''
    major = str(facts.get('distribution_major_version') or '')
    platform = {'os_family': family, 'distribution': name, 'major_version': major,
                'version': str(facts.get('distribution_version') or ''),
                'release': facts.get('distribution_release') or ''}
    if family not in FAMILIES:
        message = ('%s: the %s family is not supported by this role yet (tested: %s); %s runs %s. '
                   'Nothing was changed.' % (role, family, tested_text(), host, describe(facts)))
        return {'status': 'unsupported', 'message': message, 'platform': platform}
    if any(name == t_name and major == t_major for t_name, t_major, _release in TESTED):
        return {'status': 'tested', 'message': None, 'platform': platform}
    message = ('%s: %s runs %s, which is not tested (tested: %s); going on, as it is of the %s family, '
               'whose packages and paths the role uses.' % (role, host, describe(facts), tested_text(), family))
    return {'status': 'untested', 'message': message, 'platform': platform}
