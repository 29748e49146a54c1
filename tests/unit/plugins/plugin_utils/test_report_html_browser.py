# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open the lab's HTML report in headless Chromium with no network and check what it drew.

The screenshot is decoded with the stdlib (zlib) and must show the diagram: red hairpin arrows, green
dashed direct paths, the node boxes. Skipped only when no Chromium binary exists. Also runnable as a
script to refresh docs/example-report.{html,md,png}:

    . scripts/env.sh && PYTHONPATH=$KEEPLOCAL_COLLECTIONS python tests/unit/plugins/plugin_utils/test_report_html_browser.py docs
"""

from __future__ import annotations

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

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import build_plan
from ansible_collections.keeplocal.traffic.plugins.plugin_utils._report import (
    COLOR_DIRECT,
    COLOR_HAIRPIN,
    render_html,
    render_markdown,
)
from ansible_collections.keeplocal.traffic.tests.unit.plugins.plugin_utils.lab_fixture import LAB_NAME_PORTS, lab_facts

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


def run_chromium(chromium, page, *args):
    profile = tempfile.mkdtemp(prefix='keeplocal-chromium-')
    command = offline_prefix() + [
        chromium, '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run',
        '--disable-background-networking', '--disable-sync', '--disable-extensions', '--user-data-dir=' + profile,
        # belt and braces besides the empty namespace: no proxy, no name resolution
        '--proxy-server=http://127.0.0.1:9', '--host-resolver-rules=MAP * ~NOTFOUND',
        '--window-size=%d,%d' % (WIDTH, HEIGHT),
    ] + list(args) + ['file://' + page]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


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


def render_lab_report(out_dir, chromium=None):
    """Write example-report.html/.md (and .png when a browser exists) for the lab's facts."""
    plan = build_plan(lab_facts(), name_ports=LAB_NAME_PORTS)
    page = os.path.abspath(os.path.join(out_dir, 'example-report.html'))
    with open(page, 'w', encoding='utf-8') as handle:
        handle.write(render_html(plan))
    with open(os.path.join(out_dir, 'example-report.md'), 'w', encoding='utf-8') as handle:
        handle.write(render_markdown(plan))
    shot = os.path.join(out_dir, 'example-report.png')
    result = None
    if chromium:
        result = run_chromium(chromium, page, '--screenshot=' + shot)
    return plan, page, shot, result


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


def test_screenshot_shows_the_diagram(chromium, tmp_path):
    plan, page, shot, result = render_lab_report(str(tmp_path), chromium)
    assert result.returncode == 0, result.stderr[-2000:]
    assert os.path.getsize(shot) > 10000
    width, height, rows = read_png(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    colors = {}
    for row in rows:
        for pixel in row:
            colors[pixel] = colors.get(pixel, 0) + 1
    assert len(colors) > 200, 'nearly blank screenshot: %d colors' % len(colors)
    background = max(colors, key=colors.get)
    assert near(background, (255, 255, 255), 2)
    red = sum(count for pixel, count in colors.items() if near(pixel, rgb(COLOR_HAIRPIN)))
    green = sum(count for pixel, count in colors.items() if near(pixel, rgb(COLOR_DIRECT)))
    # two hairpin pairs (four 3 px curves plus arrowheads) and three dashed paths inside the first screen
    assert red > 2000, red
    assert green > 1000, green
    # the red arrows sit between the client and backend columns (the diagram, not the text)
    red_columns = [x for row in rows for x, pixel in enumerate(row) if near(pixel, rgb(COLOR_HAIRPIN), 30)]
    assert min(red_columns) < WIDTH // 3 and max(red_columns) > WIDTH // 2
    assert len(plan['pairs']) == 2


def test_browser_dom_has_the_svg(chromium, tmp_path):
    dummy, page, dummy, dummy = render_lab_report(str(tmp_path))
    result = run_chromium(chromium, page, '--dump-dom')
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    counter = DomCounter()
    counter.feed(dom)
    assert counter.tags.get('svg') == 1
    assert counter.classes.get('hairpin-path') == 4
    assert counter.classes.get('direct-path') == 3  # split_dns, local_shortcut, and the same-host unix socket
    assert counter.classes.get('node') == 4
    assert counter.tags.get('table') == 4  # pairs, names, same-host, conntrack (not measured: no before/after table)
    assert not re.search(r'<(script|link|img|iframe)\b', dom)


if __name__ == '__main__':
    OUT = sys.argv[1] if len(sys.argv) > 1 else '.'
    RESULT = render_lab_report(OUT, find_chromium())[3]
    if RESULT is not None and RESULT.returncode != 0:
        sys.stderr.write(RESULT.stderr)
        sys.exit(1)
