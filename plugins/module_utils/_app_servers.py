# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app servers behind a same-host nginx pair, their listeners and the ExecStart rewrites that
move them onto systemd socket activation (stdlib only, no I/O).

Which server runs is read from the unit's ExecStart (``gunicorn``, ``python -m gunicorn``,
``uvicorn``, ``python -m uvicorn``, ``uwsgi`` and Debian's ``uwsgi_python3`` style names) and from
the processes holding the listener. gunicorn's own parsing is in ``_gunicorn``; this file has
uvicorn's and uWSGI's.

uvicorn (checked with 0.54.0 and the source of 0.14.0 and 0.15.0): the listener comes from
``--uds``/``--fd``/``--host``+``--port`` on the command line, else ``UVICORN_UDS``/``UVICORN_FD``/
``UVICORN_HOST``/``UVICORN_PORT`` (click's environment prefix), else 127.0.0.1:8000. ``--fd N``
takes a listening socket handed over by a process manager: systemd's socket activation passes the
first ``ListenStream`` as descriptor 3, so both the service and its handover copy run with
``--fd 3`` (each gets its own socket unit). uvicorn before 0.15 ignored ``--fd`` (and ``--uds``)
with ``--workers`` or ``--reload`` and bound 127.0.0.1:8000 instead. uvicorn takes one listener
only, so keeping the TCP address next to the socket is not possible. uvicorn trusts
X-Forwarded-For/-Proto only from the peers in ``--forwarded-allow-ips`` (default 127.0.0.1 and ::1);
over a Unix socket the peer has no address and nothing is trusted, so the app would lose the
client address and the https scheme: the rewrite sets ``--forwarded-allow-ips *`` where the TCP
peer is trusted now (the socket's mode and group decide who may connect; only nginx can).

uWSGI (checked with 2.0.31): every ``socket``/``uwsgi-socket`` (uwsgi protocol; nginx uses
``uwsgi_pass``) and ``http-socket`` (HTTP; ``proxy_pass``) option adds a listener, from the command
line, from ``UWSGI_*`` environment variables and from config files (``--ini``) alike; none can be
taken back on the command line, so a listener set in a config file or the environment is reported,
not rewritten. With ``LISTEN_PID``/``LISTEN_FDS`` uWSGI adopts every descriptor systemd passes as a
socket of the *default* protocol (uwsgi, or ``--protocol``'s), and a configured socket whose name
equals an adopted one is not bound again. The rewrite names the socket path on the command line
(so uWSGI binds it itself if started without systemd) and, for HTTP, adds ``--protocol=http``.
``--http`` starts uWSGI's HTTP router, a process of its own that binds its address itself; it is
refused with the fix (``--http-socket``, which uWSGI's docs recommend behind nginx).

Puma (Ruby; checked with Debian bookworm's 5.6.5 and trixie's 6.6.0): ``-b``/``--bind URI`` and ``-p``/``--port N``
(``tcp://0.0.0.0:N``) on the command line replace every bind of the config file (``-C``, else
``config/puma/<env>.rb`` or ``config/puma.rb`` under the working directory) and of config.ru's
``#\\`` options; without them those decide, else ``tcp://0.0.0.0:9292``. With
``LISTEN_PID``/``LISTEN_FDS`` Puma adopts a passed descriptor for the bind that names its address
(``unix://PATH``, ``tcp://HOST:PORT``) instead of binding it, in single and cluster mode, and closes
the passed ones no bind names. The rewrite replaces the pair's bind with ``-b unix://SOCKET`` (with
``drop_tcp: false`` the TCP bind stays and takes the socket unit's TCP descriptor). SIGTERM (systemd's
default) stops Puma gracefully: requests in flight are answered first. Over a Unix socket Puma sets
REMOTE_ADDR to 127.0.0.1, as over loopback TCP. A bind only in a config file is refused with the
fix (move it to ExecStart), as is a pair Puma's command line does not name. The handover copy runs
without the command line's ``--pidfile``/``--state``/``--control-url``/``--control-token``; it reads
the config file too, and measured with 5.6.5 and 6.6.0 a second Puma with the service's ``pidfile``,
``state_path`` or ``activate_control_app`` there rewrites the service's state file, deletes its
pidfile and exits when the control server's address is taken. The command line wins over the config
file (a control server can be moved, not turned off: ``--control-url ''`` is an invalid URI), so the
copy gets ``--pidfile``/``--state``/``--control-url unix://`` paths of its own for each of those words
a line scan of the config file finds (puma_config_shared; it cannot see files the config loads).
"""

from __future__ import annotations

import os
import re
import socket

from ansible_collections.keeplocal.traffic.plugins.module_utils import _gunicorn
from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import endpoint, parse_ip, parse_network, split_host_port

# Every app server the collection knows by process name: a hairpin to one of them from a client on its own host is a
# Unix-socket candidate (the planner), and the watch names its pairs by them. SERVERS: those this module switches.
KNOWN_SERVERS = ('daphne', 'granian', 'gunicorn', 'hypercorn', 'puma', 'unicorn', 'uvicorn', 'uwsgi', 'waitress')
SERVERS = ('gunicorn', 'uvicorn', 'uwsgi', 'puma')
# How messages spell them.
SERVER_NAMES = {'gunicorn': 'gunicorn', 'uvicorn': 'uvicorn', 'uwsgi': 'uWSGI', 'puma': 'Puma'}
# What each server speaks on the pair's listener: nginx must use the same (proxy_pass http:// or uwsgi_pass).
PROTOCOLS = ('http', 'uwsgi')
SOCKET_TEMPLATE = '/run/{app}/{server}.sock'
# systemd hands the first ListenStream of a socket unit over as descriptor 3 (SD_LISTEN_FDS_START).
LISTEN_FDS_START = 3
# uvicorn honours --fd with --workers and --reload from this version on (before, it bound 127.0.0.1:8000).
UVICORN_FD_WITH_WORKERS_SINCE = (0, 15)


def in_words(words, conjunction='or'):
    """``a, b, c or d`` for a message."""
    words = list(words)
    return words[0] if len(words) == 1 else '%s %s %s' % (', '.join(words[:-1]), conjunction, words[-1])


def switched_servers(conjunction='or'):
    """The servers this module switches, as messages spell them: ``gunicorn, uvicorn, uWSGI or Puma``."""
    return in_words((SERVER_NAMES[server] for server in SERVERS), conjunction)


_PYTHON = re.compile(r'^python[0-9.]*$')
_UWSGI = re.compile(r'^uwsgi(?:[_-][A-Za-z0-9.]+)?$')
_GUNICORN = re.compile(r'^gunicorn[0-9.-]*$')
_PUMA = re.compile(r'^puma[0-9.]*$')
_VERSION = re.compile(r'^__version__\s*(?::\s*str\s*)?=\s*[\'"]([0-9][0-9A-Za-z.+-]*)[\'"]', re.M)


# ---------------------------------------------------------------------------------------------
# Which server


def command_server(words):
    """(server, index of its first argument) for an ExecStart's words; (None, None) when it runs
    none of them directly (a wrapper script, a shell, another program)."""
    if not words:
        return None, None
    first = os.path.basename(words[0]['value'])
    if first == 'gunicorn' or _GUNICORN.match(first):
        return 'gunicorn', 1
    if first == 'uvicorn':
        return 'uvicorn', 1
    if _UWSGI.match(first):
        return 'uwsgi', 1
    if _PUMA.match(first):
        return 'puma', 1
    if _PYTHON.match(first) and len(words) > 2 and words[1]['value'] == '-m' and words[2]['value'] in ('gunicorn', 'uvicorn'):
        return words[2]['value'], 3
    return None, None


def process_server(comm, cmdline):
    """The app server a process belongs to (its master or a worker forked from it), or None.

    gunicorn and uWSGI fork their workers (same command line); uvicorn's ``--workers`` and
    ``--reload`` children are spawned interpreters (``python -c 'from multiprocessing.spawn ...'``),
    told apart by their parent (see build_pairs)."""
    if _gunicorn.is_gunicorn_process(comm, cmdline):
        return 'gunicorn'
    args = list(cmdline or [])
    # uWSGI's workers keep the master's command line; with procname options it reads 'uWSGI master', 'uWSGI worker 1'.
    if (comm or '').lower().startswith('uwsgi') or (args and (_UWSGI.match(os.path.basename(args[0]))
                                                              or args[0].lower().startswith('uwsgi '))):
        return 'uwsgi'
    if comm == 'uvicorn':
        return 'uvicorn'
    # Puma sets its title: 'puma 5.6.5 (tcp://127.0.0.1:9292) [app]', its workers 'puma: cluster worker 0: PID [app]'.
    if comm == 'puma' or (args and (_PUMA.match(os.path.basename(args[0])) or re.match(r'^puma[ :]', args[0]))):
        return 'puma'
    # Before it sets its title: ruby /usr/bin/puma ...
    if len(args) > 1 and os.path.basename(args[0]).startswith('ruby') and _PUMA.match(os.path.basename(args[1])):
        return 'puma'
    for index, arg in enumerate(args[:3]):
        if os.path.basename(arg) == 'uvicorn':
            return 'uvicorn'
        if arg == '-m' and index + 1 < len(args) and args[index + 1] == 'uvicorn':
            return 'uvicorn'
    return None


def socket_path(template, app, server):
    """The socket path of a template: ``{app}`` is the unit's name without .service, ``{server}``
    the app server (gunicorn, uvicorn, uwsgi, puma)."""
    return template.replace('{app}', app).replace('{server}', server)


def parse_version(text):
    """``__version__ = "0.54.0"`` in a package's ``__init__.py`` -> '0.54.0', or None."""
    match = _VERSION.search(text or '')
    return match.group(1) if match else None


def version_tuple(version):
    """'0.54.0' -> (0, 54, 0); leading numbers only ('0.15.0rc1' -> (0, 15, 0)); None -> None."""
    if not version:
        return None
    parts = []
    for part in str(version).split('.'):
        match = re.match(r'^([0-9]+)', part)
        if not match:
            break
        parts.append(int(match.group(1)))
    return tuple(parts) or None


# ---------------------------------------------------------------------------------------------
# Options in argument lists


def option_spans(values, options, flags=(), short=None):
    """Options in an argument list: [{'option', 'value', 'indexes'}].

    ``options``: long spellings taking a value (``--host``; ``--host X`` and ``--host=X``);
    ``flags``: long spellings without a value (value True; ``--no-x`` gives False for ``--x``);
    ``short``: {'-s': '--socket'} short spellings taking a value (``-s X``, ``-sX``). Names are
    returned as their long spelling without dashes, ``_`` read as ``-``.
    """
    short = short or {}
    found = []
    i = 0
    while i < len(values):
        arg = values[i]
        if arg == '--':
            break
        name, _sep, inline = arg.partition('=')
        canonical = name.replace('_', '-') if name.startswith('--') else name
        if canonical in options:
            if _sep:
                found.append({'option': canonical[2:], 'value': inline, 'indexes': [i]})
                i += 1
            elif i + 1 < len(values):
                found.append({'option': canonical[2:], 'value': values[i + 1], 'indexes': [i, i + 1]})
                i += 2
            else:
                found.append({'option': canonical[2:], 'value': None, 'indexes': [i]})
                i += 1
            continue
        if canonical in flags and not _sep:
            found.append({'option': canonical[2:], 'value': True, 'indexes': [i]})
            i += 1
            continue
        if canonical.startswith('--no-') and '--' + canonical[5:] in flags and not _sep:
            found.append({'option': canonical[5:], 'value': False, 'indexes': [i]})
            i += 1
            continue
        if not arg.startswith('--') and arg[:2] in short:
            long_ = short[arg[:2]]
            if len(arg) > 2:
                found.append({'option': long_[2:], 'value': arg[2:], 'indexes': [i]})
                i += 1
            elif i + 1 < len(values):
                found.append({'option': long_[2:], 'value': values[i + 1], 'indexes': [i, i + 1]})
                i += 2
            else:
                found.append({'option': long_[2:], 'value': None, 'indexes': [i]})
                i += 1
            continue
        i += 1
    return found


def rewrite_words(value, server, remove, added):
    """An ExecStart with the words of the options in ``remove`` (spans of option_spans, indexes
    counted from the server's first argument) left out and ``added`` (already quoted for a unit
    file) inserted right after the server's executable; every other word keeps its spelling."""
    prefix, words = _gunicorn.split_exec_start(value)
    found, start = command_server(words)
    if found != server:
        raise ValueError('ExecStart does not run %s directly (%s): a wrapper hides its options'
                         % (server, words[0]['value'] if words else 'empty'))
    skip = set()
    for span in remove:
        skip.update(index + start for index in span['indexes'])
    kept = [word['raw'] for index, word in enumerate(words) if index not in skip]
    return prefix + ' '.join(kept[:start] + list(added) + kept[start:])


def server_args(value, server):
    """The argument values after the server's executable in an ExecStart value."""
    dummy, words = _gunicorn.split_exec_start(value)
    found, start = command_server(words)
    if found != server:
        return None
    return [word['value'] for word in words[start:]]


def parse_tcp(address, default_host='127.0.0.1'):
    """'127.0.0.1:8000', ':8000', '[::1]:8000', 'localhost:8000' -> {host, port}; a path or an
    abstract name (@x) -> None."""
    if not address or address.startswith('/') or address.startswith('@') or ':' not in address:
        return None
    # uWSGI takes the port after the last colon, also of an IPv6 address without brackets.
    host, port = split_host_port(address) or address.rsplit(':', 1)
    if not port or not port.isdigit():
        return None
    return {'host': host or default_host, 'port': int(port)}


def trusted(allow, address):
    """Whether a forwarded-allow-ips value (comma-separated addresses, networks, ``*``) trusts
    ``address``."""
    for item in (allow or '').split(','):
        item = item.strip()
        if not item:
            continue
        if item == '*':
            return True
        addr = parse_ip(address, literal=True)
        try:
            network = parse_network(item)
        except ValueError:
            network = None
        if addr is None or network is None:
            if item == address:
                return True
        elif addr in network:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# uvicorn

UVICORN_OPTIONS = ('--host', '--port', '--uds', '--fd', '--workers', '--forwarded-allow-ips', '--ssl-keyfile', '--ssl-certfile')
UVICORN_FLAGS = ('--reload', '--proxy-headers')
_TRUE = ('1', 'true', 't', 'yes', 'y', 'on')


def uvicorn_settings(args, environment=None):
    """uvicorn's listener and the settings the switch depends on, as uvicorn resolves them.

    ``args``: the arguments after ``uvicorn``; ``environment``: the service's environment
    (``UVICORN_*`` variables, ``WEB_CONCURRENCY``, ``FORWARDED_ALLOW_IPS``). Returns host, port,
    uds, fd, binds (as gunicorn spells them: ``127.0.0.1:8000``, ``unix:/path``, ``fd://3``),
    bind_source, reload, workers, proxy_headers, forwarded_allow_ips, ssl and the option spans.
    """
    environment = environment or {}
    spans = option_spans(list(args), UVICORN_OPTIONS, UVICORN_FLAGS)
    given = {}
    for span in spans:
        given[span['option']] = span['value']

    def setting(name, default=None):
        if name in given and given[name] is not None:
            return given[name], 'command line'
        variable = 'UVICORN_' + name.upper().replace('-', '_')
        if environment.get(variable):
            return environment[variable], variable
        return default, 'default'

    host, host_source = setting('host', '127.0.0.1')
    port, port_source = setting('port', '8000')
    uds, uds_source = setting('uds')
    fd, fd_source = setting('fd')
    reload_, dummy = setting('reload', False)
    workers, dummy = setting('workers')
    if workers is None and environment.get('WEB_CONCURRENCY'):
        workers = environment['WEB_CONCURRENCY']
    proxy_headers, dummy = setting('proxy-headers', True)
    allow, allow_source = setting('forwarded-allow-ips')
    if allow is None:
        allow, allow_source = environment.get('FORWARDED_ALLOW_IPS', '127.0.0.1,::1'), (
            'FORWARDED_ALLOW_IPS' if 'FORWARDED_ALLOW_IPS' in environment else 'default')
    if fd is not None:
        binds, source = ['fd://%s' % fd], fd_source
    elif uds is not None:
        binds, source = ['unix:' + uds], uds_source
    else:
        binds = [endpoint(host, port)]
        source = 'command line' if 'command line' in (host_source, port_source) else (
            host_source if host_source != 'default' else port_source)
    return {
        'host': host, 'port': int(port) if str(port).isdigit() else None, 'uds': uds, 'fd': fd,
        'binds': binds, 'bind_source': source,
        'reload': reload_ is True or str(reload_).lower() in _TRUE,
        'workers': int(workers) if str(workers or '').isdigit() else None,
        'proxy_headers': proxy_headers is True or str(proxy_headers).lower() in _TRUE,
        'forwarded_allow_ips': allow, 'forwarded_allow_ips_source': allow_source,
        'ssl': bool(given.get('ssl-certfile') or environment.get('UVICORN_SSL_CERTFILE')),
        'spans': spans,
    }


def uvicorn_exec_start(value, fd=LISTEN_FDS_START, trust_all=False):
    """An ExecStart running uvicorn on the socket systemd passes as descriptor ``fd``: ``--host``,
    ``--port``, ``--uds`` and ``--fd`` removed, ``--fd 3`` added (and with ``trust_all``
    ``--forwarded-allow-ips *`` replacing the option's own value); every other word kept."""
    args = server_args(value, 'uvicorn')
    if args is None:
        raise ValueError('ExecStart does not run uvicorn directly: a wrapper hides its options')
    drop = ('host', 'port', 'uds', 'fd') + (('forwarded-allow-ips',) if trust_all else ())
    spans = [span for span in option_spans(args, UVICORN_OPTIONS, UVICORN_FLAGS) if span['option'] in drop]
    added = ['--fd', str(fd)] + (['--forwarded-allow-ips', _gunicorn.quote_word('*')] if trust_all else [])
    return rewrite_words(value, 'uvicorn', spans, added)


def uvicorn_problems(unit, settings, version, drop_tcp):
    """Reasons (code, text) why a uvicorn service cannot be switched as it runs, with the fix."""
    problems = []
    if settings['reload']:
        problems.append(('development_server', '%s runs uvicorn with --reload, its development mode (uvicorn\'s docs: for local '
                         'development; it restarts the server whenever a file under its directory changes, and the handover '
                         'copy would watch the same files): remove --reload from ExecStart (use --workers N for more '
                         'processes), restart %s and run again' % (unit, unit)))
    parsed = version_tuple(version)
    several = settings['reload'] or (settings['workers'] or 1) > 1
    if several and (parsed is None or parsed < UVICORN_FD_WITH_WORKERS_SINCE):
        problems.append(('server_version', '%s runs uvicorn %s with %s: uvicorn before 0.15 ignores --fd there and binds '
                         '127.0.0.1:8000 instead (%s): upgrade uvicorn to 0.15 or later in the service\'s environment, restart %s '
                         'and run again' % (unit, version or '(version not found)', '--reload' if settings['reload'] else
                                            '--workers %d' % settings['workers'],
                                            'the version was read from nothing' if parsed is None else 'version %s' % version, unit)))
    if not drop_tcp:
        problems.append(('keep_tcp_unsupported', 'uvicorn listens on one socket only (one --fd, --uds or --host/--port), so %s '
                         'cannot keep its TCP address next to the Unix socket: switch with drop_tcp (unix_sockets_drop_tcp: '
                         'true), or run it under gunicorn with uvicorn workers (gunicorn -k uvicorn.workers.UvicornWorker) '
                         'which binds both' % unit))
    if settings['ssl']:
        problems.append(('https', '%s runs uvicorn with TLS (--ssl-certfile): nginx would need TLS on the socket too' % unit))
    if settings['fd'] is not None:
        problems.append(('exec_start_unsupported', '%s runs uvicorn with --fd %s already: its socket comes from elsewhere '
                         '(a socket unit of its own?), change it by hand' % (unit, settings['fd'])))
    return problems


def uvicorn_trusts_peer(settings, peer):
    """Whether uvicorn applies nginx's X-Forwarded-For/-Proto now (proxy headers on and nginx's TCP
    address trusted): then the socket needs ``--forwarded-allow-ips *`` to keep doing so."""
    return settings['proxy_headers'] and trusted(settings['forwarded_allow_ips'], peer)


# ---------------------------------------------------------------------------------------------
# gunicorn with uvicorn's workers (the same trust question, gunicorn's option)


def gunicorn_worker_class(args, env_args, config_text):
    """gunicorn's worker class: -k/--worker-class (command line, GUNICORN_CMD_ARGS), else
    ``worker_class`` in the config file, else 'sync'."""
    for values in (args, env_args):
        spans = option_spans(list(values), ('--worker-class',), short={'-k': '--worker-class'})
        if spans and spans[-1]['value']:
            return spans[-1]['value']
    match = re.search(r'^worker_class\s*=\s*[\'"]([^\'"]+)[\'"]', config_text or '', re.M)
    return match.group(1) if match else 'sync'


def gunicorn_forwarded_allow_ips(args, env_args, config_text, environment=None):
    """gunicorn's forwarded_allow_ips: command line, GUNICORN_CMD_ARGS, config file,
    FORWARDED_ALLOW_IPS, default '127.0.0.1,::1'."""
    for values in (args, env_args):
        spans = option_spans(list(values), ('--forwarded-allow-ips',))
        if spans and spans[-1]['value'] is not None:
            return spans[-1]['value']
    match = re.search(r'^forwarded_allow_ips\s*=\s*[\'"]([^\'"]*)[\'"]', config_text or '', re.M)
    if match:
        return match.group(1)
    return (environment or {}).get('FORWARDED_ALLOW_IPS', '127.0.0.1,::1')


def is_uvicorn_worker(worker_class):
    """uvicorn.workers.UvicornWorker, UvicornH11Worker, uvicorn_worker.UvicornWorker (the split-out package)."""
    return 'uvicorn' in (worker_class or '').lower()


# ---------------------------------------------------------------------------------------------
# uWSGI

# Options that add a listener, and the protocol each speaks (None: the default protocol, uwsgi unless --protocol).
UWSGI_SOCKETS = {'socket': None, 'uwsgi-socket': 'uwsgi', 'http-socket': 'http', 'https-socket': 'https',
                 'fastcgi-socket': 'fastcgi', 'scgi-socket': 'scgi', 'suwsgi-socket': 'suwsgi', 'ssl-socket': 'suwsgi',
                 'raw-socket': 'raw', 'puwsgi-socket': 'puwsgi', 'zerg': None, 'shared-socket': None}
# Routers: processes of their own that bind their address themselves.
UWSGI_ROUTERS = ('http', 'https', 'http2', 'fastrouter', 'rawrouter', 'sslrouter')
# What a second instance (the handover copy) must not share with the service.
UWSGI_HANDOVER_DROP = ('pidfile', 'pidfile2', 'safe-pidfile', 'safe-pidfile2', 'stats', 'stats-server', 'master-fifo',
                       'daemonize', 'daemonize2')
UWSGI_CONFIGS = ('ini', 'yaml', 'yml', 'json', 'xml', 'emperor')
_UWSGI_VALUE_OPTIONS = tuple('--' + name for name in tuple(UWSGI_SOCKETS) + UWSGI_ROUTERS + UWSGI_HANDOVER_DROP
                             + UWSGI_CONFIGS + ('protocol', 'socket-protocol', 'chmod-socket', 'chmod', 'chdir'))
_UWSGI_SHORT = {'-s': '--socket', '-d': '--daemonize'}


def uwsgi_options(args):
    """uWSGI's options that matter here in an argument list (option_spans), config files given as
    a bare argument (``uwsgi app.ini``) included as ``ini``/``yaml``/``json``/``xml``."""
    spans = option_spans(list(args), _UWSGI_VALUE_OPTIONS, short=_UWSGI_SHORT)
    used = set(index for span in spans for index in span['indexes'])
    for index, arg in enumerate(args):
        if index in used or arg.startswith('-'):
            continue
        name = os.path.basename(arg).split(':', 1)[0]
        extension = name.rsplit('.', 1)[-1].lower() if '.' in name else ''
        if extension in ('ini', 'yaml', 'yml', 'json', 'xml') and (index == 0 or not args[index - 1].startswith('-')
                                                                   or args[index - 1] in ('-M', '--master')):
            spans.append({'option': 'yaml' if extension == 'yml' else extension, 'value': arg, 'indexes': [index]})
    return sorted(spans, key=lambda span: span['indexes'][0])


def parse_uwsgi_ini(text, section='uwsgi'):
    """``key = value`` entries of one section of a uWSGI ini file: [{'key', 'value', 'line'}]
    (keys with ``_`` read as ``-``; ``;`` and ``#`` comments)."""
    entries, current = [], None
    for number, raw in enumerate((text or '').splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in ';#':
            continue
        if line.startswith('[') and line.endswith(']'):
            current = line[1:-1].strip()
            continue
        if current != section or '=' not in line:
            continue
        key, value = line.split('=', 1)
        entries.append({'key': key.strip().replace('_', '-'), 'value': value.strip(), 'line': number})
    return entries


def ini_reference(value, cwd=None):
    """An ``--ini`` argument -> (absolute path, section): ``app.ini:other`` names a section."""
    path, section = value, 'uwsgi'
    if ':' in os.path.basename(value):
        path, section = value.rsplit(':', 1)
    if not os.path.isabs(path):
        path = os.path.normpath(os.path.join(cwd or '/', path))
    return path, section


def uwsgi_protocol(option, default=None):
    """The protocol a socket option speaks: http, uwsgi, or another (https, fastcgi ...)."""
    protocol = UWSGI_SOCKETS.get(option)
    if protocol is None:
        protocol = default or 'uwsgi'
    return protocol


def uwsgi_settings(args, environment=None, config_texts=None, cwd=None):
    """uWSGI's listeners and where each comes from.

    ``args``: the arguments after the executable; ``environment``: the service's ``UWSGI_*``
    variables; ``config_texts``: {path: text} of the ini files read on the host. Returns
    listeners [{option, address, protocol, source ('command line' | 'environment UWSGI_X' |
    'FILE line N'), span (command line only)}], protocol (--protocol), routers (the --http ...
    options), configs ([{kind, path, section, read}]), handover_conflicts (pidfile/stats/... set
    where the handover copy cannot drop them) and computed (listeners whose address a config
    computes: placeholders).
    """
    environment = environment or {}
    config_texts = config_texts or {}
    spans = uwsgi_options(args)
    result = {'listeners': [], 'protocol': None, 'routers': [], 'configs': [], 'handover_conflicts': [], 'computed': []}
    for span in spans:
        option = span['option']
        if option in ('protocol', 'socket-protocol'):
            result['protocol'] = span['value']
        elif option in UWSGI_SOCKETS:
            result['listeners'].append({'option': option, 'address': span['value'], 'source': 'command line', 'span': span})
        elif option in UWSGI_ROUTERS:
            result['routers'].append({'option': option, 'address': span['value'], 'source': 'command line'})
        elif option in UWSGI_CONFIGS:
            kind = 'yaml' if option == 'yml' else option
            if kind == 'ini' and span['value']:
                path, section = ini_reference(span['value'], cwd)
            else:
                path, section = span['value'], None
            result['configs'].append({'kind': kind, 'path': path, 'section': section, 'read': path in config_texts})
    for name, value in sorted(environment.items()):
        if not name.startswith('UWSGI_'):
            continue
        option = name[6:].lower().replace('_', '-')
        if option in UWSGI_SOCKETS:
            result['listeners'].append({'option': option, 'address': value, 'source': 'environment ' + name, 'span': None})
        elif option in UWSGI_ROUTERS:
            result['routers'].append({'option': option, 'address': value, 'source': 'environment ' + name})
        elif option in ('protocol', 'socket-protocol') and result['protocol'] is None:
            result['protocol'] = value
        elif option in UWSGI_HANDOVER_DROP:
            result['handover_conflicts'].append({'option': option, 'value': value, 'source': 'environment ' + name})
        elif option in UWSGI_CONFIGS:
            result['configs'].append({'kind': option, 'path': value, 'section': 'uwsgi', 'read': value in config_texts})
    for config in result['configs']:
        if config['kind'] != 'ini' or not config['read']:
            continue
        for entry in parse_uwsgi_ini(config_texts[config['path']], config['section']):
            where = '%s line %d' % (config['path'], entry['line'])
            if '%(' in entry['value'] or '$(' in entry['value']:
                if entry['key'] in UWSGI_SOCKETS or entry['key'] in UWSGI_ROUTERS:
                    result['computed'].append({'option': entry['key'], 'address': entry['value'], 'source': where})
                    continue
            if entry['key'] in UWSGI_SOCKETS:
                result['listeners'].append({'option': entry['key'], 'address': entry['value'], 'source': where, 'span': None})
            elif entry['key'] in UWSGI_ROUTERS:
                result['routers'].append({'option': entry['key'], 'address': entry['value'], 'source': where})
            elif entry['key'] in ('protocol', 'socket-protocol') and result['protocol'] is None:
                result['protocol'] = entry['value']
            elif entry['key'] in UWSGI_HANDOVER_DROP:
                result['handover_conflicts'].append({'option': entry['key'], 'value': entry['value'], 'source': where})
    for listener in result['listeners']:
        listener['protocol'] = uwsgi_protocol(listener['option'], result['protocol'])
        # https-socket and ssl-socket carry the certificate after the address: ADDR,CERT,KEY.
        listener['tcp'] = parse_tcp((listener['address'] or '').split(',')[0], '0.0.0.0')
    for router in result['routers']:
        router['tcp'] = parse_tcp((router['address'] or '').split(',')[0], '0.0.0.0')
    return result


def uwsgi_binds(settings):
    """The listeners as gunicorn spells binds ('127.0.0.1:8000', ':8000' read as 0.0.0.0, 'unix:/path')."""
    binds = []
    for listener in settings['listeners']:
        if listener['tcp']:
            binds.append(endpoint(listener['tcp']['host'], listener['tcp']['port']))
        elif listener['address']:
            binds.append('unix:' + listener['address'])
    return binds


def uwsgi_exec_start(value, listener, socket, keep_tcp=False, handover=False):
    """An ExecStart running uWSGI on ``socket`` under socket activation, with the listener's
    protocol: ``--http-socket PATH --protocol=http`` or ``--socket PATH`` (uwsgi protocol) right
    after the executable; the pair's TCP option removed unless ``keep_tcp`` (then its descriptor
    comes from the socket unit too); with ``handover`` the options a second instance must not
    share (pidfile, stats, master-fifo, daemonize) removed. Every other word is kept."""
    args = server_args(value, 'uwsgi')
    if args is None:
        raise ValueError('ExecStart does not run uWSGI directly: a wrapper hides its options')
    remove = []
    spans = uwsgi_options(args)
    if not keep_tcp and listener.get('span') is not None:
        remove.append(listener['span'])
    if handover:
        remove.extend(span for span in spans if span['option'] in UWSGI_HANDOVER_DROP)
    if listener['protocol'] == 'http':
        added = ['--http-socket', _gunicorn.quote_word(socket)]
        if not any(span['option'] in ('protocol', 'socket-protocol') and span['value'] == 'http' for span in spans):
            remove.extend(span for span in spans if span['option'] in ('protocol', 'socket-protocol'))
            added.append('--protocol=http')
    else:
        added = ['--socket', _gunicorn.quote_word(socket)]
    return rewrite_words(value, 'uwsgi', remove, added)


def uwsgi_problems(unit, settings, listener, port):
    """Reasons (code, text) why a uWSGI service cannot be switched as it runs, with the fix."""
    problems = []
    for router in settings['routers']:
        if router['tcp'] and router['tcp']['port'] == port:
            problems.append(('server_option_unsupported', '%s serves port %d with uWSGI\'s HTTP router (--%s %s, %s), a process of '
                             'its own that binds its address itself and cannot take a socket from systemd: replace it with '
                             '--http-socket %s (the workers speak HTTP themselves; what uWSGI\'s docs recommend behind nginx), '
                             'restart %s and run again' % (unit, port, router['option'], router['address'], router['source'],
                                                           router['address'], unit)))
    for config in settings['configs']:
        if config['kind'] in ('emperor',):
            problems.append(('server_option_unsupported', '%s runs the uWSGI emperor (--emperor %s): its apps and their sockets '
                             'are in the vassal files, each a process of its own: switch a vassal by hand' % (unit, config['path'])))
        elif config['kind'] != 'ini':
            problems.append(('config_file_unsupported', '%s reads its uWSGI settings from %s (--%s), which this module does not '
                             'read: give the sockets on ExecStart or in an ini file' % (unit, config['path'], config['kind'])))
        elif not config['read']:
            problems.append(('config_file_unsupported', '%s reads %s (--ini), which could not be read: run as root (become: true)'
                             % (unit, config['path'])))
    for computed in settings['computed']:
        problems.append(('config_file_binds', '%s: the listener %s = %s (%s) is computed from placeholders: give the address '
                         'literally on ExecStart' % (unit, computed['option'], computed['address'], computed['source'])))
    if listener is None:
        return problems
    if listener['span'] is None:
        option = '--%s %s' % (listener['option'], listener['address'])
        problems.append(('config_file_binds', '%s: uWSGI takes port %d from %s (%s = %s); every socket option there adds a '
                         'listener that ExecStart cannot take back, so the switch would leave the TCP listener bound and the '
                         'handover copy could not start: move it to ExecStart (delete that line, add %s to ExecStart), '
                         'restart %s and run again' % (unit, port, listener['source'], listener['option'], listener['address'],
                                                       option, unit)))
    if listener['protocol'] not in PROTOCOLS:
        problems.append(('https' if listener['protocol'] in ('https', 'suwsgi') else 'non_http_use',
                         '%s serves port %d with uWSGI\'s %s protocol (--%s): only HTTP (--http-socket, nginx proxy_pass) and '
                         'the uwsgi protocol (--socket, nginx uwsgi_pass) are switched' % (unit, port, listener['protocol'],
                                                                                           listener['option'])))
    for conflict in settings['handover_conflicts']:
        problems.append(('handover_conflict', '%s: uWSGI\'s %s = %s is set in %s, where the handover copy (a second uWSGI of the '
                         'same settings during the switch) cannot leave it out; it would take over or delete the service\'s: '
                         'move it to ExecStart (the copy runs without it there), restart %s and run again'
                         % (unit, conflict['option'], conflict['value'], conflict['source'], unit)))
    return problems


# ---------------------------------------------------------------------------------------------
# Puma

PUMA_OPTIONS = ('--bind', '--port', '--config', '--pidfile', '--state', '--control-url', '--control-token', '--workers',
                '--dir', '--environment')
PUMA_SHORT = {'-b': '--bind', '-p': '--port', '-C': '--config', '-S': '--state', '-w': '--workers', '-e': '--environment'}
# What a second Puma (the handover copy) must not share with the service: the files it writes and deletes on exit,
# its control server's address.
PUMA_HANDOVER_DROP = ('pidfile', 'state', 'control-url', 'control-token')
# The same three set in Puma's config file (its DSL words), which the handover copy reads too and no command line
# takes back: each gets the command-line option that overrides it (the command line wins over the config file) with
# a private path in the copy's own runtime directory. Measured with 5.6.5 and 6.6.0: without them the copy rewrites the
# service's state file, deletes its pidfile and, failing to bind the control server's address, exits.
PUMA_CONFIG_SHARED = (('pidfile', '--pidfile', 'puma.pid'), ('state_path', '--state', 'puma.state'),
                      ('activate_control_app', '--control-url', 'puma-control.sock'))
_PUMA_CONFIG_SHARED_WORDS = re.compile(r'\b(%s)\b' % '|'.join(word for word, dummy, dummy2 in PUMA_CONFIG_SHARED))
PUMA_DEFAULT_HOST = '0.0.0.0'


def puma_bind_address(value):
    """A Puma bind URI -> {'type': 'tcp', 'host', 'port'} | {'type': 'unix', 'path'} | {'type': other scheme}."""
    value = value or ''
    scheme, sep, rest = value.partition('://')
    if not sep:
        return {'type': 'invalid', 'value': value}
    scheme = scheme.lower()
    rest = rest.split('?', 1)[0]
    if scheme == 'unix':
        return {'type': 'unix', 'path': rest}
    if scheme in ('tcp', 'ssl'):
        tcp = parse_tcp(rest, PUMA_DEFAULT_HOST)
        if tcp is None:
            return {'type': 'invalid', 'value': value}
        return dict(tcp, type=scheme)
    return {'type': scheme, 'value': value}


def puma_settings(args, environment=None, cwd=None):
    """Puma's binds as its command line gives them: [{option, value, address, span}] (``-p N`` read as
    ``tcp://0.0.0.0:N``), the config file it reads (``-C``, else config/puma/<env>.rb or config/puma.rb under
    ``cwd``, which the caller checks exist), workers and the option spans."""
    environment = environment or {}
    spans = option_spans(list(args), PUMA_OPTIONS, short=PUMA_SHORT)
    binds = []
    for span in spans:
        if span['option'] == 'bind':
            binds.append({'option': 'bind', 'value': span['value'], 'address': puma_bind_address(span['value']), 'span': span})
        elif span['option'] == 'port':
            value = 'tcp://%s:%s' % (PUMA_DEFAULT_HOST, span['value'])
            binds.append({'option': 'port', 'value': span['value'], 'address': puma_bind_address(value), 'span': span})
    given = dict((span['option'], span['value']) for span in spans)
    directory = given.get('dir') or cwd or '/'
    if given.get('config'):
        configs = [given['config'] if os.path.isabs(given['config']) else os.path.normpath(os.path.join(directory, given['config']))]
    else:
        env = given.get('environment') or environment.get('RACK_ENV') or environment.get('RAILS_ENV') or 'development'
        configs = [os.path.join(directory, 'config/puma/%s.rb' % env), os.path.join(directory, 'config/puma.rb')]
    return {'binds': binds, 'config': given.get('config'), 'config_candidates': configs,
            'workers': int(given['workers']) if str(given.get('workers') or '').isdigit() else None, 'spans': spans}


def puma_binds(settings):
    """The binds as gunicorn spells them ('127.0.0.1:8000', 'unix:/path'); the default when none is given."""
    binds = []
    for bind in settings['binds']:
        address = bind['address']
        if address['type'] in ('tcp', 'ssl'):
            binds.append(endpoint(address['host'], address['port']))
        elif address['type'] == 'unix':
            binds.append('unix:' + address['path'])
    return binds


def puma_config_shared(text):
    """The DSL words of PUMA_CONFIG_SHARED (``pidfile``, ``state_path``, ``activate_control_app``) a Puma config file's
    text uses, in PUMA_CONFIG_SHARED's order. A line scan, not Ruby: whole-line comments and ``=begin``/``=end`` blocks
    are skipped, a word anywhere else on a line counts (a trailing comment naming one only adds a harmless override).
    It cannot see settings made in files the config loads (``load``, ``require``, ``instance_eval``) or by names it
    builds at run time."""
    found = set()
    in_block_comment = False
    for line in (text or '').splitlines():
        if in_block_comment:
            in_block_comment = not line.startswith('=end')
            continue
        if line.startswith('=begin'):
            in_block_comment = True
            continue
        if line.lstrip().startswith('#'):
            continue
        found.update(_PUMA_CONFIG_SHARED_WORDS.findall(line))
    return [word for word, dummy, dummy2 in PUMA_CONFIG_SHARED if word in found]


def puma_handover_overrides(shared, directory):
    """The command-line words giving the handover copy its own pidfile, state file and control server (each under
    ``directory``) for the config-file settings ``shared`` (from puma_config_shared). A control server cannot be
    turned off from the command line (``--control-url ''`` is an invalid URI to Puma), so it is moved."""
    words = []
    for word, option, name in PUMA_CONFIG_SHARED:
        if word in shared:
            path = directory.rstrip('/') + '/' + name
            words.extend([option, _gunicorn.quote_word('unix://' + path if option == '--control-url' else path)])
    return words


def puma_exec_start(value, bind, socket, keep_tcp=False, handover=False, overrides=()):
    """An ExecStart running Puma on ``socket`` (adopted from systemd): ``-b unix://SOCKET`` right after the
    executable, the pair's bind (``bind`` from puma_settings) removed unless ``keep_tcp`` (then its descriptor comes
    from the socket unit too); with ``handover`` the options a second instance must not share (--pidfile, --state,
    --control-url, --control-token) removed and ``overrides`` (puma_handover_overrides: private values for what the
    config file sets) added after the bind. Every other word is kept."""
    args = server_args(value, 'puma')
    if args is None:
        raise ValueError('ExecStart does not run Puma directly: a wrapper hides its options')
    remove = []
    if not keep_tcp:
        remove.append(bind['span'])
    added = ['-b', _gunicorn.quote_word('unix://' + socket)]
    if handover:
        remove.extend(span for span in option_spans(args, PUMA_OPTIONS, short=PUMA_SHORT) if span['option'] in PUMA_HANDOVER_DROP)
        added.extend(overrides)
    return rewrite_words(value, 'puma', remove, added)


def puma_problems(unit, settings, bind, port, configs_found=None):
    """Reasons (code, text) why a Puma service cannot be switched as it runs, with the fix. ``configs_found``: the
    config files of settings['config_candidates'] that exist on the host."""
    problems = []
    configs_found = list(configs_found or [])
    if not settings['binds']:
        where = (', '.join(configs_found) if configs_found else
                 'no config file (%s), so its default tcp://0.0.0.0:9292 or config.ru\'s options'
                 % ', '.join(settings['config_candidates']))
        problems.append(('config_file_binds', '%s: Puma takes port %d from %s, not from ExecStart; the switch rewrites '
                         'only ExecStart: move the bind to ExecStart (add -b tcp://127.0.0.1:%d there; a bind on the command '
                         'line replaces the config file\'s), restart %s and run again' % (unit, port, where, port, unit)))
        return problems
    if bind is None:
        return problems
    if bind['address']['type'] == 'ssl':
        problems.append(('https', '%s serves port %d with TLS (-b %s): nginx would need TLS on the socket too'
                         % (unit, port, bind['value'])))
    return problems


# ---------------------------------------------------------------------------------------------
# Asking a uwsgi-protocol socket (what nginx's uwsgi_pass sends), for probes: HTTP cannot ask it


def uwsgi_packet(variables):
    """A uwsgi-protocol request (modifier1 0: a WSGI request, no body): the 4-byte header
    (modifier1, the size of the variables as 16-bit little endian, modifier2) and each variable as
    16-bit little-endian length + bytes of its name, then of its value."""
    body = b''
    for name, value in variables.items():
        for part in (name.encode('latin-1'), str(value).encode('latin-1')):
            if len(part) > 0xffff:
                raise ValueError('uwsgi variable longer than 65535 bytes: %s' % name)
            body += len(part).to_bytes(2, 'little') + part
    if len(body) > 0xffff:
        raise ValueError('uwsgi request larger than 65535 bytes')
    return bytes([0]) + len(body).to_bytes(2, 'little') + bytes([0]) + body


def uwsgi_probe_request(path='/', host='localhost'):
    """The variables nginx's uwsgi_params send for a GET of ``path``, as a uwsgi packet."""
    path, _sep, query = path.partition('?')
    return uwsgi_packet({'REQUEST_METHOD': 'GET', 'REQUEST_URI': path + ('?' + query if query else ''), 'PATH_INFO': path,
                         'QUERY_STRING': query, 'SERVER_PROTOCOL': 'HTTP/1.1', 'SERVER_NAME': host, 'SERVER_PORT': '80',
                         'REMOTE_ADDR': '127.0.0.1', 'HTTP_HOST': host, 'wsgi.url_scheme': 'http'})


def response_status(data):
    """The status code of the HTTP response a uWSGI worker writes back (``HTTP/1.1 200 OK``), or None."""
    match = re.match(br'^HTTP/[0-9.]+ ([0-9]{3})', data or b'')
    return int(match.group(1)) if match else None


def http_probe_request(path='/', host='localhost'):
    """A plain HTTP/1.0 GET of ``path`` (the server closes the connection after the answer)."""
    return ('GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: keeplocal.traffic\r\n\r\n' % (path, host)).encode('latin-1')


PROBE_REQUESTS = {'http': http_probe_request, 'uwsgi': uwsgi_probe_request}


def probe_socket(path, protocol='http', request_path='/', timeout=5.0):
    """Ask the app server on the Unix socket ``path`` for ``request_path`` in its protocol.

    Returns the HTTP status it answered (both protocols answer with an HTTP status line), or
    raises OSError (nothing listens, refused, timeout) / ValueError (an answer that is not HTTP).
    """
    request = PROBE_REQUESTS[protocol](request_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(path)
        conn.sendall(request)
        data = b''
        while b'\r\n' not in data and len(data) < 4096:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    status = response_status(data)
    if status is None:
        raise ValueError('%s answered %r, not an HTTP status line' % (path, data[:80]))
    return status
