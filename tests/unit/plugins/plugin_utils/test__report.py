# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Markdown and HTML reports of plan version 2: the outcome first, what the hairpins cost, latent findings
and manual advice in their own sections, the diagram of today's or the remediated state, escaping,
self-containment."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils._metrics import costs, update_counters
from ansible_collections.keeplocal.traffic.plugins.plugin_utils._report import (
    ReportError,
    _fit,
    _text_width,
    check_measurements,
    cost_section,
    render_html,
    render_markdown,
    render_outcome_lines,
    render_svg,
)
from ansible_collections.keeplocal.traffic.tests.unit.plugins.plugin_utils.lab_fixture import PAIR_80, PAIR_5432, SAME_HOST_B
from ansible_collections.keeplocal.traffic.tests.unit.plugins.plugin_utils.report_fixture import (
    LATENT_B,
    LATENT_C,
    fleet_measurements,
    fleet_plan,
    lab_measurements,
    lab_plan,
)

SVG_NS = '{http://www.w3.org/2000/svg}'
VOID = {'meta', 'br', 'hr', 'img', 'input', 'link'}
EMPTY_PLAN = {'version': 2, 'pairs': [], 'same_host': [], 'gateways': [], 'summary': {}}


class TagChecker(HTMLParser):
    """Every non-void element is closed, in order."""

    def __init__(self):
        super().__init__()
        self.stack = []
        self.errors = []
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append('unexpected </%s> with open %s' % (tag, self.stack[-3:]))
        else:
            self.stack.pop()


def parse(page):
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    return checker


def svg_tree(page):
    svg = re.search(r'<svg\b.*?</svg>', page, re.S).group(0)
    return ET.fromstring(svg)  # the inline SVG is well-formed XML


def classes(tree, name):
    return [el for el in tree.iter() if name in (el.get('class') or '').split()]


def text_of(element):
    return ''.join(element.itertext())


def headings(markdown, level='## '):
    return [line for line in markdown.splitlines() if line.startswith(level)]


def table_rows(markdown, first_cell):
    """The rows of the Markdown tables whose first cell is ``first_cell``, split into cells."""
    rows = []
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in re.split(r'(?<!\\)\|', line)[1:-1]]
        if cells and cells[0] == first_cell:
            rows.append(cells)
    return rows


def evil_plan():
    plan = lab_plan()
    pair = plan['pairs'][0]
    pair['id'] = 'svc-a|<script>alert(1)</script>->198.51.100.1:80/tcp'
    pair['client']['host'] = 'svc-a|<script>alert(1)</script>'
    pair['recommendation']['change'] = '<b>bold</b> | pipe'
    plan['same_host'][0]['client_process'] = '<img src=x onerror=alert(2)>'
    return plan


# --- the first section -----------------------------------------------------------------------------

def test_detect_only_leads_with_what_was_found_and_what_will_be_done():
    text = render_markdown(lab_plan())
    assert headings(text)[0] == '## Found and planned'
    assert '## Before → after' not in text
    assert table_rows(text, '`%s`' % PAIR_80)[0] == [
        '`%s`' % PAIR_80, 'active, 3 conn', 'split\\_dns',
        'keeplocal.traffic.split\\_dns on svc-a: svc-a resolves app.example.test through the private resolver, which answers 192.168.1.20']
    assert table_rows(text, '`%s`' % LATENT_B)[0][1:] == ['latent (DNS answers only)', 'local\\_shortcut', 'manual: see Manual advice']
    assert table_rows(text, '`%s`' % SAME_HOST_B)[0][1:3] == ['active, 4 conn; svc-b: nginx → gunicorn (127.0.0.1:8000)', 'unix\\_socket']
    assert 'Not measured: run playbooks/site.yml' in text


def test_measurements_lead_with_before_and_after_per_finding():
    text = render_markdown(lab_plan(), lab_measurements())
    assert headings(text)[0] == '## Before → after'
    assert '## Found and planned' not in text
    assert table_rows(text, '`%s`' % PAIR_80)[0] == [
        '`%s`' % PAIR_80, 'split\\_dns', '1000 → 0', '1.79 → 0.64 ms', '4.27 → 1.64 ms', '192.168.1.1 → 192.168.1.10']
    assert table_rows(text, '`%s`' % PAIR_5432)[0][1:3] == ['local\\_shortcut', '1000 → 0']
    # the same-host pair: loopback conntrack entries, latency through nginx, requests/s, path
    assert table_rows(text, 'svc-b: nginx → gunicorn (127.0.0.1:8000)')[0] == [
        'svc-b: nginx → gunicorn (127.0.0.1:8000)', 'unix\\_socket', '1000 → 0', '3.02 → 2.50 ms', '5.23 → 4.35 ms', '5272 → 6450',
        'direct → unix\\_socket']


@pytest.mark.parametrize('after, applied', [
    (None, 'split\\_dns (not measured after)'),
    ({'p50_ms': 1.7, 'gw_entries_per_1000': 1000}, 'split\\_dns (hairpin remains)'),
    ({'p50_ms': 0.6, 'gw_entries_per_1000': 0}, 'split\\_dns'),
])
def test_fix_applied_says_what_the_after_measurement_shows(after, applied):
    measurements = {'before': {PAIR_80: {'gw_entries_per_1000': 1000}}, 'after': {PAIR_80: after} if after else {}}
    assert table_rows(render_markdown(lab_plan(), measurements), '`%s`' % PAIR_80)[0][1] == applied


def test_measurements_for_unknown_ids_are_still_shown():
    text = render_markdown(lab_plan(), {'after': {'other->203.0.113.9:443/tcp': {'p50_ms': 1.0}}})
    assert table_rows(text, '`other->203.0.113.9:443/tcp`')[0][:4] == ['`other->203.0.113.9:443/tcp`', '-', '- → -', '- → 1.00 ms']


# --- latent findings, manual advice, automatic changes ---------------------------------------------------

def section(markdown, title):
    return markdown.split('## %s' % title, 1)[1].split('\n## ', 1)[0]


def test_latent_findings_and_manual_advice_have_their_own_sections():
    text = render_markdown(lab_plan())
    latent = section(text, 'Latent findings')
    assert [row[0] for row in table_rows(latent, '`%s`' % LATENT_B) + table_rows(latent, '`%s`' % LATENT_C)] == [
        '`%s`' % LATENT_B, '`%s`' % LATENT_C]
    assert PAIR_80 not in latent
    manual = section(text, 'Manual advice')
    assert table_rows(manual, '`%s`' % LATENT_C)[0][1:] == [
        'latent', 'local\\_shortcut', 'svc-c resolves db.example.test to 198.51.100.1 but sent no traffic there yet, so nothing is changed '
        'for it; when it does: svc-c reaches itself through 198.51.100.1:5432: point its client at 127.0.0.1:54321']
    assert PAIR_80 not in manual and SAME_HOST_B not in manual
    automatic = section(text, 'Automatic changes')
    assert table_rows(automatic, '`%s`' % SAME_HOST_B)[0][1:4] == [
        '`keeplocal.traffic.unix_sockets`', 'svc-b', '`{"unix_sockets_pairs": [{"address": "127.0.0.1:8000"}]}`']
    assert LATENT_B not in automatic


def test_sections_say_none_when_empty():
    plan = lab_plan()
    plan['pairs'] = [pair for pair in plan['pairs'] if pair['status'] == 'active']
    text = render_markdown(plan)
    assert section(text, 'Latent findings').strip().endswith('None.')
    assert 'None: every recommendation is automatic.' in section(text, 'Manual advice')


def test_gateways_at_risk_are_findings():
    text = render_markdown(fleet_plan())
    assert table_rows(section(text, 'Found and planned'), '`gateway gw-west`')[0] == [
        '`gateway gw-west`', 'at risk, conntrack 92% full', 'conntrack\\_headroom',
        'keeplocal.traffic.conntrack\\_tuning on gw-west: on gw-west, size nf\\_conntrack\\_max and the hash buckets with '
        'conntrack\\_tuning\'s policy']
    assert table_rows(section(text, 'Automatic changes'), '`gateway gw-west`')[0][3] == '`{}`'
    assert 'gw-east' not in section(text, 'Found and planned')


def test_markdown_tables_are_rectangular():
    for text in (render_markdown(lab_plan()), render_markdown(lab_plan(), lab_measurements()), render_markdown(fleet_plan())):
        for block in re.findall(r'(?:^\|.*\|$\n?)+', text, re.M):
            rows = [re.split(r'(?<!\\)\|', row.strip())[1:-1] for row in block.strip().splitlines()]
            assert len({len(row) for row in rows}) == 1, block[:200]


def test_markdown_escapes_cells():
    text = render_markdown(evil_plan())
    # code spans show their text literally; everywhere else markup is backslash-escaped
    outside_code = re.sub(r'`[^`]*`', '', text)
    assert not re.search(r'(?<!\\)[<>]', outside_code.replace('->', '').replace('→', ''))
    assert '`svc-a\\|<script>alert(1)</script>->198.51.100.1:80/tcp`' in text
    assert 'svc-a\\|\\<script\\>alert(1)\\</script\\>' in text
    assert '\\<b\\>bold\\</b\\> \\| pipe' in text
    row = next(line for line in text.splitlines() if line.startswith('| svc-b | 127.0.0.1:8000'))
    assert len(re.split(r'(?<!\\)\|', row)[1:-1]) == 6


# --- HTML ------------------------------------------------------------------------------------------

def test_html_is_well_formed_and_self_contained():
    for page in (render_html(lab_plan()), render_html(lab_plan(), lab_measurements()), render_html(fleet_plan(), fleet_measurements(fleet_plan()))):
        checker = parse(page)
        assert page.startswith('<!DOCTYPE html>')
        assert '<script' not in page.lower()
        for tag, attrs in checker.tags:
            for name in ('src', 'href'):
                assert name not in attrs or not re.match(r'\s*(https?:|//)', attrs[name]), (tag, attrs)
            assert tag not in ('link', 'img', 'iframe', 'object', 'embed')
        assert not re.search(r'url\(\s*[\'"]?\s*(https?:|//)', page)
        assert '@import' not in page


def test_html_order_outcome_then_diagram_then_latent_and_manual():
    for page, first in ((render_html(lab_plan()), 'found'), (render_html(lab_plan(), lab_measurements()), 'outcome')):
        ids = re.findall(r'<h2 id="([^"]+)"', page)
        assert ids == [first, 'cost', 'flows-section', 'latent', 'manual', 'automatic']


def test_html_tables_and_cards():
    page = render_html(lab_plan(), lab_measurements())
    for table in ('outcome-pairs', 'outcome-same-host', 'latent', 'manual', 'automatic', 'pairs', 'names', 'same-host', 'gateways'):
        assert '<table class="%s">' % table in page
    assert '<td><code>svc-a-&gt;198.51.100.1:80/tcp</code></td><td>split_dns</td><td>1000 → 0</td>' in page
    assert '<code class="input">{&quot;unix_sockets_pairs&quot;: [{&quot;address&quot;: &quot;127.0.0.1:8000&quot;}]}</code>' in page
    for card, value in (('pairs', 2), ('latent', 2), ('automatic', 3), ('manual', 2)):
        assert 'id="card-%s"><b>%d</b>' % (card, value) in page


def test_html_escapes_everything():
    page = render_html(evil_plan(), lab_measurements())
    parse(page)
    assert '<script>' not in page and '<img' not in page and '<b>bold' not in page
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in page
    assert 'onerror=alert(2)' not in page.replace('&lt;img src=x onerror=alert(2)&gt;', '')
    svg_tree(page)


# --- the diagram -----------------------------------------------------------------------------------

def test_diagram_today_draws_the_active_findings_only():
    tree = svg_tree(render_html(lab_plan()))
    assert tree.get('data-state') == 'today'
    hairpins = classes(tree, 'hairpin')
    assert [group.get('data-pair') for group in hairpins] == [PAIR_80, PAIR_5432]
    assert all(len(classes(group, 'hairpin-path')) == 2 for group in hairpins)  # client->gateway->backend
    for path in classes(tree, 'hairpin-path'):
        assert path.get('stroke') == '#d62728'
    assert classes(tree, 'direct') == [] and classes(tree, 'direct-path') == []
    svg_text = ET.tostring(tree, encoding='unicode')
    assert LATENT_B not in svg_text and LATENT_C not in svg_text
    nodes = {kind: [text_of(el.find(SVG_NS + 'text')) for el in classes(tree, 'node-' + kind)] for kind in ('client', 'gateway', 'backend')}
    assert nodes == {'client': ['svc-a'], 'gateway': ['gw'], 'backend': ['svc-b', 'svc-c']}
    xs = {kind: float(classes(tree, 'node-' + kind)[0].find(SVG_NS + 'rect').get('x')) for kind in ('client', 'gateway', 'backend')}
    assert xs['client'] < xs['gateway'] < xs['backend']
    same = classes(tree, 'same-host')
    assert [group.get('data-pair') for group in same] == [SAME_HOST_B]
    assert 'TCP 127.0.0.1:8000 · 4 conn' in text_of(same[0]) and classes(same[0], 'local-path')


def test_diagram_after_remediation_draws_fixed_paths_green():
    tree = svg_tree(render_html(lab_plan(), lab_measurements()))
    assert tree.get('data-state') == 'after'
    assert classes(tree, 'hairpin') == []
    direct = classes(tree, 'direct')
    assert [(group.get('data-pair'), group.get('data-fix')) for group in direct] == [(PAIR_80, 'split_dns'), (PAIR_5432, 'local_shortcut')]
    assert [text_of(el) for el in classes(tree, 'direct-label')] == [
        'split DNS: app.example.test → 192.168.1.20 · gateway entries 1000 → 0 per 1,000 requests',
        'local shortcut: 198.51.100.1:5432 → 192.168.1.30:54321 · gateway entries 1000 → 0 per 1,000 requests']
    same = classes(tree, 'same-host')
    assert 'fixed' in same[0].get('class') and 'Unix socket (measured after)' in text_of(same[0])
    assert all(path.get('stroke') == '#2ca02c' for path in classes(tree, 'direct-path'))


def test_diagram_after_keeps_what_remains_red():
    measurements = lab_measurements()
    measurements['after'][PAIR_5432]['gw_entries_per_1000'] = 1000  # the shortcut did not take
    del measurements['after'][SAME_HOST_B]
    tree = svg_tree(render_html(lab_plan(), measurements))
    assert [group.get('data-pair') for group in classes(tree, 'hairpin')] == [PAIR_5432]
    assert [group.get('data-pair') for group in classes(tree, 'direct')] == [PAIR_80]
    assert 'fixed' not in classes(tree, 'same-host')[0].get('class')
    assert '1 of 2 active pair(s) fixed, 1 still through a gateway; 0 of 1 same-host pair(s) on a Unix socket' in text_of(classes(tree, 'state')[0])


def test_fleet_diagram_after_remediation():
    plan = fleet_plan()
    measurements = fleet_measurements(plan)
    tree = svg_tree(render_html(plan, measurements))
    active = [pair['id'] for pair in plan['pairs'] if pair['status'] == 'active']
    fixed = [pair_id for pair_id in active if pair_id in measurements['after']]
    drawn_direct = [group.get('data-pair') for group in classes(tree, 'direct')]
    drawn_hairpin = [group.get('data-pair') for group in classes(tree, 'hairpin')]
    assert sorted(drawn_direct) == sorted(fixed) and fixed
    assert sorted(drawn_hairpin) == sorted(set(active) - set(fixed))
    # gateways: each one once, the one at risk says so
    gateways = [[text_of(text) for text in group.iter(SVG_NS + 'text')] for group in classes(tree, 'node-gateway')]
    assert [lines[0] for lines in gateways] == ['gw-east', 'gw-west']
    assert gateways[1][2] == 'AT RISK: 92% full'


def test_empty_plan():
    page = render_html(EMPTY_PLAN)
    parse(page)
    assert 'No active hairpin and no same-host TCP found.' in page
    assert 'Nothing to fix: no hairpin, no same-host TCP, no gateway at risk.' in page


def test_pairs_without_an_observed_gateway_or_backend_are_drawn():
    plan = lab_plan()
    pair = plan['pairs'][0]
    pair.update(gateway=None, backend={'host': None, 'ip': None, 'port': None}, relation=None, fix=None,
                recommendation={'mode': 'manual', 'role': None, 'host': None, 'input': None, 'change': 'pass forwards='})
    tree = ET.fromstring(render_svg(plan))
    nodes = {kind: [[text_of(text) for text in el.iter(SVG_NS + 'text')] for el in classes(tree, 'node-' + kind)] for kind in ('gateway', 'backend')}
    assert [lines[0] for lines in nodes['gateway']] == ['NAT (not observed)', 'gw']
    assert nodes['backend'] == [['unknown backend', 'behind 198.51.100.1:80/tcp'], ['svc-c', '192.168.1.30', 'port 54321']]


# --- the layout, with the renderer's own (generous) text widths; test_report_html_browser checks it in Chromium

def estimated_text_boxes(tree):
    boxes = []
    for element in tree.iter(SVG_NS + 'text'):
        size = float(element.get('font-size'))
        width = _text_width(text_of(element), size, element.get('font-weight') == 'bold')
        x = float(element.get('x')) - {'start': 0, 'middle': width / 2, 'end': width}[element.get('text-anchor', 'start')]
        boxes.append((text_of(element), x, float(element.get('y')) - 0.93 * size, width, 1.17 * size))
    return boxes


@pytest.mark.parametrize('plan, measurements', [
    (lab_plan(), None), (lab_plan(), lab_measurements()), (fleet_plan(), None), (fleet_plan(), fleet_measurements(fleet_plan()))])
def test_estimated_text_boxes_never_overlap(plan, measurements):
    tree = ET.fromstring(render_svg(plan, measurements))
    boxes = estimated_text_boxes(tree)
    assert len(boxes) > 15
    width = float(tree.get('width'))
    for index, (text, x, y, w, h) in enumerate(boxes):
        assert 0 <= x and x + w <= width, text
        for other, x2, y2, w2, h2 in boxes[index + 1:]:
            assert min(x + w, x2 + w2) <= max(x, x2) or min(y + h, y2 + h2) <= max(y, y2), (text, other)


def test_fit_shortens_to_the_width_given():
    long_name = 'batch-worker-07.eu-central-1.compute.internal'
    short = _fit(long_name, 180, 14, bold=True)
    assert short.endswith('…') and long_name.startswith(short[:-1])
    assert _text_width(short, 14, bold=True) <= 180 < _text_width(long_name, 14, bold=True)
    assert _fit('svc-a', 180, 14) == 'svc-a'


# --- input checks ----------------------------------------------------------------------------------

def plan_with(**changes):
    plan = lab_plan()
    for path, value in changes.items():
        kind, index, key = path.split('__')
        plan[kind][int(index)][key] = value
    return plan


@pytest.mark.parametrize('plan, message', [
    (None, 'the report needs the plan'),
    ({'version': 1, 'pairs': []}, 'unsupported plan version 1: this report renders plan version 2'),
    ({'version': 2, 'pairs': {}}, 'plan.pairs must be a list'),
    (plan_with(pairs__0__status=None), 'plan.pairs[%s].status must be active or latent, got None' % PAIR_80),
    (plan_with(same_host__0__recommendation=None), 'plan.same_host[%s].recommendation must be a dict with mode automatic or manual' % SAME_HOST_B),
    (plan_with(pairs__1__recommendation={'mode': 'maybe'}), 'plan.pairs[%s].recommendation must be a dict' % PAIR_5432),
    (plan_with(gateways__0__fix='conntrack_headroom'), 'plan.gateways[gw].recommendation must be a dict'),
])
@pytest.mark.parametrize('render', [render_markdown, render_html])
def test_bad_plan(render, plan, message):
    with pytest.raises(ReportError) as exc:
        render(plan)
    assert message in str(exc.value)


@pytest.mark.parametrize('measurements, message', [
    ([], 'measurements must be a dict'),
    ({'before': []}, 'measurements.before must be a dict'),
    ({'after': {PAIR_80: 3}}, 'measurements.after[%s] must be a dict' % PAIR_80),
    ({'before': {PAIR_80: {'p50_ms': 'fast'}}}, 'measurements.before[%s].p50_ms must be a number' % PAIR_80),
    ({'before': {PAIR_80: {'gw_entries_per_1000': True}}}, 'gw_entries_per_1000 must be a number'),
    ({'after': {SAME_HOST_B: {'loopback_entries_per_1000': '0'}}}, 'loopback_entries_per_1000 must be a number'),
])
def test_bad_measurements(measurements, message):
    with pytest.raises(ReportError) as exc:
        check_measurements(measurements)
    assert message in str(exc.value)


def test_console_outcome_one_line_per_measured_finding():
    lines = render_outcome_lines(lab_plan(), lab_measurements())
    assert lines[0].startswith('2 hairpin pair(s)') or 'hairpin pair(s)' in lines[0]
    web = [line for line in lines if line.startswith(PAIR_80 + ':')]
    assert len(web) == 1
    assert '1,000' in web[0] and '1000' in web[0] and '192.168.1.1' in web[0] and '192.168.1.10' in web[0]
    same = [line for line in lines if line.startswith(SAME_HOST_B)]
    assert len(same) == 1 and 'unix_socket' in same[0]
    assert lines[-1].startswith('2 manual recommendation(s)')


def test_console_outcome_without_measurements_says_what_will_be_done():
    lines = render_outcome_lines(lab_plan())
    assert any(PAIR_80 in line and 'keeplocal.traffic.split_dns on svc-a' in line for line in lines)


# --- what the hairpins cost ------------------------------------------------------------------------

HOUR = 3600
GB = 10 ** 9


def watch_results():
    """Hairpin watch results as the collector writes them: gw counted the lab's port-80 pair with
    conntrack accounting; svc-a counted its own calls (port 80 and 5432) with its sockets; svc-b has
    no collector (null)."""
    return {
        'gw': {'conntrack': {'available': True, 'accounting': True}, 'cost': {'pairs': [
            {'client': '192.168.1.10', 'public': '198.51.100.1:80/tcp', 'backend': '192.168.1.20:80', 'counted_by': 'gateway',
             'bytes': 3 * GB, 'window_seconds': HOUR}]}},
        'svc-a': {'conntrack': {'available': False}, 'client_bytes': {'byte_counters': True, 'msg': None}, 'cost': {'pairs': [
            {'client': '192.168.1.10', 'public': '198.51.100.1:80/tcp', 'backend': 'unknown', 'counted_by': 'client',
             'bytes': 2900000000, 'window_seconds': HOUR},
            {'client': '192.168.1.10', 'public': '198.51.100.1:5432/tcp', 'backend': 'unknown', 'counted_by': 'client',
             'bytes': 73 * 10 ** 7, 'window_seconds': 730 * HOUR}]}},
        'svc-b': None,
    }


def test_cost_rows_per_pair_and_host_with_the_plan_ids_and_the_collector_arithmetic():
    cost = cost_section(lab_plan(), watch_results())
    assert [(row['pair'], row['counted_by'], row['host'], row['bytes'], row['gb_per_month'], row['cost_per_month'])
            for row in cost['rows']] == [
        (PAIR_80, 'gateway', 'gw', 3 * GB, 2190.0, 98.55),
        (PAIR_80, 'client', 'svc-a', 2900000000, 2117.0, 95.27),
        (PAIR_5432, 'client', 'svc-a', 73 * 10 ** 7, 0.73, 0.03),
    ]
    # The port-80 pair counted on both ends is in the total once, with the gateway's count.
    assert (cost['bytes'], cost['gb_per_month'], cost['cost_per_month']) == (3 * GB + 73 * 10 ** 7, 2190.73, 98.58)
    assert (cost['price_per_gb'], cost['currency'], cost['default_price']) == (0.045, 'USD', True)
    assert 'https://aws.amazon.com/vpc/pricing/' in cost['price_source']
    assert cost['notes'] == []


def test_the_report_prices_as_the_collector_does():
    """One arithmetic: the report's row equals the collector's own estimate for the same counters."""
    counters = update_counters({}, {'e': ('192.168.1.10 198.51.100.1:80/tcp 192.168.1.20:80 gateway', 5 * GB)},
                               1767225600.0, top_pairs=5)
    collector = costs(counters, 1767225600.0 + 3540, 60, 0.09, 'EUR')
    cost = cost_section(lab_plan(), {'gw': {'cost': collector}}, price_per_gb=0.09, currency='EUR')
    assert (cost['rows'][0]['gb_per_month'], cost['rows'][0]['cost_per_month']) == \
        (collector['pairs'][0]['gb_per_month'], collector['pairs'][0]['cost_per_month'])


def test_a_price_set_for_the_report_changes_the_money_only():
    default, own = cost_section(lab_plan(), watch_results()), cost_section(lab_plan(), watch_results(), 0.10, 'EUR')
    assert [row['gb_per_month'] for row in own['rows']] == [row['gb_per_month'] for row in default['rows']]
    assert [row['cost_per_month'] for row in own['rows']] == [219.0, 211.7, 0.07]
    assert (own['currency'], own['default_price']) == ('EUR', False)
    assert 'Price: 0.1 EUR per GB (set for this report)' in render_markdown(lab_plan(), None, watch_results(), 0.10, 'EUR')


def test_without_byte_counts_the_report_says_how_to_get_them():
    for watch in (None, {}, {'gw': None}):
        cost = cost_section(lab_plan(), watch)
        assert cost['rows'] == [] and len(cost['notes']) == 1
        assert 'keeplocal.traffic.hairpin_watch' in cost['notes'][0]
        assert 'net.netfilter.nf_conntrack_acct=1' in cost['notes'][0]
    markdown = render_markdown(lab_plan())
    section = markdown[markdown.index('## What the hairpins cost'):markdown.index('## Latent findings')]
    assert '| Pair |' not in section and 'No byte counts' in section


GW_ACCOUNTING_OFF = (
    'gw: conntrack accounting is off (net.netfilter.nf_conntrack_acct=0), so the bytes of the hairpins through this gateway '
    'cannot be counted there. Turn it on with the conntrack_tuning role (conntrack_tuning_accounting: true: set, read back '
    'and kept in /etc/sysctl.d), or by hand with sysctl -w net.netfilter.nf_conntrack_acct=1 and the same line in '
    '/etc/sysctl.d; it counts connections opened afterwards.')


def plan_with_gw_accounting(value):
    plan = lab_plan()
    for gateway in plan['gateways']:
        gateway['accounting'] = value if gateway['host'] == 'gw' else True
    return plan


def test_a_gateway_with_hairpins_and_accounting_off_in_the_plan_is_said_without_a_collector():
    cost = cost_section(plan_with_gw_accounting(False))
    assert cost['notes'][1:] == [GW_ACCOUNTING_OFF]
    markdown = render_markdown(plan_with_gw_accounting(False))
    section = markdown[markdown.index('## What the hairpins cost'):markdown.index('## Latent findings')]
    assert '- gw: conntrack accounting is off' in section and 'conntrack\\_tuning\\_accounting: true' in section
    page = render_html(plan_with_gw_accounting(False))
    cost_html = page[page.index('<h2 id="cost">'):page.index('<h2 id="flows-section">')]
    assert '<p class="note">gw: conntrack accounting is off' in cost_html


def test_accounting_off_in_the_plan_and_the_collector_is_said_once():
    watch = watch_results()
    watch['gw']['conntrack']['accounting'] = False
    assert cost_section(plan_with_gw_accounting(False), watch)['notes'] == [GW_ACCOUNTING_OFF]


@pytest.mark.parametrize('value', [True, None])
def test_accounting_on_or_unknown_is_not_said(value):
    assert cost_section(plan_with_gw_accounting(value), watch_results())['notes'] == []


def test_accounting_off_without_hairpins_is_not_said():
    plan = plan_with_gw_accounting(False)
    plan['gateways'][0]['hairpin_entries'] = 0
    for pair in plan['pairs']:
        pair['gateway'] = None
    assert cost_section(plan, watch_results())['notes'] == []
    # an active pair through it is a hairpin there, whatever the table held when detection ran
    plan['pairs'][0]['gateway'] = 'gw'
    plan['pairs'][0]['status'] = 'active'
    assert cost_section(plan, watch_results())['notes'] == [GW_ACCOUNTING_OFF]


def test_accounting_off_and_missing_socket_counters_are_said_with_the_fix():
    watch = watch_results()
    watch['gw']['conntrack']['accounting'] = False
    watch['gw']['cost']['pairs'] = []
    watch['svc-a']['client_bytes'] = {'byte_counters': False, 'msg': 'sock_diag: no NETLINK_SOCK_DIAG socket'}
    watch['svc-a']['cost']['pairs'] = watch['svc-a']['cost']['pairs'][1:]
    cost = cost_section(lab_plan(), watch)
    assert cost['notes'] == [
        GW_ACCOUNTING_OFF,
        'svc-a: its own calls to the public addresses are not counted: sock_diag: no NETLINK_SOCK_DIAG socket',
        'Active pairs without a byte count (no collector result for their gateway or client): %s.' % PAIR_80,
    ]


def test_the_cost_section_in_markdown_and_html():
    markdown = render_markdown(lab_plan(), lab_measurements(), watch_results())
    assert headings(markdown)[:2] == ['## Before \u2192 after', '## What the hairpins cost']
    assert [row for row in table_rows(markdown, '`%s`' % PAIR_5432) if row[1].startswith('client')] == [[
        '`%s`' % PAIR_5432, 'client (svc-a)', '192.168.1.10', '198.51.100.1:5432/tcp', 'unknown', '730,000,000',
        '30.4 days', '0.730', '0.03 USD']]
    assert 'Total: 2190.730 GB per month, 98.58 USD per month' in markdown
    page = render_html(lab_plan(), lab_measurements(), watch_results())
    parse(page)
    assert '<table class="cost">' in page
    assert '<td>gateway (gw)</td><td>192.168.1.10</td><td>198.51.100.1:80/tcp</td><td>192.168.1.20:80</td>' \
           '<td>3,000,000,000</td><td>60 min</td><td>2190.000</td><td>98.55 USD</td>' in page


def test_cost_labels_are_escaped():
    watch = watch_results()
    watch['gw']['cost']['pairs'][0]['client'] = '<script>x</script>|'
    page = render_html(lab_plan(), None, watch)
    parse(page)
    assert '<script>' not in page
    markdown = render_markdown(lab_plan(), None, watch)
    assert '\\<script\\>x\\</script\\>\\|' in markdown


@pytest.mark.parametrize('watch, price, currency, message', [
    ([], None, None, 'watch must be a dict {host: hairpin watch result}'),
    ({'gw': {'cost': {}}}, None, None, 'watch[gw] must be a hairpin watch result with cost.pairs (a list)'),
    ({'gw': {'cost': {'pairs': [{'bytes': -1, 'window_seconds': 60}]}}}, None, None,
     'watch[gw].cost.pairs[0].bytes must be a positive number, got -1'),
    ({'gw': {'cost': {'pairs': [{'bytes': 1, 'window_seconds': 0}]}}}, None, None,
     'watch[gw].cost.pairs[0].window_seconds must be a positive number, got 0'),
    (None, -0.01, None, 'price_per_gb must be a number, 0 or more'),
    (None, True, None, 'price_per_gb must be a number, 0 or more'),
    (None, 0.045, '', 'currency must be a currency code such as USD'),
])
@pytest.mark.parametrize('render', [render_markdown, render_html])
def test_bad_cost_input_is_refused_naming_it(render, watch, price, currency, message):
    with pytest.raises(ReportError) as exc:
        render(lab_plan(), None, watch, price, currency)
    assert message in str(exc.value)
