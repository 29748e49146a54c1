# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where each Unix-socket cutover stands and what the unix_sockets role does next.

The role keeps a record on each host (``unix_sockets_record_path``, JSON) of every pair it is
switching or has switched: the proposed unit changes, the sockets and the backups of nginx's
original files. A run killed at any task leaves the record saying ``cutover`` and nginx pointing
at one of three places; from the two together the next run knows where to pick up:

=====================  ================  ===========================================
nginx points at        record            next step
=====================  ================  ===========================================
the TCP address        none / cutover    ``fresh``: the cutover from the start
the handover socket    cutover           ``resume_on_handover``: restart the handover
                       or switched       copy, reload nginx, go on with the service
                       (a killed revert)
the final socket       cutover           ``resume_on_socket``: reload nginx, remove the
                                         handover copy
the final socket       switched / none   ``switched``: check the socket, change nothing
=====================  ================  ===========================================

With ``state: absent`` a recorded pair is put back on TCP (``revert``) the way a failed cutover
is rolled back; a pair on TCP without a record needs nothing (``reverted``).

Every step of the cutover is safe to repeat, so picking up at the step a kill interrupted is
enough. Pure functions, controller side.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from ansible_collections.keeplocal.traffic.plugins.module_utils._app_servers import switched_servers
from ansible_collections.keeplocal.traffic.plugins.module_utils._records import (
    VERSIONS,
    RecordError,
    new_record,
    parse,
    record_format,
)

RECORD_FORMAT = record_format('unix_sockets')
RECORD_VERSION = VERSIONS['unix_sockets']
STEPS = ('fresh', 'resume_on_handover', 'resume_on_socket', 'switched')


def empty_record():
    return new_record('unix_sockets', pairs={})


def read_record(record, path):
    """The record as a dict: ``record`` is the file's text (or its parsed JSON), None/'' for none."""
    parsed = parse('unix_sockets', record, path)
    if parsed is None:
        return empty_record()
    if not isinstance(parsed.get('pairs'), Mapping):
        raise RecordError('%s has no "pairs" object: move it away (it is not a record this role wrote)' % path)
    return parsed


def record_with(record, address, entry):
    """A copy of ``record`` with ``address``'s entry replaced (``entry`` None removes it; ``address``
    None changes nothing)."""
    updated = copy.deepcopy(record)
    if address is None:
        return updated
    if entry is None:
        updated['pairs'].pop(address, None)
    else:
        updated['pairs'][address] = entry
    return updated


def _kind(pairs, kind):
    return [pair for pair in pairs if pair.get('kind') == kind]


def _refusal(address, reason):
    return '%s cannot be switched, nothing was changed: %s' % (address, reason)


def _fresh(address, tcp, entry, force):
    if len(tcp) > 1:
        return {'problem': _refusal(address, 'nginx proxies to it through several local addresses: %s' % ', '.join(
            pair['address'] for pair in tcp))}
    pair = tcp[0]
    if pair.get('proposed') is None or not (pair.get('safe') or force):
        reasons = ('; '.join(reason['msg'] for reason in pair.get('reasons') or [])
                   or 'no app server (%s) under systemd found behind it' % switched_servers())
        return {'problem': _refusal(address, reasons + ' (set unix_sockets_force to switch anyway, or fix the cause)')}
    # A cutover interrupted before nginx moved keeps the backups of its first nginx change: the
    # files as they were before keeplocal touched them.
    backups = {}
    if entry and entry.get('state') == 'cutover':
        backups = entry.get('backups') or {}
    return {'step': 'fresh', 'pair': pair, 'proposed': pair['proposed'], 'backups': backups}


def next_step(discovered, entry, force=False, record_path='the record'):
    """What to do for one pair.

    ``discovered``: nginx_upstream's discover result for the pair (``item.address``, ``pairs``),
    asked for the pair's final and handover sockets too. ``entry``: the record's entry for the
    address, or None. Returns {address, step, proposed, backups, pair, switched, problem}.
    """
    address = discovered['item']['address']
    pairs = discovered.get('pairs') or []
    entry = entry or None
    result = {'address': address, 'step': None, 'proposed': None, 'backups': {}, 'pair': None, 'switched': None,
              'problem': None}
    tcp, unix = _kind(pairs, 'tcp'), _kind(pairs, 'unix')
    proposed = (entry or {}).get('proposed') or {}
    on_handover = [pair for pair in unix if proposed and pair.get('socket') == proposed.get('handover_socket')]
    on_socket = [pair for pair in unix if pair not in on_handover]
    in_cutover = (entry or {}).get('state') == 'cutover'
    if tcp:
        result.update(_fresh(address, tcp, entry, force))
    elif on_handover:
        # Only the record names the handover socket: a killed cutover (record "cutover") or a killed
        # revert (record still "switched") left nginx there. Either way the switch picks up from it.
        result.update(step='resume_on_handover', proposed=proposed, backups=entry.get('backups') or {})
    elif on_socket:
        if in_cutover:
            result.update(step='resume_on_socket', proposed=proposed, backups=entry.get('backups') or {})
        else:
            result.update(step='switched', switched=on_socket[0], proposed=proposed or None,
                          backups=(entry or {}).get('backups') or {})
    else:
        result['problem'] = _refusal(address, 'nginx does not proxy to it (no upstream server or proxy_pass names this port on a '
                                     'local address)')
    return result


def revert_step(discovered, entry, record_path='the record'):
    """What ``state: absent`` does for one pair: ``revert`` (back to TCP, from the record) or
    ``reverted`` (nginx uses the TCP address and no cutover is recorded: nothing to do)."""
    address = discovered['item']['address']
    pairs = discovered.get('pairs') or []
    result = {'address': address, 'step': None, 'proposed': None, 'backups': {}, 'pair': None, 'switched': None,
              'problem': None}
    if entry:
        result.update(step='revert', proposed=entry.get('proposed'), backups=entry.get('backups') or {})
    elif _kind(pairs, 'unix'):
        result['problem'] = ('%s cannot be put back on TCP, nothing was changed: nginx points at %s, but %s has no record of '
                             'switching it (switched by hand or by a version of keeplocal.traffic without records): put it '
                             'back by hand (nginx lines, %s.socket and the drop-in)' % (
                                 address, _kind(pairs, 'unix')[0]['socket'], record_path,
                                 ((_kind(pairs, 'unix')[0].get('unit') or '<app>.service').rsplit('.service', 1)[0])))
    elif _kind(pairs, 'tcp'):
        result['step'] = 'reverted'
    else:
        result['problem'] = _refusal(address, 'nginx does not proxy to it (no upstream server or proxy_pass names this port on '
                                     'a local address)').replace('cannot be switched', 'cannot be put back on TCP')
    return result


def cutover_steps(discovered_results, record, force=False, record_path='the record', state='present'):
    """next_step (state present) or revert_step (state absent) for every discovered pair, the
    record read once (RecordError when unreadable)."""
    record = read_record(record, record_path)
    if state == 'absent':
        return [revert_step(item, record['pairs'].get(item['item']['address']), record_path) for item in discovered_results]
    return [next_step(item, record['pairs'].get(item['item']['address']), force, record_path) for item in discovered_results]


def nginx_changes(first, second):
    """The cutover's nginx lines as one change from the original to the final line.

    ``first``: the changes of the switch to the handover socket (original -> handover line),
    ``second``: those of the switch to the final socket (handover -> final line); a resumed
    cutover has only ``second``, whose lines then start from the handover socket.
    """
    originals = dict(((change['file'], change['line']), change['before']) for change in first or [])
    return [dict(change, before=originals.get((change['file'], change['line']), change['before'])) for change in second or []]
