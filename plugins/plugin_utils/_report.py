# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a hairpin plan (version 1) and optional before/after measurements as Markdown or HTML.

Pure functions, stdlib only. The HTML page is self-contained: inline CSS and an inline SVG
diagram (clients left, gateways middle, backends right; hairpin paths solid red through the
gateway, direct paths dashed), no script, no external resource, so it opens offline.
Every value taken from the plan is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import format_percent

REPORT_TITLE = 'Hairpin traffic report'
MEASURE_KEYS = ('p50_ms', 'p99_ms', 'gw_entries_per_1000', 'backend_saw')
OPTIONAL_MEASURE_KEYS = ('requests', 'errors', 'rps', 'path')


class ReportError(ValueError):
    """Bad report input; the message names what is wrong and how to fix it."""


# --------------------------------------------------------------------------------------------
# input checks


def _percent(value):
    return format_percent(value, missing='-')


def check_plan(plan):
    if not isinstance(plan, Mapping):
        raise ReportError('the report needs the plan from keeplocal.traffic.hairpin_plan (a dict), got %s' % type(plan).__name__)
    if plan.get('version') != 1:
        raise ReportError('unsupported plan version %r: this report renders plan version 1 (rebuild it with hairpin_plan)'
                          % (plan.get('version'),))
    for key in ('pairs', 'same_host', 'gateways'):
        if not isinstance(plan.get(key, []), list):
            raise ReportError('plan.%s must be a list' % key)
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
            for key in ('p50_ms', 'p99_ms', 'gw_entries_per_1000', 'requests', 'errors', 'rps'):
                item = entry.get(key)
                if item is not None and (isinstance(item, bool) or not isinstance(item, (int, float))):
                    raise ReportError('measurements.%s[%s].%s must be a number or null, got %r' % (phase, pair_id, key, item))
            phase_result[str(pair_id)] = entry
        result[phase] = phase_result
    return result


# --------------------------------------------------------------------------------------------
# formatting helpers


def _fmt_num(value, unit=''):
    if value is None:
        return '-'
    if isinstance(value, float):
        if value == int(value) and abs(value) >= 100:
            text = '%d' % value
        elif abs(value) >= 100:
            text = '%.0f' % value
        elif abs(value) >= 10:
            text = '%.1f' % value
        else:
            text = '%.2f' % value
    else:
        text = str(value)
    return text + unit


def _endpoint(ip, port):
    if ip is None:
        return '?' if port is None else '?:%s' % port
    text = str(ip)
    if ':' in text:
        text = '[%s]' % text
    return text if port is None else '%s:%s' % (text, port)


def _text(value):
    if value is None:
        return '-'
    if isinstance(value, bool):
        return 'yes' if value else 'no'
    if isinstance(value, (list, tuple)):
        return ', '.join(_text(item) for item in value) if value else '-'
    return str(value)


def _pretty(text):
    return _text(text).replace('->', '\u2192')


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
    return '%s/%s' % (_endpoint(public.get('ip'), public.get('port')), public.get('proto') or 'tcp')


def _backend_text(pair):
    backend = pair.get('backend') or {}
    where = _endpoint(backend.get('ip'), backend.get('port'))
    return '%s (%s)' % (backend['host'], where) if backend.get('host') else where


def _relation_text(pair):
    relation = _text(pair.get('relation'))
    if pair.get('port_translated'):
        relation += ', port translated'
    return relation


def _summary_line(plan):
    summary = plan.get('summary') or {}
    by_fix = summary.get('by_fix') or {}
    fixes = ', '.join('%s %s' % (count, kind) for kind, count in by_fix.items() if count) or 'none'
    return ('%s hairpin pair(s) carrying %s connection(s), %s same-host TCP candidate(s), %s gateway(s) of which %s at risk; '
            'fixes: %s.' % (summary.get('pairs', len(plan.get('pairs') or [])), summary.get('hairpin_connections', 0),
                            summary.get('same_host', len(plan.get('same_host') or [])), summary.get('gateways', 0),
                            summary.get('gateways_at_risk', 0), fixes))


def _measured_ids(plan, measurements):
    """Ids in measurement order: plan pairs, then same-host entries, then any others."""
    ids = []
    known = [pair.get('id') for pair in plan.get('pairs') or []] + [item.get('id') for item in plan.get('same_host') or []]
    for pair_id in known:
        if pair_id in measurements['before'] or pair_id in measurements['after']:
            ids.append(pair_id)
    extra = sorted((set(measurements['before']) | set(measurements['after'])) - set(ids))
    return ids + extra


def _ratio_text(before, after):
    if before is None or after is None or not before:
        return '-'
    return '%.2f\u00d7' % (after / float(before))


def _measure_rows(plan, measurements):
    rows = []
    for pair_id in _measured_ids(plan, measurements):
        before = measurements['before'].get(pair_id) or {}
        after = measurements['after'].get(pair_id) or {}
        rows.append([
            pair_id,
            _fmt_num(before.get('p50_ms'), ' ms'), _fmt_num(after.get('p50_ms'), ' ms'),
            _fmt_num(before.get('p99_ms'), ' ms'), _fmt_num(after.get('p99_ms'), ' ms'),
            _ratio_text(before.get('p99_ms'), after.get('p99_ms')),
            _fmt_num(before.get('gw_entries_per_1000')), _fmt_num(after.get('gw_entries_per_1000')),
            _text(before.get('backend_saw')), _text(after.get('backend_saw')),
        ])
    return rows


MEASURE_HEADER = ['Pair', 'p50 before', 'p50 after', 'p99 before', 'p99 after', 'p99 after/before',
                  'GW entries /1000 before', 'after', 'Backend saw before', 'after']


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
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join('---' for _item in header) + '|']
    for row in rows:
        lines.append('| ' + ' | '.join(row) + ' |')
    return lines


def render_markdown(plan, measurements=None):
    plan = check_plan(plan)
    measurements = check_measurements(measurements)
    out = ['# %s' % REPORT_TITLE, '', _md(_summary_line(plan)), '']

    out += ['## Hairpin pairs', '']
    pairs = plan.get('pairs') or []
    if pairs:
        rows = []
        for pair in pairs:
            rows.append([_code(pair.get('id')), _md(_client_text(pair)), _md(_public_text(pair)), _md(_backend_text(pair)),
                         _md(pair.get('gateway')), _md(pair.get('seen_by')), _md(pair.get('connections')),
                         _md(_relation_text(pair)), _code(pair.get('fix')), _md(pair.get('reason'))])
        out += _md_table(['Pair', 'Client', 'Public', 'Backend', 'Gateway', 'Seen by', 'Conns', 'Relation', 'Fix', 'Reason'], rows)
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
        rows = [[_md(item.get('host')), _md(_endpoint(item.get('ip'), item.get('port'))),
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

    out += ['## Before / after', '']
    rows = _measure_rows(plan, measurements)
    if rows:
        out += _md_table(MEASURE_HEADER, [[_code(row[0])] + [_md(cell) for cell in row[1:]] for row in rows])
    else:
        out.append('Not measured yet: run playbooks/site.yml (path\\_probe) to measure before and after the fixes.')
    out.append('')

    not_observed = plan.get('not_observed') or []
    if not_observed:
        out += ['## Not observed', '']
        out += ['- %s: %s: %s' % (_md(item.get('host')), _md(item.get('source')), _md(item.get('reason'))) for item in not_observed]
        out.append('')
    return '\n'.join(out)


# --------------------------------------------------------------------------------------------
# SVG diagram

COLOR_HAIRPIN = '#d62728'
COLOR_DIRECT = '#2ca02c'
COLOR_LOCAL = '#ff7f0e'
SVG_WIDTH = 1200
COL_X = {'client': 20, 'gateway': 500, 'backend': 980}
BOX_W = 200
BOX_H = 64
ROW_H = 92
TOP = 76
LANE_H = 24
DIRECT_FIXES = ('split_dns', 'local_shortcut', 'unix_socket')


def _esc(value):
    return html.escape(_text(value), quote=True)


class _Column:

    def __init__(self, kind):
        self.kind = kind
        self.keys = []
        self.lines = {}
        self.attach = {}

    def add(self, key, lines):
        if key not in self.lines:
            self.keys.append(key)
            self.lines[key] = lines

    def attach_point(self, key, side, token):
        self.attach.setdefault((key, side), [])
        if token not in self.attach[(key, side)]:
            self.attach[(key, side)].append(token)


def _client_key(pair):
    client = pair.get('client') or {}
    return client.get('host') or client.get('ip') or '?'


def _backend_key(pair):
    backend = pair.get('backend') or {}
    return backend.get('host') or backend.get('ip') or 'unknown backend (%s)' % _public_text(pair)


def _gateway_key(pair):
    return pair.get('gateway') or 'NAT (not observed)'


def _direct_label(pair, measured_after):
    fix = pair.get('fix')
    public = pair.get('public') or {}
    backend = pair.get('backend') or {}
    state = 'after fix' if measured_after else 'recommended'
    if fix == 'split_dns':
        names = public.get('names') or []
        target = backend.get('ip')
        what = 'split DNS: %s \u2192 %s' % (', '.join(names) if names else _endpoint(public.get('ip'), None), target)
    elif fix == 'local_shortcut':
        what = 'local shortcut: %s \u2192 %s' % (_endpoint(public.get('ip'), public.get('port')),
                                                 _endpoint(backend.get('ip'), backend.get('port')))
    else:
        what = 'unix socket on %s' % (backend.get('host') or backend.get('ip'))
    return '%s (%s)' % (what, state)


def _spread(index, count):
    if count <= 1:
        return 0.0
    step = min(20.0, (BOX_H - 12) / float(count - 1))
    return (index - (count - 1) / 2.0) * step


def _box(x, y, lines, css):
    parts = ['<rect class="%s" x="%d" y="%.1f" width="%d" height="%d" rx="8" ry="8"/>' % (css, x, y, BOX_W, BOX_H)]
    for index, line in enumerate(lines[:3]):
        weight = ' font-weight="bold"' if index == 0 else ''
        parts.append('<text x="%d" y="%.1f" font-size="%d"%s>%s</text>'
                     % (x + 10, y + 20 + index * 16, 14 if index == 0 else 12, weight, _esc(line)))
    return parts


def render_svg(plan, measurements=None):
    """The flow diagram as an inline ``<svg>`` element (a string)."""
    plan = check_plan(plan)
    measurements = check_measurements(measurements)
    pairs = plan.get('pairs') or []
    same_host = plan.get('same_host') or []
    gw_info = {gw.get('host'): gw for gw in plan.get('gateways') or []}

    columns = {kind: _Column(kind) for kind in ('client', 'gateway', 'backend')}
    backend_ports = {}
    for pair in pairs:
        client = pair.get('client') or {}
        columns['client'].add(_client_key(pair), [_client_key(pair), client.get('ip') if client.get('host') else 'host not in inventory',
                                                  'process: %s' % client['process'] if client.get('process') else ''])
        gkey = _gateway_key(pair)
        info = gw_info.get(pair.get('gateway')) or {}
        if info.get('available'):
            health = 'conntrack %s/%s (%s)' % (_text(info.get('count')), _text(info.get('max')), _percent(info.get('usage')))
        else:
            health = 'conntrack not observed'
        columns['gateway'].add(gkey, [gkey, health, 'AT RISK: %s' % info['fix'] if info.get('fix') else ''])
        backend = pair.get('backend') or {}
        bkey = _backend_key(pair)
        columns['backend'].add(bkey, [bkey, backend.get('ip') if backend.get('host') else '', ''])
        if backend.get('port') is not None:
            ports = backend_ports.setdefault(bkey, [])
            if backend['port'] not in ports:
                ports.append(backend['port'])
        token = pair.get('id')
        columns['client'].attach_point(_client_key(pair), 'right', 'h:' + token)
        columns['gateway'].attach_point(gkey, 'left', 'h:' + token)
        columns['gateway'].attach_point(gkey, 'right', 'h:' + token)
        columns['backend'].attach_point(_backend_key(pair), 'left', 'h:' + token)
        if pair.get('fix') in DIRECT_FIXES:
            columns['client'].attach_point(_client_key(pair), 'right', 'd:' + token)
            columns['backend'].attach_point(_backend_key(pair), 'left', 'd:' + token)

    for bkey, ports in backend_ports.items():
        columns['backend'].lines[bkey][2] = 'port%s %s' % ('s' if len(ports) > 1 else '', ', '.join(str(port) for port in ports))
    rows = max([len(col.keys) for col in columns.values()] + [1])
    main_h = rows * ROW_H
    centers = {}
    for kind, col in columns.items():
        offset = TOP + (rows - len(col.keys)) * ROW_H / 2.0
        for index, key in enumerate(col.keys):
            centers[(kind, key)] = offset + index * ROW_H + ROW_H / 2.0

    def point(kind, key, side, token):
        col = columns[kind]
        tokens = col.attach[(key, side)]
        y = centers[(kind, key)] + _spread(tokens.index(token), len(tokens))
        x = COL_X[kind] + (BOX_W if side == 'right' else 0)
        return x, y

    direct = [pair for pair in pairs if pair.get('fix') in DIRECT_FIXES]
    lanes_top = TOP + main_h + 16
    same_top = lanes_top + len(direct) * LANE_H + (30 if direct else 0)
    same_row_h = 96
    height = same_top + (44 + len(same_host) * same_row_h if same_host else 0) + 20
    if not pairs and not same_host:
        height = TOP + 80

    out = ['<svg xmlns="http://www.w3.org/2000/svg" id="flows" role="img" aria-labelledby="flows-title" '
           'viewBox="0 0 %d %d" width="%d" height="%d" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif">'
           % (SVG_WIDTH, height, SVG_WIDTH, height),
           '<title id="flows-title">Hairpin flows: clients, gateways, backends</title>',
           '<defs>']
    for name, color in (('hairpin', COLOR_HAIRPIN), ('direct', COLOR_DIRECT), ('local', COLOR_LOCAL)):
        out.append('<marker id="arrow-%s" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" '
                   'markerHeight="11" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>' % (name, color))
    out.append('</defs>')
    out.append('<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (SVG_WIDTH, height))

    # legend and column titles
    legend = [('hairpin', COLOR_HAIRPIN, '', 'hairpin via the gateway (today)'),
              ('direct', COLOR_DIRECT, ' stroke-dasharray="8 5"', 'direct path (fix)'),
              ('local', COLOR_LOCAL, '', 'same-host TCP')]
    x = 20
    for name, color, dash, label in legend:
        out.append('<g class="legend legend-%s"><line x1="%d" y1="16" x2="%d" y2="16" stroke="%s" stroke-width="3"%s '
                   'marker-end="url(#arrow-%s)"/><text x="%d" y="20" font-size="12">%s</text></g>'
                   % (name, x, x + 36, color, dash, name, x + 44, _esc(label)))
        x += 70 + len(label) * 7
    for kind, title in (('client', 'Clients'), ('gateway', 'Gateway (NAT)'), ('backend', 'Backends')):
        out.append('<text class="column-title" x="%d" y="%d" font-size="14" font-weight="bold" fill="#444">%s</text>'
                   % (COL_X[kind], TOP - 16, _esc(title)))

    if not pairs and not same_host:
        out.append('<text x="20" y="%d" font-size="16" fill="#2ca02c">No hairpin traffic and no same-host TCP found.</text>' % (TOP + 30))

    # boxes
    for kind, col in columns.items():
        for key in col.keys:
            y = centers[(kind, key)] - BOX_H / 2.0
            out.append('<g class="node node-%s">' % kind)
            out += _box(COL_X[kind], y, [line for line in col.lines[key] if line], 'box box-%s' % kind)
            out.append('</g>')

    # hairpin paths, one group per pair: client -> gateway, gateway -> backend
    for pair in pairs:
        token = pair.get('id')
        ckey, gkey, bkey = _client_key(pair), _gateway_key(pair), _backend_key(pair)
        x1, y1 = point('client', ckey, 'right', 'h:' + token)
        gx0, gy0 = point('gateway', gkey, 'left', 'h:' + token)
        gx1, gy1 = point('gateway', gkey, 'right', 'h:' + token)
        bx0, by0 = point('backend', bkey, 'left', 'h:' + token)
        dns_only = not pair.get('connections')
        style = ' stroke-opacity="0.45"' if dns_only else ''
        tip = '%s: %s \u2192 %s \u2192 %s (%s connection(s), seen by %s)' % (
            token, _client_text(pair), _public_text(pair), _backend_text(pair), _text(pair.get('connections')), _text(pair.get('seen_by')))
        out.append('<g class="pair hairpin" data-pair="%s"><title>%s</title>' % (_esc(token), _esc(tip)))
        for (ax, ay, zx, zy) in ((x1, y1, gx0, gy0), (gx1, gy1, bx0, by0)):
            bend = (zx - ax) / 2.0
            out.append('<path class="hairpin-path" d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="%s" '
                       'stroke-width="3"%s marker-end="url(#arrow-hairpin)"/>'
                       % (ax, ay, ax + bend, ay, zx - bend, zy, zx - 1, zy, COLOR_HAIRPIN, style))
        public = pair.get('public') or {}
        label = '%s \u00b7 %s' % (_endpoint(public.get('ip'), public.get('port')),
                                  'DNS only' if dns_only else '%s conn' % _text(pair.get('connections')))
        out.append('<text class="hairpin-label" x="%.1f" y="%.1f" font-size="11" text-anchor="end" fill="%s">%s</text>'
                   % (gx0 - 14, min(y1, gy0) - 5, COLOR_HAIRPIN, _esc(label)))
        out.append('</g>')

    # direct paths (the fix), dashed, routed in lanes below the boxes: no gateway on the way
    if direct:
        out.append('<text x="%d" y="%d" font-size="12" text-anchor="middle" fill="#444">Direct paths once fixed (no gateway, no NAT)</text>'
                   % (SVG_WIDTH // 2, lanes_top + 2))
    for index, pair in enumerate(direct):
        token = pair.get('id')
        x1, y1 = point('client', _client_key(pair), 'right', 'd:' + token)
        bx0, by0 = point('backend', _backend_key(pair), 'left', 'd:' + token)
        lane = lanes_top + 20 + index * LANE_H
        down_x = x1 + 14 + index * 10
        up_x = bx0 - 18 - index * 10
        label = _direct_label(pair, token in measurements['after'])
        out.append('<g class="pair direct" data-pair="%s" data-fix="%s"><title>%s</title>' % (_esc(token), _esc(pair.get('fix')), _esc(label)))
        out.append('<path class="direct-path" d="M%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f L%.1f,%.1f" fill="none" '
                   'stroke="%s" stroke-width="2.5" stroke-dasharray="8 5" stroke-linejoin="round" marker-end="url(#arrow-direct)"/>'
                   % (x1, y1, down_x, y1, down_x, lane, up_x, lane, up_x, by0, bx0 - 1, by0, COLOR_DIRECT))
        out.append('<text class="direct-label" x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="#1d6b1d">%s</text>'
                   % ((down_x + up_x) / 2.0, lane - 5, _esc(label)))
        out.append('</g>')

    # same-host TCP: one strip per entry
    if same_host:
        out.append('<text class="column-title" x="20" y="%d" font-size="14" font-weight="bold" fill="#444">%s</text>'
                   % (same_top + 18, _esc('Same host: TCP over loopback (Unix-socket candidates)')))
    for index, item in enumerate(same_host):
        top = same_top + 30 + index * same_row_h
        measured_after = item.get('id') in measurements['after']
        out.append('<g class="same-host" data-pair="%s"><title>%s</title>' % (_esc(item.get('id')), _esc(item.get('reason'))))
        out.append('<rect class="box box-host" x="20" y="%d" width="%d" height="%d" rx="10" ry="10"/>' % (top, SVG_WIDTH - 40, same_row_h - 12))
        out.append('<text x="34" y="%d" font-size="14" font-weight="bold">%s</text>' % (top + 22, _esc(item.get('host'))))
        for x, name in ((260, item.get('client_process') or 'client'), (780, item.get('listener_process') or 'listener')):
            out.append('<rect class="box box-process" x="%d" y="%d" width="160" height="40" rx="6" ry="6"/>' % (x, top + 22))
            out.append('<text x="%d" y="%d" font-size="13" text-anchor="middle">%s</text>' % (x + 80, top + 47, _esc(name)))
        out.append('<path class="local-path" d="M420,%d L779,%d" stroke="%s" stroke-width="3" marker-end="url(#arrow-local)"/>'
                   % (top + 34, top + 34, COLOR_LOCAL))
        out.append('<text x="600" y="%d" font-size="11" text-anchor="middle" fill="#a65400">%s</text>'
                   % (top + 28, _esc('TCP %s \u00b7 %s conn' % (_endpoint(item.get('ip'), item.get('port')), _text(item.get('connections'))))))
        out.append('<path class="direct-path" d="M420,%d L779,%d" stroke="%s" stroke-width="2.5" stroke-dasharray="8 5" '
                   'marker-end="url(#arrow-direct)"/>' % (top + 52, top + 52, COLOR_DIRECT))
        out.append('<text x="600" y="%d" font-size="11" text-anchor="middle" fill="#1d6b1d">%s</text>'
                   % (top + 68, _esc('unix socket (%s)' % ('after fix' if measured_after else 'recommended'))))
        out.append('</g>')
    out.append('</svg>')
    return '\n'.join(out)


# --------------------------------------------------------------------------------------------
# HTML

CSS = """
body{font-family:"DejaVu Sans","Liberation Sans",Arial,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:24px;margin:0 0 6px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
p.summary{font-size:14px;margin:4px 0 14px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:10px 0 16px}
.card{border:1px solid #ddd;border-radius:8px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:22px} .card span{font-size:12px;color:#555}
.card.risk b{color:#d62728} .card.ok b{color:#2ca02c}
table{border-collapse:collapse;font-size:12px;margin:6px 0 12px;width:100%}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:break-word}
td code{white-space:nowrap}
th{background:#f4f4f4} tr:nth-child(even) td{background:#fafafa}
code{font-family:"DejaVu Sans Mono",monospace;font-size:12px}
.fix{display:inline-block;border-radius:4px;padding:1px 6px;font-family:"DejaVu Sans Mono",monospace;font-size:12px;background:#e8f5e9;color:#1d6b1d}
.fix.conntrack_headroom{background:#fdecea;color:#a11}
.fix.none{background:#eee;color:#666}
.diagram{border:1px solid #ddd;border-radius:8px;padding:8px;overflow-x:auto;max-width:1216px}
svg .box{stroke-width:1.5}
svg .box-client{fill:#eef4fb;stroke:#4a78b5} svg .box-gateway{fill:#fdf0ef;stroke:#d62728}
svg .box-backend{fill:#eef8ee;stroke:#3c8f3c} svg .box-host{fill:#fafafa;stroke:#999}
svg .box-process{fill:#fff4e8;stroke:#ff7f0e}
.muted{color:#666;font-size:12px}
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


def render_html(plan, measurements=None):
    plan = check_plan(plan)
    checked = check_measurements(measurements)
    summary = plan.get('summary') or {}
    by_fix = summary.get('by_fix') or {}
    out = ['<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>%s</title>' % _h(REPORT_TITLE), '<style>%s</style>' % CSS, '</head>', '<body>',
           '<h1>%s</h1>' % _h(REPORT_TITLE), '<p class="summary">%s</p>' % _h(_summary_line(plan))]

    cards = [('pairs', summary.get('pairs', 0), 'hairpin pairs', 'risk' if summary.get('pairs') else 'ok'),
             ('connections', summary.get('hairpin_connections', 0), 'hairpin connections', ''),
             ('same-host', summary.get('same_host', 0), 'same-host TCP', ''),
             ('at-risk', summary.get('gateways_at_risk', 0), 'gateways at risk', 'risk' if summary.get('gateways_at_risk') else 'ok')]
    cards += [('fix-' + kind, count, kind, '') for kind, count in by_fix.items() if count]
    out.append('<div class="cards">%s</div>' % ''.join(
        '<div class="card %s" id="card-%s"><b>%s</b><span>%s</span></div>' % (_h(css), _h(key), _h(value), _h(label))
        for key, value, label, css in cards))

    out += ['<h2>Flows</h2>', '<div class="diagram">', render_svg(plan, checked), '</div>']

    out.append('<h2>Hairpin pairs</h2>')
    pairs = plan.get('pairs') or []
    if pairs:
        rows = [['<code>%s</code>' % _h(pair.get('id')), _h(_client_text(pair)),
                 _h(_public_text(pair)) + ('<br><span class="muted">%s</span>' % _h((pair.get('public') or {}).get('names'))
                                           if (pair.get('public') or {}).get('names') else ''),
                 _h(_backend_text(pair)), _h(pair.get('gateway')), _h(pair.get('seen_by')), _h(pair.get('connections')),
                 _h(_relation_text(pair)), _fix_badge(pair.get('fix')), _h(_pretty(pair.get('reason')))]
                for pair in pairs]
        out += _html_table(['Pair', 'Client', 'Public (names)', 'Backend', 'Gateway', 'Seen by', 'Conns', 'Relation',
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
        rows = [[_h(item.get('host')), _h(_endpoint(item.get('ip'), item.get('port'))),
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

    out.append('<h2>Before / after</h2>')
    rows = _measure_rows(plan, checked)
    if rows:
        out += _html_table(MEASURE_HEADER, [['<code>%s</code>' % _h(row[0])] + [_h(cell) for cell in row[1:]] for row in rows], 'measurements')
    else:
        out.append('<p class="muted">Not measured yet: run playbooks/site.yml (path_probe) to measure before and after the fixes.</p>')

    not_observed = plan.get('not_observed') or []
    if not_observed:
        out.append('<h2>Not observed</h2>')
        out += _html_table(['Host', 'Source', 'Reason'], [[_h(item.get('host')), _h(item.get('source')), _h(item.get('reason'))]
                                                          for item in not_observed], 'not-observed')
    out += ['<p class="muted">keeplocal.traffic plan version %s. Self-contained page: no scripts, no external resources.</p>'
            % _h(plan.get('version')), '</body>', '</html>', '']
    return '\n'.join(out)
