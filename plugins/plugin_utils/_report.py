# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a hairpin plan (version 2) and optional before/after measurements as Markdown or HTML.

The report leads with the outcome: a before -> after table per finding when measurements are given,
otherwise what was found and what remediation will do. What the hairpins cost follows: the bytes per
pair the hairpin watch collectors counted over their observation window, extrapolated to GB a month
and priced (``cost_section``). Latent findings and manual advice follow in their own sections; the
details (pairs, DNS names, same-host TCP, conntrack health) come last.

Pure functions, stdlib only. The HTML page is self-contained: inline CSS and an inline SVG diagram
of the active findings, no script, no external resource, so it opens offline. Every value taken from
the plan is escaped. The diagram never lets two labels overlap: every label has a slot of its own
(one row per flow) and is shortened to the width it is given.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import endpoint
from ansible_collections.keeplocal.traffic.plugins.module_utils._metrics import (
    COUNTED_BY_CLIENT,
    COUNTED_BY_GATEWAY,
    DEFAULT_CURRENCY,
    DEFAULT_PRICE_PER_GB,
    MONTH_SECONDS,
    PRICE_SOURCE,
    per_month,
)
from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import format_percent

REPORT_TITLE = 'Hairpin traffic report'
PLAN_VERSION = 2
NUMERIC_MEASURE_KEYS = ('p50_ms', 'p99_ms', 'gw_entries_per_1000', 'loopback_entries_per_1000', 'requests', 'errors', 'rps')
STATUSES = ('active', 'latent')
MODES = ('automatic', 'manual')
ARROW = '\u2192'


class ReportError(ValueError):
    """Bad report input; the message names what is wrong and how to fix it."""


# --------------------------------------------------------------------------------------------
# input checks


def _check_recommendation(where, recommendation, required):
    if recommendation is None and not required:
        return
    if not isinstance(recommendation, Mapping) or recommendation.get('mode') not in MODES:
        raise ReportError('%s.recommendation must be a dict with mode automatic or manual, got %r' % (where, recommendation))


def check_plan(plan):
    if not isinstance(plan, Mapping):
        raise ReportError('the report needs the plan from keeplocal.traffic.hairpin_plan (a dict), got %s' % type(plan).__name__)
    if plan.get('version') != PLAN_VERSION:
        raise ReportError('unsupported plan version %r: this report renders plan version %d (rebuild the plan with '
                          'keeplocal.traffic.hairpin_plan)' % (plan.get('version'), PLAN_VERSION))
    for key in ('pairs', 'same_host', 'gateways'):
        if not isinstance(plan.get(key, []), list):
            raise ReportError('plan.%s must be a list' % key)
    for key in ('pairs', 'same_host'):
        for item in plan.get(key) or []:
            where = 'plan.%s[%s]' % (key, item.get('id') if isinstance(item, Mapping) else item)
            if not isinstance(item, Mapping):
                raise ReportError('%s must be a dict' % where)
            if item.get('status') not in STATUSES:
                raise ReportError('%s.status must be active or latent, got %r' % (where, item.get('status')))
            _check_recommendation(where, item.get('recommendation'), required=True)
    for gateway in plan.get('gateways') or []:
        if not isinstance(gateway, Mapping):
            raise ReportError('plan.gateways entries must be dicts, got %r' % (gateway,))
        _check_recommendation('plan.gateways[%s]' % gateway.get('host'), gateway.get('recommendation'), required=bool(gateway.get('fix')))
    return plan


def check_measurements(measurements):
    """Validate the measurements format (docs/architecture.md); return ``{'before': {...}, 'after': {...}}``."""
    if measurements is None:
        return {'before': {}, 'after': {}}
    if not isinstance(measurements, Mapping):
        raise ReportError('measurements must be a dict {"before": {pair_id: {...}}, "after": {...}}, got %s'
                          % type(measurements).__name__)
    result = {}
    for phase in ('before', 'after'):
        value = measurements.get(phase)
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ReportError('measurements.%s must be a dict {pair_id: {p50_ms, p99_ms, gw_entries_per_1000, backend_saw}}' % phase)
        phase_result = {}
        for pair_id, entry in value.items():
            if not isinstance(entry, Mapping):
                raise ReportError('measurements.%s[%s] must be a dict with p50_ms, p99_ms, gw_entries_per_1000, backend_saw'
                                  % (phase, pair_id))
            for key in NUMERIC_MEASURE_KEYS:
                item = entry.get(key)
                if item is not None and (isinstance(item, bool) or not isinstance(item, (int, float))):
                    raise ReportError('measurements.%s[%s].%s must be a number or null, got %r' % (phase, pair_id, key, item))
            phase_result[str(pair_id)] = entry
        result[phase] = phase_result
    return result


# --------------------------------------------------------------------------------------------
# formatting helpers (plain text; Markdown and HTML escape it)


def _percent(value):
    return format_percent(value, missing='-')


def _fmt_num(value, unit=''):
    if value is None:
        return '-'
    if isinstance(value, float):
        if abs(value) >= 100:
            text = '%.0f' % value
        elif abs(value) >= 10:
            text = '%.1f' % value
        else:
            text = '%.2f' % value
    else:
        text = str(value)
    return text + unit


def _text(value):
    if value is None:
        return '-'
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, (list, tuple)):
        return ', '.join(_text(item) for item in value) if value else '-'
    return str(value)


def _pretty(text):
    return _text(text).replace('->', ARROW)


def _client_text(pair):
    client = pair.get('client') or {}
    host = client.get('host')
    ip = client.get('ip')
    text = '%s (%s)' % (host, ip) if host and ip else (host or ip or '?')
    if client.get('process'):
        text += ' [%s]' % client['process']
    return text


def _public_text(pair):
    public = pair.get('public') or {}
    return '%s/%s' % (endpoint(public.get('ip'), public.get('port')), public.get('proto') or 'tcp')


def _backend_text(pair):
    backend = pair.get('backend') or {}
    where = endpoint(backend.get('ip'), backend.get('port'))
    return '%s (%s)' % (backend['host'], where) if backend.get('host') else where


def _relation_text(pair):
    relation = _text(pair.get('relation'))
    if pair.get('port_translated'):
        relation += ', port translated'
    return relation


def _same_host_text(item):
    return '%s: %s %s %s (%s)' % (item.get('host') or '?', item.get('client_process') or '?', ARROW,
                                  item.get('listener_process') or '?', endpoint(item.get('ip'), item.get('port')))


def _status_text(item):
    if item.get('status') == 'latent':
        return 'latent (DNS answers only)'
    return 'active, %s conn' % _text(item.get('connections'))


def _input_text(value):
    return json.dumps(value, sort_keys=True, separators=(', ', ': ')) if value is not None else '-'


def _summary_line(plan):
    summary = plan.get('summary') or {}
    pairs = plan.get('pairs') or []
    return ('%s hairpin pair(s) (%s active, %s latent) carrying %s connection(s), %s same-host TCP candidate(s), '
            '%s gateway(s) of which %s at risk; %s automatic and %s manual recommendation(s).'
            % (summary.get('pairs', len(pairs)), summary.get('active_pairs', 0), summary.get('latent_pairs', 0),
               summary.get('hairpin_connections', 0), summary.get('same_host', len(plan.get('same_host') or [])),
               summary.get('gateways', 0), summary.get('gateways_at_risk', 0), summary.get('automatic', 0), summary.get('manual', 0)))


def _findings(plan):
    """(kind, label, item) for every finding that carries a recommendation: pairs, same-host, gateways at risk."""
    out = [('pair', pair.get('id'), pair) for pair in plan.get('pairs') or []]
    out += [('same_host', item.get('id'), item) for item in plan.get('same_host') or []]
    out += [('gateway', 'gateway %s' % gateway.get('host'), gateway) for gateway in plan.get('gateways') or []
            if gateway.get('recommendation')]
    return out


def _mode(item):
    return (item.get('recommendation') or {}).get('mode')


def _is_fixed(kind, after):
    """Measured after the fixes with no entry left on the path the finding used (gateway, or loopback on the same host)."""
    if after is None:
        return False
    count = after.get('loopback_entries_per_1000' if kind == 'same_host' else 'gw_entries_per_1000')
    return not (isinstance(count, (int, float)) and count > 0)


# --------------------------------------------------------------------------------------------
# the first section: before -> after, or what was found and what will be done


def _change(before, after, key, unit=''):
    if key in ('backend_saw', 'path'):
        first, second = _text(before.get(key)), _text(after.get(key))
    else:
        first, second = _fmt_num(before.get(key)), _fmt_num(after.get(key))
    return '%s %s %s%s' % (first, ARROW, second, unit)


def _applied_text(kind, item, after):
    if item is None:
        return '-'
    fix = item.get('fix')
    if _mode(item) != 'automatic':
        return 'none: manual (%s)' % fix if fix else 'none: manual'
    if after is None:
        return '%s (not measured after)' % fix
    if not _is_fixed(kind, after):
        return '%s (hairpin remains)' % fix
    return fix


def _measured_ids(plan, measurements):
    """Ids in measurement order: plan pairs, then same-host entries, then any others."""
    ids = []
    known = [pair.get('id') for pair in plan.get('pairs') or []] + [item.get('id') for item in plan.get('same_host') or []]
    for pair_id in known:
        if pair_id in measurements['before'] or pair_id in measurements['after']:
            ids.append(pair_id)
    extra = sorted((set(measurements['before']) | set(measurements['after'])) - set(ids))
    return ids + extra


PAIR_OUTCOME_HEADER = ['Pair', 'Fix applied', 'Gateway entries per 1,000 requests', 'p50', 'p99', 'Client address the backend saw']
SAME_HOST_OUTCOME_HEADER = ['Same host (client \u2192 listener)', 'Fix applied', 'Loopback conntrack entries per 1,000 requests',
                            'p50 through the client', 'p99 through the client', 'Requests/s', 'Path']


def _outcome_rows(plan, measurements):
    """(pair rows, same-host rows); each row: [id, cells...] as plain text."""
    by_id = {item.get('id'): ('pair', item) for item in plan.get('pairs') or []}
    by_id.update({item.get('id'): ('same_host', item) for item in plan.get('same_host') or []})
    pair_rows, same_rows = [], []
    for finding_id in _measured_ids(plan, measurements):
        kind, item = by_id.get(finding_id, ('pair', None))
        before = measurements['before'].get(finding_id) or {}
        after_entry = measurements['after'].get(finding_id)
        after = after_entry or {}
        applied = _applied_text(kind, item, after_entry)
        if kind == 'same_host':
            same_rows.append([finding_id, _same_host_text(item), applied, _change(before, after, 'loopback_entries_per_1000'),
                              _change(before, after, 'p50_ms', ' ms'), _change(before, after, 'p99_ms', ' ms'),
                              _change(before, after, 'rps'), _change(before, after, 'path')])
        else:
            pair_rows.append([finding_id, applied, _change(before, after, 'gw_entries_per_1000'), _change(before, after, 'p50_ms', ' ms'),
                              _change(before, after, 'p99_ms', ' ms'), _change(before, after, 'backend_saw')])
    return pair_rows, same_rows


FOUND_HEADER = ['Finding', 'Status', 'Fix', 'What will be done']


def _found_rows(plan):
    """One row per finding: [label, status, fix, what will be done] as plain text."""
    rows = []
    for kind, label, item in _findings(plan):
        recommendation = item.get('recommendation') or {}
        if kind == 'gateway':
            status = 'at risk, conntrack %s full' % _percent(item.get('usage'))
        elif kind == 'same_host':
            status = '%s; %s' % (_status_text(item), _same_host_text(item))
        else:
            status = _status_text(item)
        if recommendation.get('mode') == 'automatic':
            action = '%s on %s: %s' % (recommendation.get('role'), recommendation.get('host'), recommendation.get('change'))
        else:
            action = 'manual: see Manual advice'
        rows.append([label, status, _text(item.get('fix')), action])
    return rows


LATENT_HEADER = ['Pair', 'Client', 'Public (names)', 'Backend', 'Fix', 'Recommendation']


def _latent_rows(plan):
    rows = []
    for pair in plan.get('pairs') or []:
        if pair.get('status') != 'latent':
            continue
        public = pair.get('public') or {}
        names = ', '.join(public.get('names') or [])
        recommendation = pair.get('recommendation') or {}
        rows.append([pair.get('id'), _client_text(pair), _public_text(pair) + (' (%s)' % names if names else ''), _backend_text(pair),
                     _text(pair.get('fix')), '%s: %s' % (recommendation.get('mode'), _text(recommendation.get('change')))])
    return rows


MANUAL_HEADER = ['Finding', 'Status', 'Fix', 'Change to make']


def _manual_rows(plan):
    rows = []
    for kind, label, item in _findings(plan):
        if _mode(item) != 'manual':
            continue
        status = 'at risk' if kind == 'gateway' else item.get('status')
        rows.append([label, _text(status), _text(item.get('fix')), _text((item.get('recommendation') or {}).get('change'))])
    return rows


AUTOMATIC_HEADER = ['Finding', 'Role', 'Host', 'Input', 'Change']


def _automatic_rows(plan):
    rows = []
    for dummy, label, item in _findings(plan):
        recommendation = item.get('recommendation') or {}
        if recommendation.get('mode') != 'automatic':
            continue
        rows.append([label, _text(recommendation.get('role')), _text(recommendation.get('host')), _input_text(recommendation.get('input')),
                     _text(recommendation.get('change'))])
    return rows


NOT_MEASURED = 'Not measured: run playbooks/site.yml (path_probe) to measure before and after the fixes.'


# --------------------------------------------------------------------------------------------
# What the hairpins cost: bytes per pair from the hairpin watch collectors, GB a month and money

NO_BYTES = ('No byte counts: the keeplocal.traffic.hairpin_watch collector counts the bytes per pair (conntrack '
            'accounting on gateways, socket counters on clients). Run it for a while, then give the report its '
            'results (the hairpin_watch_result facts, or hairpin_watch_info\'s result). On a Linux gateway it needs '
            'conntrack accounting: conntrack_tuning_accounting: true, or sysctl -w net.netfilter.nf_conntrack_acct=1.')
ACCOUNTING_OFF = ('%s: conntrack accounting is off (net.netfilter.nf_conntrack_acct=0), so the bytes of the hairpins '
                  'through this gateway cannot be counted there. Turn it on with the conntrack_tuning role '
                  '(conntrack_tuning_accounting: true: set, read back and kept in /etc/sysctl.d), or by hand with '
                  'sysctl -w net.netfilter.nf_conntrack_acct=1 and the same line in /etc/sysctl.d; it counts connections '
                  'opened afterwards.')
NO_SOCKET_COUNTERS = '%s: its own calls to the public addresses are not counted: %s'
NOT_COUNTED = 'Active pairs without a byte count (no collector result for their gateway or client): %s.'
COST_HEADER = ['Pair', 'Counted by', 'Client', 'Public', 'Backend', 'Bytes', 'Window', 'GB per month', 'Cost per month']


def check_watch(watch):
    """Validate the hairpin watch results ({host: collector result}); hosts without one (None) are dropped."""
    if watch is None:
        return {}
    if not isinstance(watch, Mapping):
        raise ReportError('watch must be a dict {host: hairpin watch result} (the hairpin_watch_result facts or '
                          'hairpin_watch_info\'s result), got %s' % type(watch).__name__)
    checked = {}
    for host, result in watch.items():
        if result is None:
            continue
        where = 'watch[%s]' % host
        if not isinstance(result, Mapping) or not isinstance(result.get('cost'), Mapping) \
                or not isinstance(result['cost'].get('pairs'), list):
            raise ReportError('%s must be a hairpin watch result with cost.pairs (a list), got %r' % (where, result))
        for index, pair in enumerate(result['cost']['pairs']):
            for key in ('bytes', 'window_seconds'):
                value = pair.get(key) if isinstance(pair, Mapping) else None
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or \
                        (key == 'window_seconds' and not value):
                    raise ReportError('%s.cost.pairs[%d].%s must be a positive number, got %r' % (where, index, key, value))
        checked[str(host)] = result
    return checked


def check_price(price_per_gb, currency):
    """(price per GB, currency) with the defaults for None; a negative or non-number price is refused."""
    if price_per_gb is None:
        price_per_gb = DEFAULT_PRICE_PER_GB
    if isinstance(price_per_gb, bool) or not isinstance(price_per_gb, (int, float)) or price_per_gb < 0:
        raise ReportError('price_per_gb must be a number, 0 or more (the price of one GB through the NAT), got %r'
                          % (price_per_gb,))
    if currency is None:
        currency = DEFAULT_CURRENCY
    if not isinstance(currency, str) or not currency.strip():
        raise ReportError('currency must be a currency code such as USD, got %r' % (currency,))
    return float(price_per_gb), currency


def _plan_keys(plan):
    """{(counted_by, client ip, public, backend or None): pair id} in the collector's label spelling."""
    keys = {}
    for pair in plan.get('pairs') or []:
        client = (pair.get('client') or {}).get('ip')
        backend = pair.get('backend') or {}
        keys[(COUNTED_BY_GATEWAY, client, _public_text(pair), endpoint(backend.get('ip'), backend.get('port')))] = pair.get('id')
        keys.setdefault((COUNTED_BY_CLIENT, client, _public_text(pair), None), pair.get('id'))
    return keys


def accounting_off(plan, watch):
    """The gateways whose hairpin bytes cannot be counted, sorted: accounting off where the plan's
    gateway has hairpins (its conntrack held hairpin entries, or an active pair goes through it), or
    where a hairpin watch collector found it off."""
    through = set(pair.get('gateway') for pair in plan.get('pairs') or [] if pair.get('status') == 'active')
    hosts = set(gw.get('host') for gw in plan.get('gateways') or []
                if gw.get('accounting') is False and (gw.get('hairpin_entries') or gw.get('host') in through))
    for host, result in watch.items():
        conntrack = result.get('conntrack') or {}
        if conntrack.get('available') and conntrack.get('accounting') is False:
            hosts.add(host)
    return sorted(_text(host) for host in hosts)


def cost_section(plan, watch=None, price_per_gb=None, currency=None):
    """What the hairpins cost, as plain values both renderers show.

    ``watch`` maps hosts to their hairpin watch result; each pair there carries the bytes counted over
    its observation window. Per pair: GB a month and money at ``price_per_gb`` (_metrics.per_month,
    the collector's own arithmetic). A pair counted by both its gateway and its client is in the total
    once, with the gateway's count. Returns {price_per_gb, currency, default_price, price_source,
    rows, bytes, gb_per_month, cost_per_month, notes}.
    """
    price_per_gb, currency = check_price(price_per_gb, currency)
    watch = check_watch(watch)
    keys = _plan_keys(plan)
    rows = []
    notes = [ACCOUNTING_OFF % host for host in accounting_off(plan, watch)]
    for host in sorted(watch):
        result = watch[host]
        client_bytes = result.get('client_bytes') or {}
        if client_bytes.get('byte_counters') is False:
            notes.append(NO_SOCKET_COUNTERS % (host, client_bytes.get('msg')))
        for pair in result['cost']['pairs']:
            counted_by = pair.get('counted_by', COUNTED_BY_GATEWAY)
            backend = pair.get('backend') if counted_by == COUNTED_BY_GATEWAY else None
            gb, money = per_month(pair['bytes'], pair['window_seconds'], price_per_gb)
            rows.append({
                'pair': keys.get((counted_by, pair.get('client'), pair.get('public'), backend)),
                'host': host, 'counted_by': counted_by, 'client': pair.get('client'), 'public': pair.get('public'),
                'backend': pair.get('backend'), 'bytes': pair['bytes'], 'window_seconds': pair['window_seconds'],
                'gb_per_month': gb, 'cost_per_month': money,
            })
    at_gateways = set((row['client'], row['public']) for row in rows if row['counted_by'] == COUNTED_BY_GATEWAY)
    counted = [row for row in rows if row['counted_by'] == COUNTED_BY_GATEWAY or (row['client'], row['public']) not in at_gateways]
    seen = set(row['pair'] for row in rows)
    missing = [pair.get('id') for pair in plan.get('pairs') or [] if pair.get('status') == 'active' and pair.get('id') not in seen]
    if not watch:
        notes.insert(0, NO_BYTES)
    elif missing:
        notes.append(NOT_COUNTED % ', '.join(_text(item) for item in missing))
    total_bytes = sum(row['bytes'] for row in counted)
    return {
        'price_per_gb': price_per_gb, 'currency': currency, 'default_price': price_per_gb == DEFAULT_PRICE_PER_GB,
        'price_source': PRICE_SOURCE, 'month_hours': MONTH_SECONDS // 3600, 'rows': rows, 'bytes': total_bytes,
        'gb_per_month': round(sum(row['gb_per_month'] for row in counted), 3),
        'cost_per_month': round(sum(row['cost_per_month'] for row in counted), 2), 'notes': notes,
    }


def _duration(seconds):
    if seconds < 120:
        return '%d s' % seconds
    if seconds < 7200:
        return '%d min' % round(seconds / 60.0)
    if seconds < 172800:
        return '%.1f h' % (seconds / 3600.0)
    return '%.1f days' % (seconds / 86400.0)


def _price_text(cost):
    source = 'the default, %s' % cost['price_source'] if cost['default_price'] else 'set for this report'
    return ('Price: %s %s per GB (%s). GB = 10^9 bytes; a month = %d hours; GB per month = bytes / window x %d h. '
            'Counted by "gateway": conntrack accounting on the NAT (both directions, IP headers included); "client": '
            'the client\'s own TCP byte counters (payload only; the backend behind a NAT outside the inventory is '
            'unknown).' % (_fmt_price(cost['price_per_gb']), cost['currency'], source, cost['month_hours'], cost['month_hours']))


def _fmt_price(value):
    return ('%.4f' % value).rstrip('0').rstrip('.') if value else '0'


def _cost_rows(cost):
    """[cells] per row of the cost table, as plain text."""
    return [[_text(row['pair']), '%s (%s)' % (row['counted_by'], row['host']), _text(row['client']), _text(row['public']),
             _text(row['backend']), '{:,}'.format(row['bytes']), _duration(row['window_seconds']),
             '%.3f' % row['gb_per_month'], '%.2f %s' % (row['cost_per_month'], cost['currency'])] for row in cost['rows']]


def _cost_total(cost):
    return ('Total: %s GB per month, %.2f %s per month (%s bytes counted; a pair counted by its gateway and its client '
            'once, with the gateway\'s count).' % ('%.3f' % cost['gb_per_month'], cost['cost_per_month'], cost['currency'],
                                                   '{:,}'.format(cost['bytes'])))


# --------------------------------------------------------------------------------------------
# Plain text (the console)


def render_outcome_lines(plan, measurements=None):
    """What a person reads at the end of a run: the summary, then one line per measured finding
    (the fix applied and before -> after), or per finding and its plan when nothing was measured."""
    plan = check_plan(plan)
    measurements = check_measurements(measurements)
    lines = [_summary_line(plan)]
    pair_rows, same_rows = _outcome_rows(plan, measurements)
    for row in pair_rows:
        lines.append('%s: %s; gateway entries per 1,000 requests %s, p50 %s, p99 %s, the backend saw %s' % tuple(row))
    for row in same_rows:
        lines.append('%s (%s): %s; TCP connections to the app server per 1,000 requests %s, p50 %s, p99 %s, path %s'
                     % (row[0], row[1], row[2], row[3], row[4], row[5], row[7]))
    if not pair_rows and not same_rows:
        lines += ['%s [%s] %s: %s' % tuple(row) for row in _found_rows(plan)]
    manual = _manual_rows(plan)
    if manual:
        lines.append('%d manual recommendation(s) (nothing changed for them): see "Manual advice" in the report' % len(manual))
    return lines


# --------------------------------------------------------------------------------------------
# Markdown


def _md(value):
    text = _pretty(value).replace('\r', ' ').replace('\n', ' ')
    for char in '\\`*_[]<>|':
        text = text.replace(char, '\\' + char)
    return text


def _code(value):
    text = _text(value).replace('`', "'").replace('\r', ' ').replace('\n', ' ').replace('|', '\\|')
    return '`%s`' % text if text != '-' else '-'


def _md_table(header, rows):
    lines = ['| ' + ' | '.join(_md(cell) for cell in header) + ' |', '|' + '|'.join('---' for _item in header) + '|']
    for row in rows:
        lines.append('| ' + ' | '.join(row) + ' |')
    return lines


def _md_rows(rows, code_columns=(0,)):
    return [[_code(cell) if index in code_columns else _md(cell) for index, cell in enumerate(row)] for row in rows]


def _md_outcome(plan, measurements):
    pair_rows, same_rows = _outcome_rows(plan, measurements)
    if not pair_rows and not same_rows:
        out = ['## Found and planned', '']
        rows = _found_rows(plan)
        out += _md_table(FOUND_HEADER, _md_rows(rows)) if rows else ['Nothing to fix: no hairpin, no same-host TCP, no gateway at risk.']
        return out + ['', _md(NOT_MEASURED), '']
    out = ['## Before %s after' % ARROW, '']
    if pair_rows:
        out += _md_table(PAIR_OUTCOME_HEADER, _md_rows(pair_rows)) + ['']
    if same_rows:
        out += _md_table(SAME_HOST_OUTCOME_HEADER, _md_rows([row[1:] for row in same_rows], code_columns=())) + ['']
    return out


def _md_cost(cost):
    out = ['## What the hairpins cost', '']
    if cost['rows']:
        out += _md_table(COST_HEADER, _md_rows(_cost_rows(cost))) + ['', _md(_cost_total(cost)), '']
    out += ['- %s' % _md(note) for note in cost['notes']]
    if cost['notes']:
        out.append('')
    return out + [_md(_price_text(cost)), '']


def render_markdown(plan, measurements=None, watch=None, price_per_gb=None, currency=None):
    plan = check_plan(plan)
    measurements = check_measurements(measurements)
    cost = cost_section(plan, watch, price_per_gb, currency)
    out = ['# %s' % REPORT_TITLE, '', _md(_summary_line(plan)), '']
    out += _md_outcome(plan, measurements)
    out += _md_cost(cost)

    out += ['## Latent findings (DNS answers only: they hairpin once used)', '']
    rows = _latent_rows(plan)
    out += _md_table(LATENT_HEADER, _md_rows(rows)) if rows else ['None.']
    out.append('')

    out += ['## Manual advice', '']
    rows = _manual_rows(plan)
    out += _md_table(MANUAL_HEADER, _md_rows(rows)) if rows else ['None: every recommendation is automatic.']
    out.append('')

    out += ['## Automatic changes (remediate.yml)', '']
    rows = _automatic_rows(plan)
    out += _md_table(AUTOMATIC_HEADER, _md_rows(rows, code_columns=(0, 1, 3))) if rows else ['None.']
    out.append('')

    out += ['## Hairpin pairs', '']
    pairs = plan.get('pairs') or []
    if pairs:
        rows = []
        for pair in pairs:
            rows.append([_code(pair.get('id')), _md(pair.get('status')), _md(_client_text(pair)), _md(_public_text(pair)),
                         _md(_backend_text(pair)), _md(pair.get('gateway')), _md(pair.get('seen_by')), _md(pair.get('connections')),
                         _md(_relation_text(pair)), _code(pair.get('fix')), _md(pair.get('reason'))])
        out += _md_table(['Pair', 'Status', 'Client', 'Public', 'Backend', 'Gateway', 'Seen by', 'Conns', 'Relation', 'Fix', 'Reason'], rows)
    else:
        out.append('No hairpin pair found.')
    out.append('')

    names = plan.get('names') or []
    if names:
        out += ['## DNS names answering with own public addresses', '']
        rows = [[_code(item.get('name')), _md(item.get('public_ips')), _md(item.get('resolved_by')), _md(item.get('forwards')),
                 _md(item.get('private_answers')), _md(item.get('reason'))] for item in names]
        out += _md_table(['Name', 'Public IPs', 'Resolved by', 'Forwards', 'Private answer', 'Reason'], rows)
        out.append('')

    out += ['## Same-host TCP (Unix-socket candidates)', '']
    same_host = plan.get('same_host') or []
    if same_host:
        rows = [[_md(item.get('host')), _md(endpoint(item.get('ip'), item.get('port'))),
                 _md('%s -> %s' % (item.get('client_process') or '?', item.get('listener_process') or '?')),
                 _md(item.get('connections')), _code(item.get('fix')), _md(item.get('reason'))] for item in same_host]
        out += _md_table(['Host', 'Endpoint', 'Client -> listener', 'Conns', 'Fix', 'Reason'], rows)
    else:
        out.append('No same-host TCP pair found.')
    out.append('')

    out += ['## Conntrack health', '']
    gateways = plan.get('gateways') or []
    if gateways:
        rows = [[_md(gw.get('host')), _md(gw.get('is_gateway')), _md(gw.get('count')), _md(gw.get('max')), _md(gw.get('buckets')),
                 _md(_percent(gw.get('usage'))), _md(gw.get('drop')), _md(gw.get('insert_failed')), _md(gw.get('early_drop')),
                 _md('%s (%s)' % (_text(gw.get('hairpin_entries')), _percent(gw.get('hairpin_share')))),
                 _md(gw.get('writable')), _code(gw.get('fix')), _md(gw.get('reason'))] for gw in gateways]
        out += _md_table(['Host', 'Gateway', 'Count', 'Max', 'Buckets', 'Usage', 'Drop', 'Insert failed', 'Early drop',
                          'Hairpin entries (share)', 'Writable', 'Fix', 'Reason'], rows)
    else:
        out.append('No conntrack data.')
    out.append('')

    not_observed = plan.get('not_observed') or []
    if not_observed:
        out += ['## Not observed', '']
        out += ['- %s: %s: %s' % (_md(item.get('host')), _md(item.get('source')), _md(item.get('reason'))) for item in not_observed]
        out.append('')
    return '\n'.join(out)


# --------------------------------------------------------------------------------------------
# SVG diagram: the active findings, as today (detect only) or after remediation (measured)
#
# Layout, top to bottom: legend and state line; flows through a gateway (clients left, gateways
# middle, backends right, one label slot per flow next to its client); fixed flows, one row each;
# same-host pairs, one row each. Every text gets a width it is shortened to, and a row or slot
# no other text uses, so labels cannot overlap whatever the plan holds.

COLOR_HAIRPIN = '#d62728'
COLOR_DIRECT = '#2ca02c'
COLOR_LOCAL = '#ff7f0e'
SVG_WIDTH = 1200
COL_X = {'client': 20, 'gateway': 560, 'backend': 980}
BOX_W = 200
BOX_H = 64
BOX_GAP = 16
FLOW_H = 18          # distance between two flows leaving one client box: one 11 px label line each
LANE_H = 8           # distance between two arrows entering a gateway or backend box
LABEL_GAP = 8        # from a client box to its flow labels
CURVE_W = 110        # where a flow bends towards its gateway, past the labels: no line crosses a label
FIXED_ROW_H = 36
FIXED_BOX_W = 240
SAME_ROW_H = 84
PAD = 10             # text inset inside boxes

# Advance widths of DejaVu Sans (the first font the page asks for) in em, rounded up, for the
# characters a plan holds; unknown characters count as wide.
_NARROW = set(".,:;'|!ijlI[]()/ \u00b7")
_SLIM = set('frt-')
_WIDE = set('mwMW@%\u2192\u2026')


def _text_width(text, size, bold=False):
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += 0.36
        elif char in _SLIM:
            width += 0.44
        elif char in _WIDE:
            width += 1.0
        elif char.isdigit() or char.islower() or char in '_=+?*#$&<>"':
            width += 0.64
        else:
            width += 0.8
    return width * size * (1.15 if bold else 1.0)


def _fit(text, max_width, size, bold=False):
    """``text`` shortened with an ellipsis to at most ``max_width`` pixels."""
    text = _text(text)
    if _text_width(text, size, bold) <= max_width:
        return text
    while text and _text_width(text + '\u2026', size, bold) > max_width:
        text = text[:-1]
    return text + '\u2026'


def _esc(value):
    return html.escape(_text(value), quote=True)


def _svg_text(x, y, text, size, max_width, anchor='start', bold=False, fill=None, css=None):
    attrs = ' class="%s"' % css if css else ''
    attrs += ' font-weight="bold"' if bold else ''
    attrs += ' text-anchor="%s"' % anchor if anchor != 'start' else ''
    attrs += ' fill="%s"' % fill if fill else ''
    return '<text x="%.1f" y="%.1f" font-size="%d"%s>%s</text>' % (x, y, size, attrs, _esc(_fit(text, max_width, size, bold)))


def _box(x, y, width, height, lines, css):
    """A rounded box with up to three lines: the first bold (14 px), the others 12 px."""
    parts = ['<rect class="%s" x="%.1f" y="%.1f" width="%d" height="%.1f" rx="8" ry="8"/>' % (css, x, y, width, height)]
    for index, line in enumerate([line for line in lines if line][:3]):
        size = 14 if index == 0 else 12
        parts.append(_svg_text(x + PAD, y + 20 + index * 16, line, size, width - 2 * PAD, bold=index == 0))
    return parts


def _client_key(pair):
    client = pair.get('client') or {}
    return client.get('host') or client.get('ip') or '?'


def _backend_key(pair):
    backend = pair.get('backend') or {}
    return backend.get('host') or backend.get('ip') or 'unknown backend (%s)' % _public_text(pair)


def _gateway_key(pair):
    return pair.get('gateway') or 'NAT (not observed)'


def _fixed_label(pair, before, after):
    fix = pair.get('fix')
    public = pair.get('public') or {}
    backend = pair.get('backend') or {}
    if fix == 'split_dns':
        names = public.get('names') or []
        what = 'split DNS: %s %s %s' % (', '.join(names) if names else endpoint(public.get('ip'), None), ARROW, backend.get('ip'))
    elif fix == 'local_shortcut':
        what = 'local shortcut: %s %s %s' % (endpoint(public.get('ip'), public.get('port')), ARROW,
                                             endpoint(backend.get('ip'), backend.get('port')))
    else:
        what = 'direct: %s' % endpoint(backend.get('ip'), backend.get('port'))
    return '%s \u00b7 gateway entries %s per 1,000 requests' % (what, _change(before, after, 'gw_entries_per_1000'))


class _Stack:
    """One column of boxes, each as tall as the flows attached to it need."""

    def __init__(self, x, spacing):
        self.x = x
        self.spacing = spacing
        self.keys = []
        self.lines = {}
        self.flows = {}

    def add(self, key, lines, flow):
        if key not in self.lines:
            self.keys.append(key)
            self.lines[key] = lines
            self.flows[key] = []
        self.flows[key].append(flow)

    def box_height(self, key):
        return max(BOX_H, len(self.flows[key]) * self.spacing + 2 * PAD)

    def height(self):
        return sum(self.box_height(key) for key in self.keys) + BOX_GAP * max(len(self.keys) - 1, 0)

    def place(self, top):
        """Box tops from ``top`` and the y of each flow's attach point: {flow id: y}."""
        self.tops, points, y = {}, {}, top
        for key in self.keys:
            height = self.box_height(key)
            self.tops[key] = y
            first = y + (height - len(self.flows[key]) * self.spacing) / 2.0
            for index, flow in enumerate(self.flows[key]):
                points[flow] = first + self.spacing * (index + 0.5)
            y += height + BOX_GAP
        return points


def _gateway_lines(key, info):
    if not info.get('available'):
        return [key, 'conntrack not observed', '']
    usage = '%s full' % _percent(info.get('usage'))
    return [key, 'conntrack %s of %s' % (_text(info.get('count')), _text(info.get('max'))),
            'AT RISK: %s' % usage if info.get('fix') else usage]


def _through_gateway(pairs, gw_info, top):
    """SVG parts and height of the flows through a gateway, clients left, gateways middle, backends right."""
    client_order = []
    for pair in pairs:
        if _client_key(pair) not in client_order:
            client_order.append(_client_key(pair))
    pairs = sorted(pairs, key=lambda pair: client_order.index(_client_key(pair)))
    clients = _Stack(COL_X['client'], FLOW_H)
    gateways = _Stack(COL_X['gateway'], LANE_H)
    backends = _Stack(COL_X['backend'], LANE_H)
    backend_ports = {}
    for pair in pairs:
        token = pair.get('id')
        client = pair.get('client') or {}
        clients.add(_client_key(pair), [_client_key(pair), client.get('ip') if client.get('host') else 'host not in inventory',
                                        'process: %s' % client['process'] if client.get('process') else ''], token)
        gateways.add(_gateway_key(pair), _gateway_lines(_gateway_key(pair), gw_info.get(pair.get('gateway')) or {}), token)
        backend = pair.get('backend') or {}
        if backend.get('host') or backend.get('ip'):
            backend_lines = [_backend_key(pair), backend.get('ip') if backend.get('host') else '', '']
        else:
            backend_lines = ['unknown backend', 'behind %s' % _public_text(pair), '']
        backends.add(_backend_key(pair), backend_lines, token)
        ports = backend_ports.setdefault(_backend_key(pair), [])
        if backend.get('port') is not None and backend['port'] not in ports:
            ports.append(backend['port'])
    for key, ports in backend_ports.items():
        if ports:
            backends.lines[key][2] = 'port%s %s' % ('s' if len(ports) > 1 else '', ', '.join(str(port) for port in ports))

    out = []
    for kind, title in (('client', 'Clients'), ('gateway', 'Gateway (NAT)'), ('backend', 'Backends')):
        out.append(_svg_text(COL_X[kind], top + 14, title, 14, BOX_W, bold=True, fill='#444', css='column-title'))
    top += 26
    main_h = max(stack.height() for stack in (clients, gateways, backends))
    points = {}
    for name, stack in (('client', clients), ('gateway', gateways), ('backend', backends)):
        points[name] = stack.place(top + (main_h - stack.height()) / 2.0)
        for key in stack.keys:
            out.append('<g class="node node-%s">' % name)
            out += _box(stack.x, stack.tops[key], BOX_W, stack.box_height(key), stack.lines[key], 'box box-%s' % name)
            out.append('</g>')

    label_start = COL_X['client'] + BOX_W + LABEL_GAP
    bend_start = COL_X['gateway'] - CURVE_W
    for pair in pairs:
        token = pair.get('id')
        y_client, y_gateway, y_backend = points['client'][token], points['gateway'][token], points['backend'][token]
        tip = '%s: %s %s %s %s %s (%s connection(s), seen by %s)' % (
            token, _client_text(pair), ARROW, _public_text(pair), ARROW, _backend_text(pair), _text(pair.get('connections')),
            _text(pair.get('seen_by')))
        out.append('<g class="pair hairpin" data-pair="%s"><title>%s</title>' % (_esc(token), _esc(tip)))
        for (x0, x1, y1, x2, y2) in ((COL_X['client'] + BOX_W, bend_start, y_client, COL_X['gateway'], y_gateway),
                                     (COL_X['gateway'] + BOX_W, COL_X['gateway'] + BOX_W, y_gateway, COL_X['backend'], y_backend)):
            bend = (x2 - x1) / 2.0
            out.append('<path class="hairpin-path" d="M%.1f,%.1f L%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="%s" '
                       'stroke-width="2.5" marker-end="url(#arrow-hairpin)"/>'
                       % (x0, y1, x1, y1, x1 + bend, y1, x2 - bend, y2, x2 - 1, y2, COLOR_HAIRPIN))
        public = pair.get('public') or {}
        label = '%s \u00b7 %s conn' % (endpoint(public.get('ip'), public.get('port')), _text(pair.get('connections')))
        out.append(_svg_text(label_start, y_client - 4, label, 11, bend_start - label_start, fill=COLOR_HAIRPIN, css='hairpin-label'))
        out.append('</g>')
    return out, 26 + main_h


def _fixed_rows(pairs, measurements, top):
    """One row per fixed pair: client box, the direct path, backend box."""
    out = [_svg_text(20, top + 14, 'Fixed: direct paths after remediation (no gateway, no NAT)', 14, SVG_WIDTH - 40, bold=True,
                     fill='#444', css='section-title')]
    top += 24
    backend_x = SVG_WIDTH - 20 - FIXED_BOX_W
    label_width = backend_x - 20 - FIXED_BOX_W - 2 * 20
    for index, pair in enumerate(pairs):
        token = pair.get('id')
        y = top + index * FIXED_ROW_H
        middle = y + 14
        client = pair.get('client') or {}
        client_text = '%s %s' % (_client_key(pair), client.get('ip')) if client.get('host') else _client_key(pair)
        backend = pair.get('backend') or {}
        backend_text = '%s %s' % (_backend_key(pair), endpoint(backend.get('ip'), backend.get('port'))) if backend.get('host') \
            else _backend_key(pair)
        label = _fixed_label(pair, measurements['before'].get(token) or {}, measurements['after'].get(token) or {})
        out.append('<g class="pair direct" data-pair="%s" data-fix="%s"><title>%s</title>' % (_esc(token), _esc(pair.get('fix')), _esc(label)))
        for x, text, css in ((20, client_text, 'box box-client'), (backend_x, backend_text, 'box box-backend')):
            out.append('<rect class="%s" x="%d" y="%.1f" width="%d" height="28" rx="6" ry="6"/>' % (css, x, y, FIXED_BOX_W))
            out.append(_svg_text(x + PAD, y + 19, text, 12, FIXED_BOX_W - 2 * PAD))
        out.append('<path class="direct-path" d="M%d,%.1f L%d,%.1f" fill="none" stroke="%s" stroke-width="2.5" '
                   'marker-end="url(#arrow-direct)"/>' % (20 + FIXED_BOX_W, middle, backend_x - 1, middle, COLOR_DIRECT))
        out.append(_svg_text(SVG_WIDTH / 2.0, middle - 5, label, 11, label_width, anchor='middle', fill='#1d6b1d', css='direct-label'))
        out.append('</g>')
    return out, 24 + len(pairs) * FIXED_ROW_H


def _same_host_rows(items, measurements, top):
    """One row per same-host pair: the host, its client process, the loopback TCP or Unix-socket path, the listener."""
    out = [_svg_text(20, top + 14, 'Same host: client process %s local listener' % ARROW, 14, SVG_WIDTH - 40, bold=True, fill='#444',
                     css='section-title')]
    top += 24
    for index, item in enumerate(items):
        y = top + index * SAME_ROW_H
        fixed = _is_fixed('same_host', measurements['after'].get(item.get('id')))
        out.append('<g class="same-host%s" data-pair="%s"><title>%s</title>'
                   % (' fixed' if fixed else '', _esc(item.get('id')), _esc(item.get('reason'))))
        out.append('<rect class="box box-host" x="20" y="%d" width="%d" height="%d" rx="10" ry="10"/>' % (y, SVG_WIDTH - 40, SAME_ROW_H - 12))
        out.append(_svg_text(34, y + 24, item.get('host'), 14, 210, bold=True))
        out.append(_svg_text(34, y + 44, endpoint(item.get('ip'), item.get('port')), 12, 210))
        for x, name in ((260, item.get('client_process') or 'client'), (780, item.get('listener_process') or 'listener')):
            out.append('<rect class="box box-process" x="%d" y="%d" width="160" height="40" rx="6" ry="6"/>' % (x, y + 16))
            out.append(_svg_text(x + 80, y + 41, name, 12, 160 - 2 * PAD, anchor='middle'))
        if fixed:
            css, color, text_color, label = 'direct-path', COLOR_DIRECT, '#1d6b1d', 'Unix socket (measured after)'
        else:
            css, color, text_color = 'local-path', COLOR_LOCAL, '#a65400'
            label = 'TCP %s \u00b7 %s conn' % (endpoint(item.get('ip'), item.get('port')), _text(item.get('connections')))
        out.append('<path class="%s" d="M420,%d L779,%d" stroke="%s" stroke-width="2.5" marker-end="url(#arrow-%s)"/>'
                   % (css, y + 36, y + 36, color, 'direct' if fixed else 'local'))
        out.append(_svg_text(600, y + 30, label, 11, 340, anchor='middle', fill=text_color, css='local-label'))
        out.append('</g>')
    return out, 24 + len(items) * SAME_ROW_H


def render_svg(plan, measurements=None):
    """The flow diagram of the active findings as an inline ``<svg>`` element (a string).

    With ``after`` measurements it shows the state after remediation: a finding measured after
    with no entry left on its path is drawn fixed (green), the others as they are (red through a
    gateway, orange over loopback). Without, it shows today's state. Latent findings are not drawn.
    """
    plan = check_plan(plan)
    measurements = check_measurements(measurements)
    after_state = bool(measurements['after'])
    active = [pair for pair in plan.get('pairs') or [] if pair.get('status') == 'active']
    fixed = [pair for pair in active if _is_fixed('pair', measurements['after'].get(pair.get('id')))]
    through = [pair for pair in active if pair not in fixed]
    same_host = [item for item in plan.get('same_host') or [] if item.get('status') == 'active']
    gw_info = {gw.get('host'): gw for gw in plan.get('gateways') or []}

    if after_state:
        legend = [('hairpin', COLOR_HAIRPIN, 'still through a gateway'), ('direct', COLOR_DIRECT, 'fixed: direct path (measured after)'),
                  ('local', COLOR_LOCAL, 'same-host TCP over loopback')]
        state = ('After remediation: %d of %d active pair(s) fixed, %d still through a gateway; %d of %d same-host pair(s) on a Unix socket.'
                 % (len(fixed), len(active), len(through),
                    sum(1 for item in same_host if _is_fixed('same_host', measurements['after'].get(item.get('id')))), len(same_host)))
    else:
        legend = [('hairpin', COLOR_HAIRPIN, 'hairpin through a gateway (today)'), ('local', COLOR_LOCAL, 'same-host TCP over loopback')]
        state = ('Today (detect only): %d active pair(s), %d same-host pair(s). Latent findings and manual advice are listed below, '
                 'not drawn.' % (len(active), len(same_host)))

    body, y = [], 56
    if through:
        parts, height = _through_gateway(through, gw_info, y)
        body += parts
        y += height + 20
    if fixed:
        parts, height = _fixed_rows(fixed, measurements, y)
        body += parts
        y += height + 12
    if same_host:
        parts, height = _same_host_rows(same_host, measurements, y)
        body += parts
        y += height
    if not active and not same_host:
        body.append(_svg_text(20, y + 24, 'No active hairpin and no same-host TCP found.', 16, SVG_WIDTH - 40, fill='#2ca02c'))
        y += 40
    height = y + 12

    out = ['<svg xmlns="http://www.w3.org/2000/svg" id="flows" role="img" aria-labelledby="flows-title" '
           'viewBox="0 0 %d %d" width="%d" height="%d" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" data-state="%s">'
           % (SVG_WIDTH, height, SVG_WIDTH, height, 'after' if after_state else 'today'),
           '<title id="flows-title">Hairpin flows: clients, gateways, backends</title>',
           '<defs>']
    for name, color in (('hairpin', COLOR_HAIRPIN), ('direct', COLOR_DIRECT), ('local', COLOR_LOCAL)):
        out.append('<marker id="arrow-%s" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" '
                   'markerHeight="11" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>' % (name, color))
    out.append('</defs>')
    out.append('<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (SVG_WIDTH, height))
    slot = (SVG_WIDTH - 40) // 3
    for index, (name, color, label) in enumerate(legend):
        x = 20 + index * slot
        out.append('<g class="legend legend-%s"><line x1="%d" y1="16" x2="%d" y2="16" stroke="%s" stroke-width="3" '
                   'marker-end="url(#arrow-%s)"/>%s</g>' % (name, x, x + 36, color, name, _svg_text(x + 44, 20, label, 12, slot - 56)))
    out.append(_svg_text(20, 42, state, 12, SVG_WIDTH - 40, fill='#444', css='state'))
    out += body
    out.append('</svg>')
    return '\n'.join(out)


# --------------------------------------------------------------------------------------------
# HTML

CSS = """
body{font-family:"DejaVu Sans","Liberation Sans",Arial,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:24px;margin:0 0 6px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}
p.summary{font-size:14px;margin:4px 0 14px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:10px 0 16px}
.card{border:1px solid #ddd;border-radius:8px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:22px} .card span{font-size:12px;color:#555}
.card.risk b{color:#d62728} .card.ok b{color:#2ca02c}
table{border-collapse:collapse;font-size:12px;margin:6px 0 12px;width:100%}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:break-word}
td code{white-space:nowrap}
td code.input{white-space:normal;overflow-wrap:anywhere}
th{background:#f4f4f4} tr:nth-child(even) td{background:#fafafa}
code{font-family:"DejaVu Sans Mono",monospace;font-size:12px}
.fix{display:inline-block;border-radius:4px;padding:1px 6px;font-family:"DejaVu Sans Mono",monospace;font-size:12px;background:#e8f5e9;color:#1d6b1d}
.fix.conntrack_headroom{background:#fdecea;color:#a11}
.fix.none{background:#eee;color:#666}
.status{display:inline-block;border-radius:4px;padding:1px 6px;font-size:12px}
.status.active{background:#fdecea;color:#a11} .status.latent{background:#fff4e5;color:#8a5300}
.diagram{border:1px solid #ddd;border-radius:8px;padding:8px;overflow-x:auto;max-width:1216px}
svg .box{stroke-width:1.5}
svg .box-client{fill:#eef4fb;stroke:#4a78b5} svg .box-gateway{fill:#fdf0ef;stroke:#d62728}
svg .box-backend{fill:#eef8ee;stroke:#3c8f3c} svg .box-host{fill:#fafafa;stroke:#999}
svg .box-process{fill:#fff4e8;stroke:#ff7f0e}
.muted{color:#666;font-size:12px}
p.note{font-size:13px;border-left:3px solid #d62728;padding:2px 8px;margin:6px 0}
"""


def _h(value):
    return html.escape(_text(value), quote=True)


def _fix_badge(fix):
    if not fix:
        return '<span class="fix none">none</span>'
    return '<span class="fix %s">%s</span>' % (_h(fix), _h(fix))


def _html_table(header, rows, css=''):
    out = ['<table%s><thead><tr>%s</tr></thead><tbody>' % (' class="%s"' % css if css else '', ''.join('<th>%s</th>' % _h(cell) for cell in header))]
    for row in rows:
        out.append('<tr>%s</tr>' % ''.join('<td>%s</td>' % cell for cell in row))
    out.append('</tbody></table>')
    return out


def _html_cell(cell, index, code_columns, input_column):
    if index == input_column:
        return '<code class="input">%s</code>' % _h(cell)
    if index in code_columns:
        return '<code>%s</code>' % _h(cell)
    return _h(_pretty(cell))


def _html_rows(rows, code_columns=(0,), input_column=None):
    return [[_html_cell(cell, index, code_columns, input_column) for index, cell in enumerate(row)] for row in rows]


def _html_outcome(plan, measurements):
    pair_rows, same_rows = _outcome_rows(plan, measurements)
    if not pair_rows and not same_rows:
        out = ['<h2 id="found">Found and planned</h2>']
        rows = _found_rows(plan)
        if rows:
            out += _html_table(FOUND_HEADER, _html_rows(rows), 'found')
        else:
            out.append('<p>Nothing to fix: no hairpin, no same-host TCP, no gateway at risk.</p>')
        out.append('<p class="muted">%s</p>' % _h(NOT_MEASURED))
        return out
    out = ['<h2 id="outcome">Before %s after</h2>' % ARROW]
    if pair_rows:
        out += _html_table(PAIR_OUTCOME_HEADER, _html_rows(pair_rows), 'outcome-pairs')
    if same_rows:
        out += _html_table(SAME_HOST_OUTCOME_HEADER, _html_rows([row[1:] for row in same_rows], code_columns=()), 'outcome-same-host')
    return out


def _html_cost(cost):
    out = ['<h2 id="cost">What the hairpins cost</h2>']
    if cost['rows']:
        out += _html_table(COST_HEADER, _html_rows(_cost_rows(cost), code_columns=(0,)), 'cost')
        out.append('<p class="summary">%s</p>' % _h(_cost_total(cost)))
    out += ['<p class="note">%s</p>' % _h(note) for note in cost['notes']]
    out.append('<p class="muted">%s</p>' % _h(_price_text(cost)))
    return out


def render_html(plan, measurements=None, watch=None, price_per_gb=None, currency=None):
    plan = check_plan(plan)
    checked = check_measurements(measurements)
    cost = cost_section(plan, watch, price_per_gb, currency)
    summary = plan.get('summary') or {}
    out = ['<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>%s</title>' % _h(REPORT_TITLE), '<style>%s</style>' % CSS, '</head>', '<body>',
           '<h1>%s</h1>' % _h(REPORT_TITLE), '<p class="summary">%s</p>' % _h(_summary_line(plan))]

    cards = [('pairs', summary.get('active_pairs', 0), 'active hairpin pairs', 'risk' if summary.get('active_pairs') else 'ok'),
             ('latent', summary.get('latent_pairs', 0), 'latent pairs (DNS only)', ''),
             ('connections', summary.get('hairpin_connections', 0), 'hairpin connections', ''),
             ('same-host', summary.get('same_host', 0), 'same-host TCP', ''),
             ('at-risk', summary.get('gateways_at_risk', 0), 'gateways at risk', 'risk' if summary.get('gateways_at_risk') else 'ok'),
             ('automatic', summary.get('automatic', 0), 'automatic fixes', ''),
             ('manual', summary.get('manual', 0), 'manual changes', '')]
    out.append('<div class="cards">%s</div>' % ''.join(
        '<div class="card %s" id="card-%s"><b>%s</b><span>%s</span></div>' % (_h(css), _h(key), _h(value), _h(label))
        for key, value, label, css in cards))

    out += _html_outcome(plan, checked)
    out += _html_cost(cost)
    out += ['<h2 id="flows-section">Flows</h2>', '<div class="diagram">', render_svg(plan, checked), '</div>']

    out.append('<h2 id="latent">Latent findings (DNS answers only: they hairpin once used)</h2>')
    rows = _latent_rows(plan)
    out += _html_table(LATENT_HEADER, _html_rows(rows), 'latent') if rows else ['<p>None.</p>']

    out.append('<h2 id="manual">Manual advice</h2>')
    rows = _manual_rows(plan)
    out += _html_table(MANUAL_HEADER, _html_rows(rows), 'manual') if rows else ['<p>None: every recommendation is automatic.</p>']

    out.append('<h2 id="automatic">Automatic changes (remediate.yml)</h2>')
    rows = _automatic_rows(plan)
    out += _html_table(AUTOMATIC_HEADER, _html_rows(rows, code_columns=(0, 1), input_column=3), 'automatic') if rows else ['<p>None.</p>']

    out.append('<h2>Hairpin pairs</h2>')
    pairs = plan.get('pairs') or []
    if pairs:
        rows = [['<code>%s</code>' % _h(pair.get('id')), '<span class="status %s">%s</span>' % (_h(pair.get('status')), _h(pair.get('status'))),
                 _h(_client_text(pair)),
                 _h(_public_text(pair)) + ('<br><span class="muted">%s</span>' % _h((pair.get('public') or {}).get('names'))
                                           if (pair.get('public') or {}).get('names') else ''),
                 _h(_backend_text(pair)), _h(pair.get('gateway')), _h(pair.get('seen_by')), _h(pair.get('connections')),
                 _h(_relation_text(pair)), _fix_badge(pair.get('fix')), _h(_pretty(pair.get('reason')))]
                for pair in pairs]
        out += _html_table(['Pair', 'Status', 'Client', 'Public (names)', 'Backend', 'Gateway', 'Seen by', 'Conns', 'Relation',
                            'Fix', 'Reason'], rows, 'pairs')
    else:
        out.append('<p>No hairpin pair found.</p>')

    names = plan.get('names') or []
    if names:
        out.append('<h2>DNS names answering with own public addresses</h2>')
        rows = [['<code>%s</code>' % _h(item.get('name')), _h(item.get('public_ips')), _h(item.get('resolved_by')),
                 _h(_pretty(item.get('forwards'))), _h(item.get('private_answers')), _h(_pretty(item.get('reason')))] for item in names]
        out += _html_table(['Name', 'Public IPs', 'Resolved by', 'Forwards', 'Private answer', 'Reason'], rows, 'names')

    out.append('<h2>Same-host TCP (Unix-socket candidates)</h2>')
    same_host = plan.get('same_host') or []
    if same_host:
        rows = [[_h(item.get('host')), _h(endpoint(item.get('ip'), item.get('port'))),
                 _h('%s \u2192 %s' % (item.get('client_process') or '?', item.get('listener_process') or '?')),
                 _h(item.get('connections')), _fix_badge(item.get('fix')), _h(_pretty(item.get('reason')))] for item in same_host]
        out += _html_table(['Host', 'Endpoint', 'Client \u2192 listener', 'Conns', 'Fix', 'Reason'], rows, 'same-host')
    else:
        out.append('<p>No same-host TCP pair found.</p>')

    out.append('<h2>Conntrack health</h2>')
    gateways = plan.get('gateways') or []
    if gateways:
        rows = [[_h(gw.get('host')), _h(gw.get('is_gateway')), _h(gw.get('count')), _h(gw.get('max')), _h(gw.get('buckets')),
                 _h(_percent(gw.get('usage'))), _h(gw.get('drop')), _h(gw.get('insert_failed')), _h(gw.get('early_drop')),
                 _h('%s (%s)' % (_text(gw.get('hairpin_entries')), _percent(gw.get('hairpin_share')))), _h(gw.get('writable')),
                 _fix_badge(gw.get('fix')), _h(gw.get('reason'))] for gw in gateways]
        out += _html_table(['Host', 'Gateway', 'Count', 'Max', 'Buckets', 'Usage', 'Drop', 'Insert failed', 'Early drop',
                            'Hairpin entries (share)', 'Writable', 'Fix', 'Reason'], rows, 'gateways')
    else:
        out.append('<p>No conntrack data.</p>')

    not_observed = plan.get('not_observed') or []
    if not_observed:
        out.append('<h2>Not observed</h2>')
        out += _html_table(['Host', 'Source', 'Reason'], [[_h(item.get('host')), _h(item.get('source')), _h(item.get('reason'))]
                                                          for item in not_observed], 'not-observed')
    out += ['<p class="muted">keeplocal.traffic plan version %s. Self-contained page: no scripts, no external resources.</p>'
            % _h(plan.get('version')), '</body>', '</html>', '']
    return '\n'.join(out)
