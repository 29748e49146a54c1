# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The detect_facts_files and current_detect_facts filters (documentation in their .yml files).

Detection facts kept between runs, for a plan over the slices of a sliced job: the hairpin_detect
role writes them as one JSON file per host and keeps them in the fact cache; the plan entry point
reads them back from either.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# The hairpin_detect role stamps each host's facts with this (UTC) when it gathers them.
TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
DEFAULT_MAX_AGE = 86400
FACTS_KEY = 'hairpin_detect_facts'
_OLDEST = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)


def _error(name, message):
    return AnsibleFilterError('keeplocal.traffic.%s: %s' % (name, message))


def _plain(value):
    """Ansible's lazy containers as plain dicts and lists (for json.dumps)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def detect_facts_files(facts):
    """``{host: hairpin_detect_facts}`` -> report_files' ``files``: ``<host>.json`` each, sorted by host."""
    if not isinstance(facts, Mapping):
        raise _error('detect_facts_files', 'expects a dict {host: hairpin_detect_facts}, got %s' % type(facts).__name__)
    files = []
    for host in sorted(facts, key=str):
        name = str(host)
        value = facts[host]
        if not isinstance(value, Mapping):
            raise _error('detect_facts_files', 'the facts of %s are a %s, not a dict' % (name, type(value).__name__))
        if '/' in name or name in ('', '.', '..'):
            raise _error('detect_facts_files', 'host name %r cannot be a file name' % name)
        files.append({'name': name + '.json', 'content': json.dumps(_plain(value), indent=2, sort_keys=True) + '\n'})
    return files


def _parse_time(value):
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.strptime(value, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def _max_age(value):
    number = -1
    if not isinstance(value, bool):
        try:
            number = int(value)
        except (TypeError, ValueError):
            pass
        if isinstance(value, float) and value != number:
            number = -1
    if number < 0:
        raise _error('current_detect_facts', 'max_age must be a whole number of seconds, 0 or more (0: any age), got %r' % (value,))
    return number


def _now(value):
    if value is None:
        return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    parsed = _parse_time(value)
    if parsed is None:
        raise _error('current_detect_facts', 'now must be a UTC time such as 2026-01-31T12:00:00Z, got %r' % (value,))
    return parsed


def _by_host(data):
    """``{host: facts}`` from ``{host: ansible_facts or hostvars}`` or from a list of facts dicts (newest per host)."""
    found = {}
    if isinstance(data, Mapping):
        for host, value in data.items():
            facts = value.get(FACTS_KEY) if isinstance(value, Mapping) else None
            found[str(host)] = facts if isinstance(facts, Mapping) and facts else None
        return found
    if not isinstance(data, (list, tuple)):
        raise _error('current_detect_facts', 'expects a dict {host: ansible_facts} or a list of hairpin_detect_facts dicts, got %s'
                     % type(data).__name__)
    for index, item in enumerate(data):
        facts = item.get(FACTS_KEY, item) if isinstance(item, Mapping) else None
        host = facts.get('host') if isinstance(facts, Mapping) else None
        if not isinstance(host, str) or not host:
            raise _error('current_detect_facts', 'item %d of the list is not a hairpin_detect_facts dict naming its host' % index)
        kept = found.get(host)
        if kept is None or (_parse_time(facts.get('detected_at')) or _OLDEST) >= (_parse_time(kept.get('detected_at')) or _OLDEST):
            found[host] = facts
    return found


def current_detect_facts(data, hosts=None, max_age=DEFAULT_MAX_AGE, now=None):
    """The current detection facts of ``hosts`` (default: every host in ``data``) for the planner.

    A host without facts, or whose facts were gathered more than ``max_age`` seconds before ``now``
    (or carry no time), is None in ``facts``: the planner lists it as not observed instead of
    planning from old data.
    """
    by_host = _by_host(data)
    limit = _max_age(max_age)
    current = _now(now)
    if hosts is None:
        names = sorted(by_host)
    elif isinstance(hosts, (list, tuple)):
        names = sorted(set(str(host) for host in hosts))
    else:
        raise _error('current_detect_facts', 'hosts must be a list of host names, got %s' % type(hosts).__name__)
    facts, found, missing, stale, times = {}, [], [], [], []
    for name in names:
        value = by_host.get(name)
        facts[name] = None
        if value is None:
            missing.append(name)
            continue
        detected_at = value.get('detected_at')
        detected = _parse_time(detected_at)
        age = None if detected is None else int((current - detected).total_seconds())
        if limit and (age is None or age > limit):
            stale.append({'host': name, 'detected_at': detected_at, 'age_seconds': age})
            continue
        facts[name] = dict(value)
        found.append(name)
        if detected is not None:
            times.append(detected)
    return {
        'facts': facts,
        'found': found,
        'missing': missing,
        'stale': stale,
        'ignored': sorted(set(by_host) - set(names)),
        'oldest': min(times).strftime(TIME_FORMAT) if times else None,
        'newest': max(times).strftime(TIME_FORMAT) if times else None,
    }


class FilterModule:
    """Detection facts kept between runs (sliced jobs)."""

    def filters(self):
        return {
            'detect_facts_files': detect_facts_files,
            'current_detect_facts': current_detect_facts,
        }
