# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Markdown and HTML reports of the lab's plan: content, escaping, self-containment, measurements."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import build_plan
from ansible_collections.keeplocal.traffic.plugins.plugin_utils._report import (
    ReportError,
    check_measurements,
    render_html,
    render_markdown,
    render_svg,
)
from ansible_collections.keeplocal.traffic.tests.unit.plugins.plugin_utils.lab_fixture import (
    LAB_NAME_PORTS,
    PAIR_80,
    PAIR_5432,
    SAME_HOST_B,
    lab_facts,
)

SVG_NS = '{http://www.w3.org/2000/svg}'
MEASUREMENTS = {
    'before': {
        PAIR_80: {'p50_ms': 0.84, 'p99_ms': 2.5, 'gw_entries_per_1000': 1000, 'backend_saw': '192.168.1.1', 'requests': 1000},
        SAME_HOST_B: {'p50_ms': 1.2, 'p99_ms': 4.0, 'gw_entries_per_1000': 0, 'backend_saw': '127.0.0.1', 'rps': 2600.0},
    },
    'after': {
        PAIR_80: {'p50_ms': 0.42, 'p99_ms': 1.25, 'gw_entries_per_1000': 0, 'backend_saw': '192.168.1.10', 'requests': 1000},
    },
}
VOID = {'meta', 'br', 'hr', 'img', 'input', 'link'}


def lab_plan():
    return build_plan(lab_facts(), name_ports=LAB_NAME_PORTS)


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


# --- Markdown --------------------------------------------------------------------------------------

def test_markdown_lab_tables():
    text = render_markdown(lab_plan())
    lines = text.splitlines()
    assert lines[0] == '# Hairpin traffic report'
    for heading in ('## Hairpin pairs', '## DNS names answering with own public addresses', '## Same-host TCP (Unix-socket candidates)',
                    '## Conntrack health', '## Before / after'):
        assert heading in lines
    row_80 = next(line for line in lines if line.startswith('| `%s`' % PAIR_80))
    cells = [cell.strip() for cell in row_80.strip('|').split(' | ')]
    assert cells[:9] == ['`svc-a->198.51.100.1:80/tcp`', 'svc-a (192.168.1.10) \\[curl\\]', '198.51.100.1:80/tcp',
                         'svc-b (192.168.1.20:80)', 'gw', 'gateway\\_conntrack, client\\_socket, dns\\_answer', '3',
                         'same\\_network', '`split_dns`']
    row_5432 = next(line for line in lines if line.startswith('| `%s`' % PAIR_5432))
    assert '| same\\_network, port translated | `local_shortcut` |' in row_5432
    assert '| svc-b | 127.0.0.1:8000 | nginx → gunicorn | 4 | `unix_socket` |' in text
    assert '| gw | yes | 57 | 262144 | 262144 | 0.022% | 0 | 0 | 0 | 5 (8.8%) | no | - |' in text
    assert 'Not measured yet' in text
    # every table row has as many cells as its header
    for block in re.findall(r'(?:^\|.*\|$\n?)+', text, re.M):
        rows = [re.split(r'(?<!\\)\|', row.strip())[1:-1] for row in block.strip().splitlines()]
        assert len({len(row) for row in rows}) == 1


def test_markdown_measurements():
    text = render_markdown(lab_plan(), MEASUREMENTS)
    assert ('| `%s` | 0.84 ms | 0.42 ms | 2.50 ms | 1.25 ms | 0.50× | 1000 | 0 | 192.168.1.1 | 192.168.1.10 |' % PAIR_80) in text
    assert ('| `%s` | 1.20 ms | - | 4.00 ms | - | - | 0 | - | 127.0.0.1 | - |' % SAME_HOST_B) in text
    assert 'Not measured yet' not in text


def evil_plan():
    facts = lab_facts()
    facts['svc-a|<script>alert(1)</script>'] = facts.pop('svc-a')
    facts['svc-b']['outbound_flows']['same_host'][0]['client_process'] = '<img src=x onerror=alert(2)>'
    return build_plan(facts)


def test_markdown_escapes_cells():
    text = render_markdown(evil_plan())
    # code spans show their text literally; everywhere else markup is backslash-escaped
    outside_code = re.sub(r'`[^`]*`', '', text)
    assert not re.search(r'(?<!\\)[<>]', outside_code.replace('->', '').replace('→', ''))
    assert '`svc-a\\|<script>alert(1)</script>->198.51.100.1:80/tcp`' in text
    assert 'svc-a\\|\\<script\\>alert(1)\\</script\\>' in text
    row = next(line for line in text.splitlines() if line.startswith('| svc-b | 127.0.0.1:8000'))
    assert len(re.split(r'(?<!\\)\|', row)[1:-1]) == 6


# --- HTML ------------------------------------------------------------------------------------------

def test_html_is_well_formed_and_self_contained():
    page = render_html(lab_plan(), MEASUREMENTS)
    checker = parse(page)
    assert page.startswith('<!DOCTYPE html>')
    assert '<script' not in page.lower()
    for tag, attrs in checker.tags:
        for name in ('src', 'href'):
            assert name not in attrs or not re.match(r'\s*(https?:|//)', attrs[name]), (tag, attrs)
        assert tag not in ('link', 'img', 'iframe', 'object', 'embed')
    assert not re.search(r'url\(\s*[\'"]?\s*(https?:|//)', page)
    assert '@import' not in page


def test_html_diagram_lab():
    page = render_html(lab_plan(), MEASUREMENTS)
    tree = svg_tree(page)
    hairpins = classes(tree, 'hairpin')
    assert [group.get('data-pair') for group in hairpins] == [PAIR_80, PAIR_5432]
    assert all(len(classes(group, 'hairpin-path')) == 2 for group in hairpins)  # client->gateway->backend
    direct = classes(tree, 'direct')
    assert [(group.get('data-pair'), group.get('data-fix')) for group in direct] == [(PAIR_80, 'split_dns'), (PAIR_5432, 'local_shortcut')]
    for path in classes(tree, 'direct-path'):
        assert path.get('stroke-dasharray')
    for path in classes(tree, 'hairpin-path'):
        assert path.get('stroke') == '#d62728' and not path.get('stroke-dasharray')
    labels = [''.join(el.itertext()) for el in classes(tree, 'direct-label')]
    assert labels == ['split DNS: app.example.test → 192.168.1.20 (after fix)',
                      'local shortcut: 198.51.100.1:5432 → 192.168.1.30:54321 (recommended)']
    nodes = {kind: [''.join(el.find(SVG_NS + 'text').itertext()) for el in classes(tree, 'node-' + kind)]
             for kind in ('client', 'gateway', 'backend')}
    assert nodes == {'client': ['svc-a'], 'gateway': ['gw'], 'backend': ['svc-b', 'svc-c']}
    same = classes(tree, 'same-host')
    assert [group.get('data-pair') for group in same] == [SAME_HOST_B]
    # clients left of the gateway, the gateway left of the backends
    xs = {kind: float(classes(tree, 'node-' + kind)[0].find(SVG_NS + 'rect').get('x')) for kind in ('client', 'gateway', 'backend')}
    assert xs['client'] < xs['gateway'] < xs['backend']


def test_html_tables_lab():
    page = render_html(lab_plan(), MEASUREMENTS)
    for table in ('pairs', 'names', 'same-host', 'gateways', 'measurements'):
        assert '<table class="%s">' % table in page
    assert '<td><code>svc-a-&gt;198.51.100.1:80/tcp</code></td>' in page
    assert '<span class="fix local_shortcut">local_shortcut</span>' in page
    assert '<td>0.84 ms</td><td>0.42 ms</td>' in page
    assert 'id="card-pairs"><b>2</b>' in page


def test_html_escapes_everything():
    page = render_html(evil_plan())
    parse(page)
    assert '<script>' not in page and '<img' not in page
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in page
    assert 'onerror=alert(2)' not in page.replace('&lt;img src=x onerror=alert(2)&gt;', '')
    svg_tree(page)


def test_html_empty_plan():
    page = render_html(build_plan({}))
    parse(page)
    assert 'No hairpin traffic and no same-host TCP found.' in page
    assert 'No hairpin pair found.' in page


def test_unknown_backend_pairs_are_drawn_without_a_direct_path():
    facts = lab_facts()
    del facts['gw']
    tree = ET.fromstring(render_svg(build_plan(facts, public_addresses=['198.51.100.1'])))
    assert len(classes(tree, 'hairpin')) == 3
    assert classes(tree, 'direct') == []
    gateways = [''.join(el.find(SVG_NS + 'text').itertext()) for el in classes(tree, 'node-gateway')]
    assert gateways == ['NAT (not observed)']


def test_dns_only_pairs_are_faint():
    facts = lab_facts()
    facts['svc-c']['dns_answers'] = {'resolvers': [], 'answers': [
        {'name': 'db.example.test', 'addresses': ['198.51.100.1'], 'public_match': True, 'private': False}]}
    tree = ET.fromstring(render_svg(build_plan(facts, name_ports=LAB_NAME_PORTS)))
    group = next(g for g in classes(tree, 'hairpin') if g.get('data-pair') == 'svc-c->198.51.100.1:5432/tcp')
    assert all(path.get('stroke-opacity') == '0.45' for path in classes(group, 'hairpin-path'))
    assert 'DNS only' in ''.join(group.itertext())


# --- input checks ----------------------------------------------------------------------------------

@pytest.mark.parametrize('plan, message', [
    (None, 'the report needs the plan'),
    ({'version': 2, 'pairs': []}, 'unsupported plan version 2'),
    ({'version': 1, 'pairs': {}}, 'plan.pairs must be a list'),
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
])
def test_bad_measurements(measurements, message):
    with pytest.raises(ReportError) as exc:
        check_measurements(measurements)
    assert message in str(exc.value)


def test_measurements_for_unknown_ids_are_still_shown():
    text = render_markdown(lab_plan(), {'after': {'other->203.0.113.9:443/tcp': {'p50_ms': 1.0}}})
    assert '| `other->203.0.113.9:443/tcp` | - | 1.00 ms |' in text
