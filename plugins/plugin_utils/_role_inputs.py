# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remediation roles' list inputs, checked and normalised before any change.

Each function returns the normalised list or raises ``RoleInputError`` listing every problem,
each naming the variable path (``local_shortcut_rules[1].private_port``) and the fix. Addresses
are parsed by the collection's one address module. Pure functions, controller side.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import endpoint, parse_endpoint, parse_ip, parse_port

SHORTCUT_KEYS = ('public_ip', 'public_port', 'proto', 'private_ip', 'private_port', 'comment')
SHORTCUT_PROTOS = ('tcp', 'udp')
COMMENT_LIMIT = 100
UNIX_SOCKET_PAIR_KEYS = ('address', 'socket')


class RoleInputError(ValueError):
    """Bad role input; the message lists every problem."""


def _items(value, var, example):
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise RoleInputError('%s must be a list such as [%s], got %s' % (var, example, type(value).__name__))
    return list(value)


def _unknown_keys(item, allowed, path, problems):
    unknown = sorted(str(key) for key in item if key not in allowed)
    if unknown:
        problems.append('%s: unknown key%s %s (allowed: %s)' % (path, 's' if len(unknown) > 1 else '', ', '.join(unknown),
                                                                ', '.join(allowed)))


def _ipv4(item, field, path, problems):
    ip = parse_ip(item.get(field))
    if ip is None or ip.version != 4:
        problems.append('%s.%s: %r is not an IPv4 address (IPv6 is not supported)' % (path, field, item.get(field)))
        return None
    return str(ip)


def _port(item, field, path, problems):
    try:
        return parse_port(item.get(field), '%s.%s' % (path, field))
    except ValueError as exc:
        problems.append(str(exc))
        return None


def local_shortcut_rules(rules):
    """``{rules: [...], fingerprint}``: one rule per public endpoint, with ``key`` and ``target``."""
    example = '{public_ip: 198.51.100.1, public_port: 5432, proto: tcp, private_ip: 192.168.1.30, private_port: 54321}'
    problems = []
    wanted = []
    for index, item in enumerate(_items(rules, 'local_shortcut_rules', example)):
        path = 'local_shortcut_rules[%d]' % index
        if not isinstance(item, Mapping):
            problems.append('%s must be a dict such as %s, got %r' % (path, example, item))
            continue
        _unknown_keys(item, SHORTCUT_KEYS, path, problems)
        rule = {
            'public_ip': _ipv4(item, 'public_ip', path, problems),
            'public_port': _port(item, 'public_port', path, problems),
            'proto': str(item.get('proto') or 'tcp').lower(),
            'private_ip': _ipv4(item, 'private_ip', path, problems),
            'private_port': _port(item, 'private_port', path, problems),
            'comment': '' if item.get('comment') is None else str(item.get('comment')),
        }
        if rule['proto'] not in SHORTCUT_PROTOS:
            problems.append('%s.proto: %s must be tcp or udp' % (path, rule['proto']))
        if len(rule['comment']) > COMMENT_LIMIT or any(char in rule['comment'] for char in '"\\\n\r'):
            problems.append('%s.comment: at most %d characters without double quotes, backslashes or line breaks'
                            % (path, COMMENT_LIMIT))
        if None in rule.values():
            continue
        rule['key'] = '%s/%s' % (endpoint(rule['public_ip'], rule['public_port']), rule['proto'])
        rule['target'] = endpoint(rule['private_ip'], rule['private_port'])
        if rule['target'] == endpoint(rule['public_ip'], rule['public_port']):
            problems.append('%s: private endpoint %s is the public endpoint itself' % (path, rule['target']))
            continue
        wanted.append((path, rule))
    effective = {}
    for path, rule in wanted:
        first = effective.setdefault(rule['key'], (path, rule))
        if first[1]['target'] != rule['target']:
            problems.append('%s is sent to %s by %s and to %s by %s; keep one'
                            % (rule['key'], first[1]['target'], first[0], rule['target'], path))
    if problems:
        raise RoleInputError('; '.join(problems))
    result = [rule for dummy, rule in effective.values()]
    digest = hashlib.sha1(json.dumps([[r['key'] for r in result], [r['target'] for r in result],
                                      [r['comment'] for r in result]]).encode('utf-8')).hexdigest()
    return {'rules': result, 'fingerprint': digest[:16]}


def unix_sockets_pairs(pairs, socket_path):
    """``[{address, socket}]``, one per TCP address; ``socket`` defaults to ``socket_path``."""
    example = '{address: 127.0.0.1:8000}'
    problems = []
    result = {}
    for index, item in enumerate(_items(pairs, 'unix_sockets_pairs', example)):
        path = 'unix_sockets_pairs[%d]' % index
        if not isinstance(item, Mapping):
            problems.append('%s must be a dict such as %s (the TCP address nginx proxies to now), got %r' % (path, example, item))
            continue
        _unknown_keys(item, UNIX_SOCKET_PAIR_KEYS, path, problems)
        try:
            ip, port = parse_endpoint(item.get('address'), '%s.address' % path)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        socket = item.get('socket') or socket_path
        if not isinstance(socket, str) or not socket.startswith('/'):
            problems.append('%s.socket: %r must be an absolute path such as /run/app/gunicorn.sock' % (path, socket))
            continue
        address = endpoint(ip, port)
        result[address] = {'address': address, 'socket': socket}
    if problems:
        raise RoleInputError('; '.join(problems))
    return list(result.values())
