# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hairpin watch's settings, checked and normalised (stdlib only, no I/O).

One check for the three places that take them: the ``keeplocal.traffic.hairpin_watch_settings``
filter (the role's variables, on the controller, before any change), the ``hairpin_watch_info``
module and the collector itself (its JSON configuration). ``check_settings`` returns the normalised
values or raises ``SettingsError`` listing every problem, each naming the setting with the caller's
prefix (``hairpin_watch_interval: ...`` for the role).
"""

from __future__ import annotations

import math
import os
import re

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import normalize_ip, parse_network

MIN_INTERVAL_SECONDS = 10
MAX_TOP_PAIRS = 1000
# The labels the metrics carry; overrides may replace the values of these only.
LABEL_NAMES = ('client', 'public', 'backend', 'process', 'listener')
COMPONENTS = ('collector', 'rules')

# Prometheus's duration syntax (model.ParseDuration): units from years to milliseconds, each once,
# largest first.
_DURATION = re.compile(r'^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$')
_UNIT_SECONDS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_CURRENCY = re.compile(r'^[A-Z]{3}$')     # an ISO 4217 code


class SettingsError(ValueError):
    """Bad settings; the message lists every problem."""


def parse_duration(value):
    """Seconds (float) of a Prometheus duration (``90s``, ``1h30m``) or a number of seconds;
    ValueError otherwise. ``0s`` is 0."""
    if isinstance(value, bool):
        raise ValueError('%r is not a duration' % (value,))
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError('%r is negative' % (value,))
        return float(value)
    text = str(value).strip()
    if text.isdigit():
        return float(text)
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError('%r is not a duration such as 60s, 5m or 1h30m' % (value,))
    return sum(int(amount) * unit for amount, unit in zip(match.groups(), _UNIT_SECONDS) if amount)


def format_duration(seconds):
    """A Prometheus duration for whole seconds: 300 -> 5m, 90 -> 1m30s, 0 -> 0s."""
    seconds = int(seconds)
    if seconds == 0:
        return '0s'
    text = ''
    for unit, name in ((86400, 'd'), (3600, 'h'), (60, 'm'), (1, 's')):
        if seconds >= unit:
            text += '%d%s' % (seconds // unit, name)
            seconds %= unit
    return text


class _Checker:
    """Collects the problems of one settings dict; each check returns the normalised value or None."""

    def __init__(self, values, prefix):
        self.values = values
        self.prefix = prefix
        self.problems = []

    def fail(self, name, text):
        self.problems.append('%s%s: %s' % (self.prefix, name, text))

    def duration(self, name, minimum=0, why=''):
        value = self.values[name]
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.fail(name, str(exc))
            return None
        if seconds != int(seconds):
            self.fail(name, '%r is not a whole number of seconds' % (value,))
            return None
        if seconds < minimum:
            self.fail(name, '%r is shorter than %s%s' % (value, format_duration(minimum), why))
            return None
        return int(seconds)

    def integer(self, name, low, high):
        value = self.values[name]
        if isinstance(value, bool) or not str(value).strip().isdigit() or not low <= int(value) <= high:
            self.fail(name, '%r is not a whole number from %d to %d' % (value, low, high))
            return None
        return int(value)

    def number(self, name):
        value = self.values[name]
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            self.fail(name, '%r is not a number' % (value,))
            return None
        if not math.isfinite(number):
            self.fail(name, '%r is not a finite number' % (value,))
            return None
        return number

    def ratio(self, name):
        number = self.number(name)
        if number is not None and not 0 < number < 1:
            self.fail(name, '%r is outside 0-1: give a share of the table such as 0.8 (above 0, below 1)'
                      % (self.values[name],))
            return None
        return number

    def strings(self, name):
        value = self.values[name]
        if value is None:
            return []
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            self.fail(name, 'must be a list, got %r' % (value,))
            return None
        bad = [item for item in value if not isinstance(item, str) or not item.strip()]
        if bad:
            self.fail(name, 'every item must be a non-empty string, got %r' % (bad[0],))
            return None
        return [item.strip() for item in value]

    def addresses(self, name):
        items = self.strings(name)
        if items is None:
            return None
        found = set()
        for item in items:
            try:
                found.add(normalize_ip(item))
            except ValueError:
                self.fail(name, '%r is not an IP address (give the public addresses of the forwards, such as '
                          '198.51.100.1, no ports)' % (item,))
        return sorted(found)

    def networks(self, name):
        items = self.strings(name)
        if items is None:
            return None
        for item in items:
            try:
                parse_network(item)
            except ValueError as exc:
                self.fail(name, str(exc))
        return items

    def path(self, name):
        value = self.values[name]
        if not isinstance(value, str) or not os.path.isabs(value) or os.path.normpath(value) in ('/', '//'):
            self.fail(name, '%r is not an absolute directory path' % (value,))
            return None
        return os.path.normpath(value)

    def overrides(self, name):
        value = self.values[name]
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(name, 'must be a dict of label name -> {value: replacement}, got %r' % (value,))
            return None
        unknown = sorted(str(label) for label in value if label not in LABEL_NAMES)
        if unknown:
            self.fail(name, 'unknown label name%s %s (the labels are %s)' % (
                's' if len(unknown) > 1 else '', ', '.join(unknown), ', '.join(LABEL_NAMES)))
            return None
        result = {}
        for label in sorted(value):
            mapping = value[label] or {}
            if not isinstance(mapping, dict):
                self.fail('%s.%s' % (name, label), 'must be a dict of value -> replacement, got %r' % (mapping,))
                continue
            result[label] = {}
            for original, replacement in mapping.items():
                if not isinstance(replacement, str) or not replacement.strip():
                    self.fail('%s.%s' % (name, label), 'the replacement of %r must be a non-empty string, got %r'
                              % (original, replacement))
                    continue
                result[label][_label_key(label, str(original))] = replacement.strip()
        return result

    def currency(self, name):
        value = self.values[name]
        if not isinstance(value, str) or not _CURRENCY.match(value.strip()):
            self.fail(name, '%r is not a three-letter currency code such as USD or EUR' % (value,))
            return None
        return value.strip()

    def components(self, name):
        items = self.strings(name)
        if items is None:
            return None
        unknown = sorted(set(items) - set(COMPONENTS))
        if unknown:
            self.fail(name, 'unknown component%s %s (choose from %s)' % (
                's' if len(unknown) > 1 else '', ', '.join(unknown), ', '.join(COMPONENTS)))
            return None
        return [component for component in COMPONENTS if component in items]


def _label_key(label, original):
    """An override key as the collector spells the label value (a client address in its canonical form)."""
    if label == 'client':
        try:
            return normalize_ip(original)
        except ValueError:
            pass
    return original.strip()


# Every setting with its check; check_settings refuses names not listed here.
_CHECKS = {
    'components': _Checker.components,
    'interval': lambda checker, name: checker.duration(name, MIN_INTERVAL_SECONDS, ' (the collector\'s floor)'),
    'textfile_directory': _Checker.path,
    'state_directory': _Checker.path,
    'public_addresses': _Checker.addresses,
    'internal_cidrs': _Checker.networks,
    'top_pairs': lambda checker, name: checker.integer(name, 1, MAX_TOP_PAIRS),
    'label_overrides': _Checker.overrides,
    'app_servers': _Checker.strings,
    'price_per_gb': _Checker.number,
    'currency': _Checker.currency,
    'alert_pair_for': _Checker.duration,
    'alert_usage_threshold': _Checker.ratio,
    'alert_usage_for': _Checker.duration,
    'alert_drops_window': lambda checker, name: checker.duration(
        name, 60, ': increase() needs two samples of the counters in it'),
    'alert_drops_for': _Checker.duration,
    'alert_stale_after': _Checker.duration,
    'alert_stale_for': _Checker.duration,
}


def check_settings(values, prefix=''):
    """The normalised settings of ``values`` (any subset of the names above); SettingsError listing
    every problem otherwise.

    Durations become whole seconds (int), addresses their canonical text, sorted. Settings
    that depend on each other are checked when both are given: the collector is stale only after
    ``alert_stale_after``, which must leave room for two intervals.
    """
    if not isinstance(values, dict):
        raise SettingsError('%ssettings must be a dict, got %r' % (prefix, values))
    checker = _Checker(values, prefix)
    unknown = sorted(str(name) for name in values if name not in _CHECKS)
    if unknown:
        checker.problems.append('unknown setting%s %s (known: %s)' % (
            's' if len(unknown) > 1 else '', ', '.join(prefix + name for name in unknown),
            ', '.join(prefix + name for name in _CHECKS)))
    result = {}
    for name in _CHECKS:
        if name in values:
            result[name] = _CHECKS[name](checker, name)
    if result.get('price_per_gb') is not None and result['price_per_gb'] < 0:
        checker.fail('price_per_gb', '%r is negative' % (values['price_per_gb'],))
    interval, stale = result.get('interval'), result.get('alert_stale_after')
    if interval is not None and stale is not None and stale < 2 * interval:
        checker.fail('alert_stale_after', '%r is shorter than two collector intervals (%s): one late run would '
                     'make the collector look stale' % (values['alert_stale_after'], format_duration(2 * interval)))
    if checker.problems:
        raise SettingsError('; '.join(checker.problems))
    return result
