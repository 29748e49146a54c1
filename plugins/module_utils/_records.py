# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The records the remediation roles keep on each host, and what undoing them takes.

Every role that changes a host writes ``<RECORD_DIR>/<kind>.json`` when it changes something:
what it changed, the originals it replaced and where their backups are. ``keeplocal.traffic.revert``
reads them (module ``remediation_records``) and runs each role in its undo mode (``state: absent``),
in ``REVERT_ORDER``, with the variables ``revert_inputs`` derives from the record. Pure functions, shared by the
module on the host and the filters on the controller.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

RECORD_DIR = '/var/lib/keeplocal'

# kind -> the newest record version this collection reads and writes
VERSIONS = {
    'split_dns_client': 1,
    'local_shortcut': 1,
    'unix_sockets': 1,
    'split_dns_server': 1,
    'conntrack_tuning': 1,
}

# Clients stop asking the private resolver before it goes away; traffic falls back to the hairpin,
# which the gateway keeps serving, so every step is safe under load.
REVERT_ORDER = ('split_dns_client', 'local_shortcut', 'unix_sockets', 'split_dns_server', 'conntrack_tuning')


class RecordError(ValueError):
    """A record this collection cannot read; the message names the file and the fix."""


def record_format(kind):
    return 'keeplocal.traffic/%s' % kind


def record_path(kind, directory=RECORD_DIR):
    return '%s/%s.json' % (directory.rstrip('/'), kind)


def new_record(kind, **content):
    record = {'format': record_format(kind), 'version': VERSIONS[kind]}
    record.update(content)
    return record


def merged(kind, previous, content, keep=(), path=None):
    """The record a role writes: ``content`` stamped with the kind's format and version; the keys in
    ``keep`` come from the ``previous`` record (its text) when there is one, so the originals a role
    saw the first time it changed the host survive every later run."""
    old = parse(kind, previous, path or record_path(kind))
    content = dict(content)
    for key in keep:
        if old is not None and key in old:
            content[key] = old[key]
    return new_record(kind, **content)


def parse(kind, text, path):
    """The record in ``text`` (a file's content or its parsed JSON); None for an empty file.

    Raises RecordError naming ``path`` for anything this collection did not write or cannot read,
    a record of a newer version above all: undoing it with older code could undo it wrongly.
    """
    if text is None or (isinstance(text, (str, bytes)) and not text.strip()):
        return None
    record = text
    if isinstance(text, (str, bytes)):
        try:
            record = json.loads(text)
        except ValueError as exc:
            raise RecordError('%s is not JSON (%s): move it away or restore it from a backup, then run again' % (path, exc))
    if not isinstance(record, Mapping) or record.get('format') != record_format(kind):
        raise RecordError('%s is not a record of keeplocal.traffic.%s (no "format": "%s"): move it away'
                          % (path, kind, record_format(kind)))
    version = record.get('version')
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSIONS[kind]:
        raise RecordError('%s is a record of version %s, written by a newer keeplocal.traffic (this one reads version %d): '
                          'run the collection version that wrote it' % (path, version, VERSIONS[kind]))
    return dict(record)


def _unix_sockets_inputs(record):
    pairs = record.get('pairs') or {}
    if not pairs:
        return None
    return {'unix_sockets_pairs': [{'address': address, 'socket': pairs[address]['socket']} for address in sorted(pairs)]}


def _split_dns_client_inputs(record):
    return {'split_dns_client_method': record['method']}


def _from_record_only(record):
    """The role reads its own record in its undo mode; nothing to pass."""
    return {}


_INPUTS = {
    'split_dns_client': _split_dns_client_inputs,
    'local_shortcut': _from_record_only,
    'unix_sockets': _unix_sockets_inputs,
    'split_dns_server': _from_record_only,
    'conntrack_tuning': _from_record_only,
}


def revert_inputs(records):
    """``{kind: role variables}`` for the undo modes of ``records`` (``{kind: record}``), in
    REVERT_ORDER: what the role cannot find on its own (the pairs, the method the change used). A
    record with nothing left to undo (a Unix-socket record without pairs) gives no entry."""
    steps = {}
    for kind in REVERT_ORDER:
        if kind in records:
            inputs = _INPUTS[kind](records[kind])
            if inputs is not None:
                steps[kind] = inputs
    return steps


def read_directory(listing, directory=RECORD_DIR):
    """Parse the records among ``listing`` (``{file name: text}`` of ``directory``).

    Returns ``(records, ignored)``: ``{kind: record}`` and the names of files that are no record
    kind this collection knows. Raises RecordError at the first unreadable record."""
    records, ignored = {}, []
    for name in sorted(listing):
        kind = name[:-len('.json')] if name.endswith('.json') else None
        if kind not in VERSIONS:
            ignored.append(name)
            continue
        record = parse(kind, listing[name], record_path(kind, directory))
        if record is not None:
            records[kind] = record
    return records, ignored
