# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remediation roles' inputs, checked and normalised before any change.

Each function returns the normalised input or raises ``RoleInputError`` listing every problem,
each naming the variable path (``local_shortcut_rules[1].private_port``) and the fix. Addresses
are parsed by the collection's one address module, conntrack sizing by the rules its module
enforces. Pure functions, controller side.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

from ansible.module_utils.common.validation import check_type_bool, check_type_float, check_type_int

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import endpoint, parse_endpoint, parse_ip, parse_port
from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_sizing import TIMEOUT_SYSCTLS, OptionNames, request_problems

SHORTCUT_KEYS = ('public_ip', 'public_port', 'proto', 'private_ip', 'private_port', 'comment')
SHORTCUT_PROTOS = ('tcp', 'udp')
COMMENT_LIMIT = 100
UNIX_SOCKET_PAIR_KEYS = ('address', 'socket')
# The conntrack_tuning role's variables (names without the prefix) that become conntrack_limits'
# arguments, by kind; the timeouts become its timeouts dict.
CONNTRACK_TUNING_INTEGERS = ('max', 'per_core', 'floor', 'cap', 'bytes_per_entry', 'headroom', 'hashsize')
CONNTRACK_TUNING_PASSED = ('policy', 'allow_lower', 'persist', 'backup')
CONNTRACK_TUNING_TIMEOUTS = tuple(sorted(TIMEOUT_SYSCTLS))
# Each persistence file name, the directory the role writes it to and the program that reads it
# there, which skips files not ending in .conf.
CONNTRACK_TUNING_FILES = (
    ('sysctl_file', '/etc/sysctl.d', 'systemd-sysctl'),
    ('modprobe_file', '/etc/modprobe.d', 'modprobe'),
    ('modules_load_file', '/etc/modules-load.d', 'systemd-modules-load'),
)
CONNTRACK_TUNING_SETTINGS = (CONNTRACK_TUNING_PASSED + CONNTRACK_TUNING_INTEGERS + ('memory_share', 'accounting')
                             + tuple('timeout_' + key for key in CONNTRACK_TUNING_TIMEOUTS)
                             + tuple(name for name, dummy, dummy2 in CONNTRACK_TUNING_FILES))
CONNTRACK_TUNING_NAMES = OptionNames(prefix='conntrack_tuning_', timeouts='timeout_', assign='%s: %s')
CONF_FILE_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]*[.]conf')


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


def _converted(value, check):
    """The value as the module's argument spec converts it, or unchanged for the rules to refuse."""
    if value is None:
        return None
    try:
        return check(value)
    except TypeError:
        return value


def conntrack_tuning_settings(settings):
    """conntrack_limits' arguments from the conntrack_tuning role's variables (``settings``: names
    without the ``conntrack_tuning_`` prefix). The sizing rules are the module's own, speaking the
    role's variable names; the file names are the role's: plain names ending in .conf, in the
    directories the role writes to."""
    if not isinstance(settings, Mapping):
        raise RoleInputError('the settings must be a dict of the role variables, got %s' % type(settings).__name__)
    missing = [name for name in CONNTRACK_TUNING_SETTINGS if name not in settings]
    unknown = sorted(str(name) for name in settings if name not in CONNTRACK_TUNING_SETTINGS)
    if missing or unknown:
        raise RoleInputError('the settings must be every role variable without the conntrack_tuning_ prefix: missing %s, unknown %s'
                             % (', '.join(missing) or 'none', ', '.join(unknown) or 'none'))
    arguments = {name: settings[name] for name in CONNTRACK_TUNING_PASSED}
    arguments.update((name, _converted(settings[name], check_type_int)) for name in CONNTRACK_TUNING_INTEGERS)
    arguments['memory_share'] = _converted(settings['memory_share'], check_type_float)
    arguments['timeouts'] = {key: _converted(settings['timeout_' + key], check_type_int) for key in CONNTRACK_TUNING_TIMEOUTS}
    arguments['accounting'] = _converted(settings['accounting'], check_type_bool)
    problems = [problem.message for problem in request_problems(arguments, CONNTRACK_TUNING_NAMES)]
    for name, directory, reader in CONNTRACK_TUNING_FILES:
        value = settings[name]
        if not isinstance(value, str) or not CONF_FILE_NAME.fullmatch(value):
            problems.append('%s must be a plain file name ending in .conf (it goes to %s, where %s reads only *.conf), got %r'
                            % (CONNTRACK_TUNING_NAMES.name(name), directory, reader, value))
        else:
            arguments[name] = '%s/%s' % (directory, value)
    if problems:
        raise RoleInputError('; '.join(problems))
    return arguments
