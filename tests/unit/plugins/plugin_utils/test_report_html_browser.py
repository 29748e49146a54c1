# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open the HTML report in headless Chromium with no network and check what it drew.

The screenshots are decoded with the stdlib (zlib) and must show the diagram: red hairpin arrows
today, green direct paths after remediation. A probe (added to a copy of the page; the report has no
script) reads where Chromium put every SVG text at 1280 px: no two labels may overlap, none may leave
the SVG or cross a box border, on the lab's plan and on a generated plan with 36 pairs, today and
after remediation. Skipped only when no Chromium binary exists. Also runnable as a script to refresh
docs/example-report.{html,md,png} (the lab after site.yml):

    . scripts/env.sh && PYTHONPATH=$KEEPLOCAL_COLLECTIONS python tests/unit/plugins/plugin_utils/test_report_html_browser.py docs
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from html.parser import HTMLParser

import pytest

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._report import (
    COLOR_DIRECT,
    COLOR_HAIRPIN,
    render_html,
    render_markdown,
)
from ansible_collections.keeplocal.traffic.tests.unit.plugins.plugin_utils.report_fixture import (
    fleet_measurements,
    fleet_plan,
    lab_measurements,
    lab_plan,
)

WIDTH, HEIGHT = 1280, 900
CHROMIUM_NAMES = ('chromium', 'chromium-browser', 'google-chrome', 'headless_shell')


def find_chromium():
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return '/usr/bin/chromium' if os.access('/usr/bin/chromium', os.X_OK) else None


def offline_prefix():
    """Run the browser in an empty network namespace when we may (root + unshare): no network at all."""
    unshare = shutil.which('unshare')
    if unshare and os.geteuid() == 0 and subprocess.run([unshare, '-n', 'true'], check=False).returncode == 0:
        return [unshare, '-n']
    return []


def run_chromium(chromium, page, *args, height=HEIGHT):
    profile = tempfile.mkdtemp(prefix='keeplocal-chromium-')
    command = offline_prefix() + [
        chromium, '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run',
        '--disable-background-networking', '--disable-sync', '--disable-extensions', '--user-data-dir=' + profile,
        # belt and braces besides the empty namespace: no proxy, no name resolution
        '--proxy-server=http://127.0.0.1:9', '--host-resolver-rules=MAP * ~NOTFOUND',
        '--window-size=%d,%d' % (WIDTH, height),
    ] + list(args) + ['file://' + page]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


# Added to a copy of the page only (the report itself has no script): the boxes of every SVG text
# and every box rectangle as Chromium laid them out, relative to the SVG, in CSS pixels.
LAYOUT_PROBE = """<script>
(function () {
  var svg = document.querySelector('svg');
  var frame = svg.getBoundingClientRect();
  function box(el) {
    var r = el.getBoundingClientRect();
    return [r.left - frame.left, r.top - frame.top, r.width, r.height];
  }
  var out = {frame: [frame.left, frame.top, frame.width, frame.height], texts: [], boxes: []};
  svg.querySelectorAll('text').forEach(function (el) { out.texts.push({text: el.textContent, box: box(el)}); });
  svg.querySelectorAll('rect.box').forEach(function (el) { out.boxes.push(box(el)); });
  var pre = document.createElement('pre');
  pre.id = 'svg-layout';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def svg_layout(chromium, directory, page_html):
    """The SVG's layout in Chromium at WIDTH px: {frame, texts: [{text, box}], boxes: [box]}, box = [x, y, w, h]."""
    probe = os.path.join(directory, 'layout-probe.html')
    with open(probe, 'w', encoding='utf-8') as handle:
        handle.write(page_html.replace('</body>', LAYOUT_PROBE + '</body>'))
    result = run_chromium(chromium, probe, '--dump-dom')
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="svg-layout">(.*?)</pre>', result.stdout, re.S)
    assert found, 'the layout probe did not run: %s' % result.stdout[-500:]
    return json.loads(html.unescape(found.group(1)))


def _intersection(first, second):
    """Width and height of the overlap of two [x, y, w, h] boxes (0 when apart)."""
    width = min(first[0] + first[2], second[0] + second[2]) - max(first[0], second[0])
    height = min(first[1] + first[3], second[1] + second[3]) - max(first[1], second[1])
    return max(width, 0.0), max(height, 0.0)


def _inside(inner, outer, slack=0.5):
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack
            and inner[0] + inner[2] <= outer[0] + outer[2] + slack and inner[1] + inner[3] <= outer[1] + outer[3] + slack)


def layout_problems(layout, slack=0.5):
    """Texts that overlap each other, leave the SVG or cross the border of a box (inside or outside it, never across)."""
    problems = []
    texts = [item for item in layout['texts'] if item['box'][2] > 0 and item['text'].strip()]
    svg_box = [0, 0, layout['frame'][2], layout['frame'][3]]
    for index, item in enumerate(texts):
        if not _inside(item['box'], svg_box, slack):
            problems.append('outside the SVG: %r %s' % (item['text'], item['box']))
        for other in texts[index + 1:]:
            width, height = _intersection(item['box'], other['box'])
            if width > slack and height > slack:
                problems.append('overlap: %r %s and %r %s' % (item['text'], item['box'], other['text'], other['box']))
        for box in layout['boxes']:
            width, height = _intersection(item['box'], box)
            if width > slack and height > slack and not _inside(item['box'], box, slack):
                problems.append('crosses a box border: %r %s, box %s' % (item['text'], item['box'], box))
    return problems


def read_png(path):
    """(width, height, rows of (r, g, b) tuples) for an 8-bit RGB/RGBA non-interlaced PNG."""
    with open(path, 'rb') as handle:
        data = handle.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat.append(body)
        pos += 12 + length
    width, height, depth, color, dummy, dummy, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(b''.join(idat))
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b = previous[i]
                c = previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, channels)])
        previous = line
    return width, height, rows


def near(pixel, color, tolerance=40):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, color))


def rgb(hex_color):
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))


def write_page(directory, name, page):
    path = os.path.abspath(os.path.join(directory, name))
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(page)
    return path


def render_lab_report(out_dir, chromium=None):
    """Write example-report.html/.md (and .png when a browser exists): the lab's report after site.yml."""
    plan, measurements = lab_plan(), lab_measurements()
    page = write_page(out_dir, 'example-report.html', render_html(plan, measurements))
    write_page(out_dir, 'example-report.md', render_markdown(plan, measurements))
    shot = os.path.join(out_dir, 'example-report.png')
    result = None
    if chromium:
        result = run_chromium(chromium, page, '--screenshot=' + shot)
    return page, shot, result


class DomCounter(HTMLParser):

    def __init__(self):
        super().__init__()
        self.classes = {}
        self.tags = {}

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name in (dict(attrs).get('class') or '').split():
            self.classes[name] = self.classes.get(name, 0) + 1

    handle_startendtag = handle_starttag


@pytest.fixture(scope='module')
def chromium():
    path = find_chromium()
    if path is None:
        pytest.skip('no Chromium binary (apt-get install chromium) to render the report')
    return path


def diagram_colors(chromium, directory, page_html, height=1400):
    """Screenshot the page and count, below the SVG's legend row, the pixels near the hairpin and the direct path color."""
    layout = svg_layout(chromium, directory, page_html)
    page = write_page(directory, 'page.html', page_html)
    shot = os.path.join(directory, 'page.png')
    result = run_chromium(chromium, page, '--screenshot=' + shot, height=height)
    assert result.returncode == 0, result.stderr[-2000:]
    width, shot_height, rows = read_png(shot)
    assert (width, shot_height) == (WIDTH, height)
    left, top, svg_width, svg_height = [int(value) for value in layout['frame']]
    assert top + svg_height <= height, 'the diagram does not fit the screenshot'
    counts = {'red': 0, 'green': 0}
    red_columns = []
    for y in range(top + 30, top + svg_height):
        for x in range(left, left + svg_width):
            pixel = rows[y][x]
            if near(pixel, rgb(COLOR_HAIRPIN), 30):
                counts['red'] += 1
                red_columns.append(x - left)
            elif near(pixel, rgb(COLOR_DIRECT), 30):
                counts['green'] += 1
    return counts, red_columns


def test_screenshot_shows_todays_hairpins(chromium, tmp_path):
    counts, red_columns = diagram_colors(chromium, str(tmp_path), render_html(lab_plan()))
    # two hairpin pairs: four 2.5 px paths with arrowheads; green only in the backend boxes' borders
    assert counts['red'] > 1500, counts
    assert counts['green'] < 500, counts
    # the red arrows run from the client column to the backend column
    assert min(red_columns) < 300 and max(red_columns) > 900


def test_screenshot_after_remediation_shows_fixed_paths(chromium, tmp_path):
    counts, dummy = diagram_colors(chromium, str(tmp_path), render_html(lab_plan(), lab_measurements()))
    # both pairs and the same-host pair fixed: green paths, no red left below the legend
    assert counts['green'] > 1500, counts
    assert counts['red'] < 50, counts


def test_browser_dom_has_the_svg(chromium, tmp_path):
    page = write_page(str(tmp_path), 'report.html', render_html(lab_plan()))
    result = run_chromium(chromium, page, '--dump-dom')
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    counter = DomCounter()
    counter.feed(dom)
    assert counter.tags.get('svg') == 1
    assert counter.classes.get('hairpin-path') == 4
    assert counter.classes.get('direct-path') is None
    assert counter.classes.get('local-path') == 1
    assert counter.classes.get('node') == 4
    # found and planned, latent, manual, automatic, pairs, names, same-host, conntrack
    assert counter.tags.get('table') == 8
    assert not re.search(r'<(script|link|img|iframe)\b', dom)


@pytest.mark.parametrize('name, plan, measurements', [
    ('lab today', lab_plan(), None),
    ('lab after', lab_plan(), lab_measurements()),
    ('36 pairs today', fleet_plan(), None),
    ('36 pairs after', fleet_plan(), fleet_measurements(fleet_plan())),
])
def test_labels_never_overlap(chromium, tmp_path, name, plan, measurements):
    page = render_html(plan, measurements)
    layout = svg_layout(chromium, str(tmp_path), page)
    svg = re.search(r'<svg\b.*?</svg>', page, re.S).group(0)
    assert len(layout['texts']) == svg.count('<text ') > 15, name
    assert layout['frame'][2] == 1200, 'the diagram is drawn at its own width, not scaled'
    assert layout_problems(layout) == [], name


if __name__ == '__main__':
    OUT = sys.argv[1] if len(sys.argv) > 1 else '.'
    RESULT = render_lab_report(OUT, find_chromium())[2]
    if RESULT is not None and RESULT.returncode != 0:
        sys.stderr.write(RESULT.stderr)
        sys.exit(1)
