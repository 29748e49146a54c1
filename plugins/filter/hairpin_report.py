# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The keeplocal.traffic.report_markdown, report_html and report_outcome filters (documentation in their .yml files)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.keeplocal.traffic.plugins.plugin_utils._report import (
    ReportError,
    render_html,
    render_markdown,
    render_outcome_lines,
)


def report_markdown(plan, measurements=None, watch=None, price_per_gb=None, currency=None):
    """The plan (and optional before/after measurements and hairpin watch results) as a Markdown document."""
    try:
        return render_markdown(plan, measurements, watch, price_per_gb, currency)
    except ReportError as exc:
        raise AnsibleFilterError('keeplocal.traffic.report_markdown: %s' % to_native(exc)) from exc


def report_html(plan, measurements=None, watch=None, price_per_gb=None, currency=None):
    """The plan (and optional before/after measurements and hairpin watch results) as a self-contained HTML page."""
    try:
        return render_html(plan, measurements, watch, price_per_gb, currency)
    except ReportError as exc:
        raise AnsibleFilterError('keeplocal.traffic.report_html: %s' % to_native(exc)) from exc


def report_outcome(plan, measurements=None):
    """The outcome for the console: a summary line, then one line per finding."""
    try:
        return render_outcome_lines(plan, measurements)
    except ReportError as exc:
        raise AnsibleFilterError('keeplocal.traffic.report_outcome: %s' % to_native(exc)) from exc


class FilterModule:
    """Hairpin report filters."""

    def filters(self):
        return {'report_markdown': report_markdown, 'report_html': report_html, 'report_outcome': report_outcome}
