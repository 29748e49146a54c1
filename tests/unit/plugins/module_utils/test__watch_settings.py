# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hairpin watch's settings: normalised when good, refused with every problem named when not."""

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import DEFAULT_INTERNAL_CIDRS
from ansible_collections.keeplocal.traffic.plugins.module_utils._watch_settings import (
    SettingsError,
    check_settings,
    format_duration,
    parse_duration,
)

GOOD = {
    'components': ['rules', 'collector'], 'interval': '60s', 'textfile_directory': '/var/lib/prometheus/node-exporter/',
    'state_directory': '/var/lib/keeplocal-watch', 'public_addresses': ['198.51.100.1', '2001:DB8::1', '198.51.100.1'],
    'internal_cidrs': DEFAULT_INTERNAL_CIDRS, 'top_pairs': '20',
    'label_overrides': {'client': {'FD77::0010': ' svc-a '}, 'public': {'198.51.100.1:80/tcp': 'app'}},
    'app_servers': ['gunicorn'], 'price_per_gb': '0.045', 'currency': 'USD', 'alert_pair_for': '15m',
    'alert_usage_threshold': 0.8, 'alert_usage_for': '10m', 'alert_drops_window': '10m', 'alert_drops_for': '0s',
    'alert_stale_after': '5m', 'alert_stale_for': 60,
}


def problems(**changes):
    values = dict(GOOD, **changes)
    with pytest.raises(SettingsError) as exc:
        check_settings(values, prefix='hairpin_watch_')
    return str(exc.value)


@pytest.mark.parametrize('text, seconds', [
    ('60s', 60), ('2m', 120), ('1h30m', 5400), ('1d', 86400), ('1w', 604800), ('1y', 31536000), ('1500ms', 1.5),
    ('90', 90), (45, 45), (0, 0), ('0s', 0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize('text', ['', 'abc', '5 m', '1m1h', '-5s', '1.5m', True, -3, 'm'])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize('seconds, text', [(0, '0s'), (10, '10s'), (300, '5m'), (90, '1m30s'), (3600, '1h'),
                                           (93784, '1d2h3m4s')])
def test_format_duration_round_trips(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_good_settings_are_normalised():
    settings = check_settings(GOOD, prefix='hairpin_watch_')
    assert settings['interval'] == 60 and settings['top_pairs'] == 20 and settings['price_per_gb'] == 0.045
    assert settings['components'] == ['collector', 'rules']
    assert settings['textfile_directory'] == '/var/lib/prometheus/node-exporter'
    assert settings['public_addresses'] == ['198.51.100.1', '2001:db8::1']
    assert settings['label_overrides'] == {'client': {'fd77::10': 'svc-a'}, 'public': {'198.51.100.1:80/tcp': 'app'}}
    assert (settings['alert_pair_for'], settings['alert_drops_for'], settings['alert_stale_for']) == (900, 0, 60)


@pytest.mark.parametrize('change, message', [
    ({'interval': '5s'}, "hairpin_watch_interval: '5s' is shorter than 10s (the collector's floor)"),
    ({'interval': 'every minute'}, "hairpin_watch_interval: 'every minute' is not a duration such as 60s, 5m or 1h30m"),
    ({'interval': '10500ms'}, "hairpin_watch_interval: '10500ms' is not a whole number of seconds"),
    ({'textfile_directory': 'textfiles'}, "hairpin_watch_textfile_directory: 'textfiles' is not an absolute directory path"),
    ({'textfile_directory': '/'}, "hairpin_watch_textfile_directory: '/' is not an absolute directory path"),
    ({'label_overrides': {'cleint': {'10.0.0.1': 'a'}, 'host': {}}},
     'hairpin_watch_label_overrides: unknown label names cleint, host (the labels are client, public, backend, '
     'process, listener)'),
    ({'label_overrides': {'client': {'10.0.0.1': ''}}},
     "hairpin_watch_label_overrides.client: the replacement of '10.0.0.1' must be a non-empty string, got ''"),
    ({'label_overrides': {'client': ['10.0.0.1']}},
     "hairpin_watch_label_overrides.client: must be a dict of value -> replacement, got ['10.0.0.1']"),
    ({'alert_usage_threshold': 1.5}, 'hairpin_watch_alert_usage_threshold: 1.5 is outside 0-1'),
    ({'alert_usage_threshold': 0}, 'hairpin_watch_alert_usage_threshold: 0 is outside 0-1'),
    ({'alert_usage_threshold': 'high'}, "hairpin_watch_alert_usage_threshold: 'high' is not a number"),
    ({'alert_usage_threshold': float('nan')}, 'hairpin_watch_alert_usage_threshold: nan is not a finite number'),
    ({'top_pairs': 0}, 'hairpin_watch_top_pairs: 0 is not a whole number from 1 to 1000'),
    ({'public_addresses': ['198.51.100.1:80']}, "hairpin_watch_public_addresses: '198.51.100.1:80' is not an IP address"),
    ({'public_addresses': '198.51.100.1'}, "hairpin_watch_public_addresses: must be a list, got '198.51.100.1'"),
    ({'internal_cidrs': ['10.0.0.0/33']}, "hairpin_watch_internal_cidrs: '10.0.0.0/33' is not a CIDR"),
    ({'app_servers': ['gunicorn', '']}, "hairpin_watch_app_servers: every item must be a non-empty string, got ''"),
    ({'price_per_gb': -1}, 'hairpin_watch_price_per_gb: -1 is negative'),
    ({'currency': 'dollars'}, "hairpin_watch_currency: 'dollars' is not a three-letter currency code such as USD or EUR"),
    ({'components': ['collector', 'dashboard']}, 'hairpin_watch_components: unknown component dashboard (choose from '
                                                 'collector, rules)'),
    ({'alert_pair_for': '15 minutes'}, "hairpin_watch_alert_pair_for: '15 minutes' is not a duration"),
    ({'alert_drops_window': '30s'}, "hairpin_watch_alert_drops_window: '30s' is shorter than 1m: increase() needs two samples"),
    ({'alert_stale_after': '90s'}, "hairpin_watch_alert_stale_after: '90s' is shorter than two collector intervals (2m)"),
    ({'intervall': '60s'}, 'unknown setting hairpin_watch_intervall (known: hairpin_watch_components, '),
])
def test_bad_settings_are_refused_naming_the_variable(change, message):
    assert message in problems(**change)


def test_every_problem_is_listed_at_once():
    text = problems(interval='1s', alert_usage_threshold=2, textfile_directory='relative')
    assert text.count('hairpin_watch_') == 3 and text.count('; ') == 2


def test_a_subset_is_checked_alone():
    """The collector and the module pass only what they use."""
    assert check_settings({'top_pairs': 5}) == {'top_pairs': 5}
    with pytest.raises(SettingsError, match='^/etc/x.json: top_pairs:'):
        check_settings({'top_pairs': 5000}, prefix='/etc/x.json: ')
