# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn bind settings and systemd units (stdlib only, no I/O).

Where gunicorn's listening addresses come from, in gunicorn's own order of precedence (20.x):
the command line (``-b``/``--bind``, repeatable), then ``GUNICORN_CMD_ARGS``, then the config
file (``-c``/``--config``, else ``./gunicorn.conf.py`` in the working directory, ``bind = ...``),
then the default (``127.0.0.1:8000``, or ``0.0.0.0:$PORT`` when ``PORT`` is set). A source that
sets ``bind`` replaces the lower ones entirely.

The systemd side: the effective ExecStart of a unit (``systemctl cat`` text: fragment and
drop-ins, an empty ``ExecStart=`` resets the list), split with systemd's quoting rules, and
rewritten word by word: only the bind, umask and pid options change; every other word keeps its
original spelling (quotes, ``$VARS``, ``%`` specifiers).

gunicorn 25.1 added a control socket (``gunicornc``): the arbiter removes whatever is at its path
when it starts and removes the path again when it stops, and a copy of a unit runs with the same
working directory, user and environment, so it resolves the same default path (``gunicorn.ctl``
in the working directory in 25.1, ``$XDG_RUNTIME_DIR/gunicorn.ctl`` or
``$HOME/.gunicorn/gunicorn.ctl`` later). A handover copy therefore runs with
``--no-control-socket``, which only gunicorn 25.1 and later accept (older versions exit with
"unrecognized arguments").
"""

from __future__ import annotations

import ast
import os
import re
import shlex

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import split_host_port

DEFAULT_BIND = '127.0.0.1:8000'
KEEPLOCAL_SECTION = 'X-Keeplocal'

# option name -> (short flag or None, long flag)
_OPTIONS = {
    'bind': ('-b', '--bind'),
    'umask': ('-m', '--umask'),
    'config': ('-c', '--config'),
    'pid': ('-p', '--pid'),
    'control_socket': (None, '--control-socket'),
    'control_socket_mode': (None, '--control-socket-mode'),
    'forwarded_allow_ips': (None, '--forwarded-allow-ips'),
}
# options without a value: name -> flag
_FLAGS = {
    'no_control_socket': '--no-control-socket',
}
# The first version with the control socket and --no-control-socket.
CONTROL_SOCKET_SINCE = (25, 1)
# Settings that mention the control socket (their presence means a version that has it).
CONTROL_SOCKET_OPTIONS = ('control_socket', 'control_socket_mode', 'no_control_socket')
_CONFIG_CONTROL = re.compile(r'^(control_socket|control_socket_mode|control_socket_disable)\s*[:=]', re.M)
_VERSION_INFO = re.compile(r'^version_info\s*=\s*\(\s*([0-9]+)\s*,\s*([0-9]+)\s*(?:,\s*([0-9]+)\s*)?', re.M)
_SAFE_WORD = re.compile(r'^[A-Za-z0-9_@%+=:,./-]+$')
_PYTHON = re.compile(r'^python[0-9.]*$')


# ---------------------------------------------------------------------------------------------
# systemd unit text


def unit_entries(text):
    """Entries of a unit text (a file or ``systemctl cat`` output) in order.

    Returns a list of dicts: source (the ``# /path`` header above, or None), section, key, value.
    Continuation lines (trailing backslash) are joined with a space, as systemd does.
    """
    entries = []
    source, section = None, None
    pending = None
    for raw in text.splitlines():
        if pending is not None:
            stripped = raw.strip()
            if stripped.startswith('#') or stripped.startswith(';'):
                continue
            line = pending + ' ' + raw.strip()
            pending = None
        else:
            line = raw.strip()
            if not line:
                continue
            if line.startswith('#'):
                header = line[1:].strip()
                if header.startswith('/') and ' ' not in header:
                    source = header
                continue
            if line.startswith(';'):
                continue
        if line.endswith('\\'):
            pending = line[:-1].rstrip()
            continue
        if line.startswith('[') and line.endswith(']'):
            section = line[1:-1]
            continue
        if '=' not in line:
            continue
        key, value = line.split('=', 1)
        entries.append({'source': source, 'section': section, 'key': key.strip(), 'value': value.strip()})
    if pending is not None and '=' in pending:
        key, value = pending.split('=', 1)
        entries.append({'source': source, 'section': section, 'key': key.strip(), 'value': value.strip()})
    return entries


def environment_assignments(value):
    """``Environment=`` value -> {name: value}: space-separated, optionally quoted assignments."""
    result = {}
    for word in split_words(value):
        if '=' in word['value']:
            name, val = word['value'].split('=', 1)
            result[name] = val
    return result


def effective_settings(text):
    """The settings of a unit that matter here, after drop-ins (last assignment wins).

    Returns exec_start (raw value or None), exec_start_count, environment (dict),
    environment_files, working_directory, user, group, type, runtime_directories, sources (the
    files the text came from) and keeplocal (the ``[X-Keeplocal]`` section, or {}).
    """
    settings = {'exec_start': None, 'exec_start_count': 0, 'environment': {}, 'environment_files': [],
                'working_directory': None, 'user': None, 'group': None, 'type': None,
                'runtime_directories': [], 'sources': [], 'keeplocal': {}}
    exec_starts = []
    for entry in unit_entries(text):
        if entry['source'] and entry['source'] not in settings['sources']:
            settings['sources'].append(entry['source'])
        section, key, value = entry['section'], entry['key'], entry['value']
        if section == KEEPLOCAL_SECTION:
            settings['keeplocal'][key] = value
            continue
        if section != 'Service':
            continue
        if key == 'ExecStart':
            exec_starts = [] if value == '' else exec_starts + [value]
        elif key == 'Environment':
            if value == '':
                settings['environment'] = {}
            else:
                settings['environment'].update(environment_assignments(value))
        elif key == 'EnvironmentFile':
            settings['environment_files'] = [] if value == '' else settings['environment_files'] + [value]
        elif key == 'RuntimeDirectory':
            settings['runtime_directories'] = [] if value == '' else settings['runtime_directories'] + value.split()
        elif key in ('WorkingDirectory', 'User', 'Group', 'Type'):
            settings[{'WorkingDirectory': 'working_directory', 'User': 'user', 'Group': 'group', 'Type': 'type'}[key]] = value or None
    settings['exec_start_count'] = len(exec_starts)
    settings['exec_start'] = exec_starts[-1] if exec_starts else None
    return settings


def parse_environment_file(text):
    """An EnvironmentFile's assignments (KEY=VALUE lines, # comments, optional quotes)."""
    result = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in '#;' or '=' not in line:
            continue
        key, value = line.split('=', 1)
        key = key.strip()
        if key.startswith('export '):
            key = key[7:].strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
            value = value[1:-1]
        result[key] = value
    return result


_ESCAPES = {'n': '\n', 't': '\t', 'r': '\r', 'a': '\a', 'b': '\b', 'f': '\f', 'v': '\v', 's': ' ',
            '\\': '\\', '"': '"', "'": "'"}


def split_words(value):
    """Split a systemd command line into words: [{'raw', 'value'}] (quotes removed, C escapes).

    ``raw`` is the exact original spelling of the word.
    """
    words = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        out = []
        quote = None
        while i < n:
            char = value[i]
            if quote is None and char.isspace():
                break
            if char == '\\' and i + 1 < n:
                nxt = value[i + 1]
                if nxt == 'x' and i + 3 < n + 1 and re.match(r'[0-9A-Fa-f]{2}', value[i + 2:i + 4]):
                    out.append(chr(int(value[i + 2:i + 4], 16)))
                    i += 4
                    continue
                out.append(_ESCAPES.get(nxt, nxt))
                i += 2
                continue
            if quote is None and char in '"\'':
                quote = char
                i += 1
                continue
            if quote is not None and char == quote:
                quote = None
                i += 1
                continue
            out.append(char)
            i += 1
        if quote is not None:
            raise ValueError('unterminated quote in %r' % value)
        words.append({'raw': value[start:i], 'value': ''.join(out)})
    return words


def quote_word(text):
    """Spell a word for a unit file: bare when safe, else double-quoted; % and $ escaped."""
    escaped = text.replace('%', '%%').replace('$', '$$')
    if _SAFE_WORD.match(escaped):
        return escaped
    return '"' + escaped.replace('\\', '\\\\').replace('"', '\\"') + '"'


def split_exec_start(value):
    """ExecStart value -> (prefix, words). ``prefix`` holds systemd's leading ``@-:+!`` flags."""
    prefix = ''
    stripped = value.lstrip()
    while stripped and stripped[0] in '@-:+!':
        prefix += stripped[0]
        stripped = stripped[1:]
    return prefix, split_words(stripped)


# ---------------------------------------------------------------------------------------------
# gunicorn command lines


def gunicorn_start(words):
    """Index of the first gunicorn argument in an ExecStart's words, or None when not gunicorn.

    ``/path/gunicorn ...`` -> 1; ``python3 -m gunicorn ...`` -> 3.
    """
    if not words:
        return None
    first = os.path.basename(words[0]['value'])
    if first == 'gunicorn' or re.match(r'^gunicorn[0-9.-]*$', first):
        return 1
    if _PYTHON.match(first) and len(words) > 2 and words[1]['value'] == '-m' and words[2]['value'] == 'gunicorn':
        return 3
    return None


def is_gunicorn_process(comm, cmdline):
    """True for a gunicorn master or worker (command line, or setproctitle's 'gunicorn: ...')."""
    if comm and comm.startswith('gunicorn'):
        return True
    args = list(cmdline or [])
    if args and args[0].startswith('gunicorn:'):
        return True
    for index, arg in enumerate(args[:3]):
        base = os.path.basename(arg)
        if base == 'gunicorn' or re.match(r'^gunicorn[0-9.-]*$', base):
            return True
        if arg == '-m' and index + 1 < len(args) and args[index + 1] == 'gunicorn':
            return True
    return False


def option_spans(values):
    """Find gunicorn's bind/umask/config/pid/control-socket options in argument values.

    Returns [{'option', 'value', 'indexes'}] where ``indexes`` are the positions of the words the
    option occupies (one for ``--bind=X``/``-bX`` and for flags such as ``--no-control-socket``,
    whose value is True; two for ``--bind X``).
    """
    found = []
    i = 0
    while i < len(values):
        arg = values[i]
        if arg == '--':
            break
        flag = [name for name, spelling in _FLAGS.items() if arg == spelling]
        if flag:
            found.append({'option': flag[0], 'value': True, 'indexes': [i]})
            i += 1
            continue
        matched = False
        for name, (short, long_) in _OPTIONS.items():
            if arg == long_ or (short is not None and arg == short):
                if i + 1 < len(values):
                    found.append({'option': name, 'value': values[i + 1], 'indexes': [i, i + 1]})
                    i += 2
                else:
                    found.append({'option': name, 'value': None, 'indexes': [i]})
                    i += 1
                matched = True
                break
            if arg.startswith(long_ + '='):
                found.append({'option': name, 'value': arg[len(long_) + 1:], 'indexes': [i]})
                i += 1
                matched = True
                break
            if short is not None and arg.startswith(short) and len(arg) > 2 and not arg.startswith('--'):
                found.append({'option': name, 'value': arg[2:], 'indexes': [i]})
                i += 1
                matched = True
                break
        if not matched:
            i += 1
    return found


def binds_from_args(values):
    """The binds an argument list sets, or None when it sets none."""
    binds = [item['value'] for item in option_spans(values) if item['option'] == 'bind' and item['value'] is not None]
    return binds or None


def option_from_args(values, name):
    """The last value given for option ``name`` (umask, config, pid), or None."""
    result = None
    for item in option_spans(values):
        if item['option'] == name:
            result = item['value']
    return result


def binds_from_config(text):
    """``bind = ...`` in a gunicorn config file: a list of strings, None when unset.

    Raises ValueError when ``bind`` is set to something that is not a literal (computed).
    """
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise ValueError('the config file does not parse: %s' % exc) from None
    result = None
    for node in tree.body:
        targets = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if not any(isinstance(target, ast.Name) and target.id == 'bind' for target in targets):
            continue
        try:
            literal = ast.literal_eval(value)
        except ValueError:
            raise ValueError('bind is computed in the config file (line %d), not a literal' % node.lineno) from None
        if isinstance(literal, str):
            result = [literal]
        elif isinstance(literal, (list, tuple)) and all(isinstance(item, str) for item in literal):
            result = list(literal)
        else:
            raise ValueError('bind in the config file (line %d) is not a string or a list of strings' % node.lineno)
    return result


def config_file_path(args, env_args, cwd):
    """The config file gunicorn reads: -c/--config (command line, then GUNICORN_CMD_ARGS), else
    ./gunicorn.conf.py in the working directory. ``python:module`` configs return None."""
    path = option_from_args(args, 'config') or option_from_args(env_args, 'config')
    if path is None:
        path = 'gunicorn.conf.py'
    if path.startswith('python:'):
        return None
    if not os.path.isabs(path):
        path = os.path.join(cwd or '/', path)
    return os.path.normpath(path)


def effective_binds(args, environment=None, config_text=None):
    """gunicorn's listening addresses and where they come from.

    ``args``: the gunicorn arguments (after the executable); ``environment``: the process
    environment (GUNICORN_CMD_ARGS, PORT); ``config_text``: the config file's text or None.
    Returns {'binds': [...], 'source': 'command line' | 'GUNICORN_CMD_ARGS' | 'config file' |
    'default'}; raises ValueError when the config file computes ``bind``.
    """
    environment = environment or {}
    binds = binds_from_args(args)
    if binds:
        return {'binds': binds, 'source': 'command line'}
    env_args = shlex.split(environment.get('GUNICORN_CMD_ARGS', ''))
    binds = binds_from_args(env_args)
    if binds:
        return {'binds': binds, 'source': 'GUNICORN_CMD_ARGS'}
    if config_text is not None:
        binds = binds_from_config(config_text)
        if binds:
            return {'binds': binds, 'source': 'config file'}
    if environment.get('PORT'):
        return {'binds': ['0.0.0.0:%s' % environment['PORT']], 'source': 'default'}
    return {'binds': [DEFAULT_BIND], 'source': 'default'}


def parse_bind(bind):
    """'unix:/run/x.sock' -> {type: unix, path}; 'fd://3' -> {type: fd}; 'h:p' -> {type: tcp, host, port}."""
    if bind.startswith('unix:'):
        return {'type': 'unix', 'path': bind[5:]}
    if bind.startswith('fd://'):
        return {'type': 'fd', 'fd': bind[5:]}
    host, port = split_host_port(bind) or (bind, None)
    return {'type': 'tcp', 'host': host or '0.0.0.0', 'port': int(port) if port and port.isdigit() else 8000}


def rewrite_exec_start(value, binds, umask=None, drop=('pid',), extra=()):
    """A new ExecStart value with ``binds`` (and ``umask``) replacing the old ones.

    The bind and umask options (and those in ``drop``) are removed wherever they are; the new
    options (then the words in ``extra``) go right after the gunicorn executable; every other word
    keeps its original spelling. Raises ValueError when the command is not gunicorn.
    """
    prefix, words = split_exec_start(value)
    start = gunicorn_start(words)
    if start is None:
        raise ValueError('ExecStart does not run gunicorn directly (%s): a wrapper hides its options'
                         % (words[0]['value'] if words else 'empty'))
    values = [word['value'] for word in words[start:]]
    remove = set(('bind', 'umask') + tuple(drop))
    skip = set()
    for item in option_spans(values):
        if item['option'] in remove:
            skip.update(index + start for index in item['indexes'])
    added = []
    for bind in binds:
        added.extend(['--bind', quote_word(bind)])
    if umask is not None:
        added.extend(['--umask', quote_word(str(umask))])
    added.extend(quote_word(word) for word in extra)
    kept = [word['raw'] for index, word in enumerate(words) if index not in skip]
    new_words = kept[:start] + added + kept[start:]
    return prefix + ' '.join(new_words)


# ---------------------------------------------------------------------------------------------
# The control socket (gunicorn >= 25.1) and the handover copy


def parse_version_info(text):
    """The version in gunicorn's ``gunicorn/__init__.py`` (``version_info = (25, 1, 0)``, the
    spelling of every release from 19 to 27) as a string such as '25.1.0', or None."""
    match = _VERSION_INFO.search(text or '')
    if match is None:
        return None
    return '.'.join(part for part in match.groups() if part is not None)


def version_tuple(version):
    """'25.1.0' -> (25, 1, 0); None or text that is not dotted numbers -> None."""
    if not version:
        return None
    parts = str(version).split('.')
    if not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


def shebang_interpreter(text):
    """The absolute interpreter path a script's first line names (a pip console script:
    ``#!/srv/venv/bin/python3``), or None (no shebang, or ``#!/usr/bin/env python3``)."""
    first = (text or '').split('\n', 1)[0]
    if not first.startswith('#!'):
        return None
    words = first[2:].split()
    if not words or not words[0].startswith('/') or os.path.basename(words[0]) == 'env':
        return None
    return words[0]


def gunicorn_package_globs(python, home=None):
    """Where the gunicorn package run by the interpreter ``python`` lives, as glob patterns of its
    ``gunicorn/__init__.py``, most specific first: the interpreter's own prefix (a virtual
    environment's ``lib/python3.X/site-packages``; symbolic links are not resolved, a venv's
    python links to the system's), the user's site (``pip install --user``), then the system's
    (Debian's ``dist-packages``)."""
    patterns = []
    if python and python.startswith('/'):
        prefix = os.path.dirname(os.path.dirname(python))
        patterns += [prefix + '/lib/python3*/site-packages/gunicorn/__init__.py',
                     prefix + '/lib/python3/dist-packages/gunicorn/__init__.py',
                     prefix + '/local/lib/python3*/dist-packages/gunicorn/__init__.py']
    if home:
        patterns.append(home.rstrip('/') + '/.local/lib/python3*/site-packages/gunicorn/__init__.py')
    patterns += ['/usr/local/lib/python3*/dist-packages/gunicorn/__init__.py',
                 '/usr/local/lib/python3*/site-packages/gunicorn/__init__.py',
                 '/usr/lib/python3/dist-packages/gunicorn/__init__.py',
                 '/usr/lib/python3*/site-packages/gunicorn/__init__.py']
    unique = []
    for pattern in patterns:
        if pattern not in unique:
            unique.append(pattern)
    return unique


def control_socket_support(version=None, args=(), env_args=(), config_text=None, observed=()):
    """Whether the service's gunicorn has the control socket (and so --no-control-socket).

    ``version``: gunicorn's version read on the host (or None); ``args``/``env_args``: its command
    line and GUNICORN_CMD_ARGS; ``config_text``: its config file; ``observed``: control sockets
    seen listening in its master process. Returns {'supported': True | False | None, 'why': text}:
    the version, when known, decides (True from 25.1 on); without it, True when a control socket
    is seen or a setting names one; None when nothing tells.
    """
    # The version on disk decides first: a handover copy starts the code installed now, which may
    # differ from what the running master was started from.
    parsed = version_tuple(version)
    if parsed is not None:
        if parsed >= CONTROL_SOCKET_SINCE:
            return {'supported': True, 'why': 'gunicorn %s has the control socket (since 25.1)' % version}
        return {'supported': False, 'why': 'gunicorn %s is older than 25.1, which added the control socket' % version}
    if observed:
        return {'supported': True, 'why': 'its master listens on the control socket %s' % ', '.join(observed)}
    named = [item['option'] for item in option_spans(list(args)) + option_spans(list(env_args))
             if item['option'] in CONTROL_SOCKET_OPTIONS]
    if named:
        return {'supported': True, 'why': 'its command line sets %s' % ', '.join(sorted(set(named)))}
    if config_text and _CONFIG_CONTROL.search(config_text):
        return {'supported': True, 'why': 'its config file sets the control socket'}
    return {'supported': None, 'why': "gunicorn's version was not found and no control socket of it is listening"}


def handover_exec_start(value, bind, umask=None, control_socket=False):
    """The ExecStart of the handover copy: ``bind`` only (and ``umask``), no pid file, and with
    ``control_socket`` (gunicorn >= 25.1) no control socket either: ``--no-control-socket`` and
    the service's own control-socket options removed, so the copy neither takes over nor, when it
    stops, deletes the service's control socket."""
    if control_socket:
        return rewrite_exec_start(value, [bind], umask, drop=('pid',) + CONTROL_SOCKET_OPTIONS, extra=['--no-control-socket'])
    return rewrite_exec_start(value, [bind], umask)


def unit_copy_text(cat_text, skip_sources=()):
    """A unit text (``systemctl cat`` output) for a copy of the unit: without [Install] sections,
    X- sections and the parts whose ``# /path`` header is in ``skip_sources``."""
    out = []
    source, section = None, None
    skip_source = False
    for line in cat_text.splitlines():
        stripped = line.strip()
        if stripped.startswith('#'):
            header = stripped[1:].strip()
            if header.startswith('/') and ' ' not in header:
                source = header
                skip_source = source in skip_sources
                section = None
        elif stripped.startswith('[') and stripped.endswith(']'):
            section = stripped[1:-1]
        if skip_source:
            continue
        if section is not None and (section == 'Install' or section.startswith('X-')):
            continue
        out.append(line)
    return '\n'.join(out).strip('\n') + '\n'
