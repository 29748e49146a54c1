# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx -> local backend pairs and surgical rewrites of their addresses (stdlib only, no I/O).

Input is the configuration as _nginx_conf.read_config reads it: ``{'config': [{'file', 'text',
'parsed'}]}``, ``config[0]`` the main file. Every argument of a statement keeps the characters it
came from, so a rewrite replaces the characters of the one argument that changes, and comments,
blank lines, indentation and every other byte of the file stay as they were. ``plan`` is what the
module decides from the files nginx loads and the host's facts, the same in check mode and in a
real run (which then writes what it planned).

Shapes handled: ``upstream`` blocks with several servers and parameters (weight, max_fails,
fail_timeout, backup, ...), direct ``proxy_pass http://127.0.0.1:8000[/uri]``, ``localhost`` and
the host's own addresses, includes (also inside ``location`` and ``upstream`` blocks), several
servers and locations, directives spanning lines, quoted arguments.
"""

from __future__ import annotations

import datetime
import posixpath
import re
import shlex

from ansible_collections.keeplocal.traffic.plugins.module_utils import _app_servers
from ansible_collections.keeplocal.traffic.plugins.module_utils import _gunicorn
from ansible_collections.keeplocal.traffic.plugins.module_utils import _nginx_conf
from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import (
    endpoint,
    is_loopback,
    parse_ip,
    parse_port,
    split_host_port,
)

# The module's options.
ARGUMENT_SPEC = dict(
    mode=dict(type='str', choices=['discover', 'switch', 'revert'], default='discover'),
    address=dict(type='str'),
    socket=dict(type='str', default='/run/{app}/{server}.sock'),
    replace_sockets=dict(type='list', elements='str', default=[]),
    server_parameters=dict(type='list', elements='str', default=[]),
    drop_tcp=dict(type='bool', default=True),
    umask=dict(type='str', default='0117'),
    force=dict(type='bool', default=False),
    conf=dict(type='path', default='/etc/nginx/nginx.conf'),
    nginx_binary=dict(type='str', default='nginx'),
    validate=dict(type='bool', default=True),
    backup=dict(type='bool', default=True),
    backup_dir=dict(type='path', default='/var/backups/keeplocal/nginx'),
    backup_keep=dict(type='int', default=10),
)

LOCAL_NAMES = ('localhost', 'localhost.localdomain', 'ip6-localhost', 'ip6-loopback')
NON_HTTP_PASS = ('fastcgi_pass', 'uwsgi_pass', 'scgi_pass', 'grpc_pass', 'memcached_pass')
_HOSTPORT = re.compile(r'(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})(?![0-9])')


class NginxEditError(Exception):
    """An edit the configuration cannot take (two edits of the same characters)."""


# ---------------------------------------------------------------------------------------------
# Addresses


def split_hostport(text, default_port=None):
    """'127.0.0.1:8000' -> ('127.0.0.1', 8000); '[::1]:80' -> ('::1', 80); 'app' -> ('app', default);
    a port that is not a number: (host, None); not an nginx address (a bare IPv6 address): (None, None)."""
    split = split_host_port(text)
    if split is None:
        return None, None
    host, port = split
    if port is None:
        return host, default_port
    return host, int(port) if port.isdigit() else None


def is_local_host(host, local_addresses=()):
    """True for loopback addresses, localhost names, the unspecified address and own addresses."""
    if host is None:
        return False
    if host.lower() in LOCAL_NAMES:
        return True
    addr = parse_ip(host)
    if addr is None:
        return False
    if addr.is_loopback or addr.is_unspecified:
        return True
    return str(addr) in set(local_addresses or ())


def parse_server_address(text):
    """The address of an upstream ``server`` directive: unix path, or host and port (default 80)."""
    if text.startswith('unix:'):
        return {'type': 'unix', 'path': text[5:]}
    host, port = split_hostport(text, 80)
    if host is None or port is None:
        return {'type': 'unknown', 'text': text}
    return {'type': 'tcp', 'host': host, 'port': port}


def parse_proxy_url(url):
    """Split a proxy_pass URL into scheme, target and URI.

    ``http://127.0.0.1:8000/app/`` -> scheme http, target {tcp 127.0.0.1 8000}, uri '/app/';
    ``http://unix:/run/app.sock:/x/`` -> target {unix /run/app.sock}, uri '/x/';
    ``http://app`` -> target {name app} (an upstream or a host name), uri None.
    Variables make the target unknown (``{'type': 'variable'}``).
    """
    match = re.match(r'^([A-Za-z]+)://(.*)$', url, re.S)
    if not match:
        return None
    scheme, rest = match.group(1).lower(), match.group(2)
    if rest.startswith('unix:'):
        path = rest[5:]
        uri = None
        colon = path.find(':')
        if colon >= 0:
            path, uri = path[:colon], path[colon + 1:]
        return {'scheme': scheme, 'target': {'type': 'unix', 'path': path}, 'uri': uri, 'authority': 'unix:' + path}
    slash = rest.find('/')
    authority, uri = (rest, None) if slash < 0 else (rest[:slash], rest[slash:])
    if '$' in authority:
        return {'scheme': scheme, 'target': {'type': 'variable', 'text': authority}, 'uri': uri, 'authority': authority}
    host, port = split_hostport(authority, None)
    if host is None:
        return {'scheme': scheme, 'target': {'type': 'unknown', 'text': authority}, 'uri': uri, 'authority': authority}
    if port is None and ':' not in authority:
        target = {'type': 'name', 'host': host,
                  'port': 443 if scheme in ('https', 'grpcs') else 80}
    else:
        target = {'type': 'tcp', 'host': host, 'port': port}
    return {'scheme': scheme, 'target': target, 'uri': uri, 'authority': authority}


def url_target(url):
    """The target of a parsed proxy_pass URL, a host name without port taken as TCP."""
    target = url['target']
    if target['type'] == 'name':
        return {'type': 'tcp', 'host': target['host'], 'port': target['port']}
    return target


def proxy_url(scheme, target, uri):
    """Build a proxy_pass URL back: target is 'unix:/path' or 'host:port'."""
    if target.startswith('unix:'):
        return '%s://%s%s' % (scheme, target, (':' + uri) if uri is not None else '')
    return '%s://%s%s' % (scheme, target, uri or '')


def describe_ctx(ctx):
    """(('http', ()), ('server', ()), ('location', ('/',))) -> 'http > server > location /'."""
    return ' > '.join(' '.join((name,) + tuple(args)) for name, args in ctx)


def _in(ctx, name):
    return any(item[0] == name for item in ctx)


# ---------------------------------------------------------------------------------------------
# Analysis


def analyze(payload, local_addresses=()):
    """Every place the configuration names a backend, classified.

    Returns a dict:
      sites: the rewritable places (upstream ``server`` arguments and direct ``proxy_pass`` URLs),
        each {file, line, directive, occurrence, arg, context, kind, target, scheme, uri,
        upstream, params, local, http}; ``target`` is {type: tcp, host, port} or {type: unix, path};
      upstreams: {name: {file, line, servers: [site...], used_by: [{directive, scheme, file, line}]}};
      other_uses: non-HTTP uses (fastcgi_pass ..., stream proxy_pass) with their target or upstream;
      mentions: other directives whose arguments contain a host:port (proxy_redirect, set, listen ...);
      variables: proxy_pass directives whose target is a variable (cannot be followed);
      user: the ``user`` directive's arguments (nginx workers' user and group), or [];
      header_sets: the ``proxy_set_header`` directives of each block instance ({block key: [{name,
        value, file, line}]}, keys as ``walk(..., blocks=True)`` names them);
      proxy_passes: every http ``proxy_pass`` to an address or an upstream (not variables), each
        {file, line, directive, occurrence, context, url, path (its block key), upstream (name or None)}.
    """
    local_addresses = list(local_addresses or [])
    items = list(_nginx_conf.walk(payload, blocks=True))
    upstreams = {}
    stream_upstreams = {}
    for fname, stmt, ctx, occ, dummy_path in items:
        if stmt['directive'] == 'upstream' and stmt.get('args'):
            table = stream_upstreams if _in(ctx, 'stream') else upstreams
            table.setdefault(stmt['args'][0], {'file': fname, 'line': stmt['line'], 'servers': [], 'used_by': []})

    sites, other_uses, mentions, variables, user = [], [], [], [], []
    header_sets, proxy_passes = {}, []
    site_keys = set()

    def add_site(site, stmt):
        """A site once, however often its file is included; ``stmt`` (the statement, with its tokens) is what a rewrite edits."""
        key = (site['file'], site['line'], site['directive'], site['occurrence'], site['arg'])
        if key in site_keys:
            return None
        site_keys.add(key)
        site['stmt'] = stmt
        sites.append(site)
        return site

    for fname, stmt, ctx, occ, path in items:
        directive, args = stmt['directive'], stmt.get('args') or []
        where = {'file': fname, 'line': stmt['line'], 'directive': directive, 'occurrence': occ,
                 'context': describe_ctx(ctx)}
        if directive == 'user' and not ctx:
            user = list(args)
            continue
        if directive == 'proxy_set_header' and not _in(ctx, 'stream'):
            # What nginx sends to the backend; a static value naming the address stays the same after the switch,
            # so these are compared by request_changes, not listed as mentions.
            if len(args) >= 2:
                header_sets.setdefault(path, []).append({'name': args[0], 'value': args[1], 'file': fname, 'line': stmt['line']})
            continue
        if directive == 'server' and ctx and ctx[-1][0] == 'upstream' and args:
            name = ctx[-1][1][0] if ctx[-1][1] else ''
            table = stream_upstreams if _in(ctx, 'stream') else upstreams
            target = parse_server_address(args[0])
            site = dict(where, arg=0, kind='upstream_server', target=target, scheme=None, uri=None,
                        upstream=name, params=list(args[1:]), stream=_in(ctx, 'stream'),
                        local=target['type'] == 'tcp' and is_local_host(target['host'], local_addresses))
            if add_site(site, stmt) is not None and name in table:
                table[name]['servers'].append(site)
            continue
        if directive == 'proxy_pass' and args and _in(ctx, 'stream'):
            name_or_addr = args[0]
            other_uses.append(dict(where, value=name_or_addr, upstream=name_or_addr if name_or_addr in stream_upstreams else None,
                                   target=None if name_or_addr in stream_upstreams else parse_server_address(name_or_addr)))
            continue
        if directive == 'proxy_pass' and args:
            url = parse_proxy_url(args[0])
            if url is None:
                continue
            target = url['target']
            if target['type'] == 'variable':
                variables.append(dict(where, value=args[0]))
                continue
            instance = dict(where, url=url, path=path, upstream=None)
            if target['type'] == 'name' and target['host'] in upstreams:
                upstreams[target['host']]['used_by'].append(dict(where, scheme=url['scheme']))
                proxy_passes.append(dict(instance, upstream=target['host']))
                continue
            proxy_passes.append(instance)
            target = url_target(url)
            if target['type'] not in ('tcp', 'unix'):
                continue
            add_site(dict(where, arg=0, kind='proxy_pass', target=target, scheme=url['scheme'], uri=url['uri'],
                          upstream=None, params=[], stream=False,
                          local=target['type'] == 'tcp' and is_local_host(target['host'], local_addresses)), stmt)
            continue
        if directive == 'uwsgi_pass' and args and not _in(ctx, 'stream'):
            # uWSGI's own protocol: a same-host uWSGI serving --socket is switched like an HTTP backend.
            target = parse_uwsgi_pass(args[0])
            if target['type'] == 'variable':
                variables.append(dict(where, value=args[0]))
                continue
            if target['type'] == 'name' and target['host'] in upstreams:
                upstreams[target['host']]['used_by'].append(dict(where, scheme=target['scheme']))
                continue
            scheme = target.pop('scheme')
            if target['type'] == 'name':
                target = {'type': 'tcp', 'host': target['host'], 'port': target['port']}
            if target['type'] not in ('tcp', 'unix'):
                other_uses.append(dict(where, value=args[0], upstream=None, target=None))
                continue
            add_site(dict(where, arg=0, kind='uwsgi_pass', target=target, scheme=scheme, uri=None,
                          upstream=None, params=[], stream=False,
                          local=target['type'] == 'tcp' and is_local_host(target['host'], local_addresses)), stmt)
            continue
        if directive in NON_HTTP_PASS and args:
            value = args[0]
            bare = re.sub(r'^[a-z]+://', '', value)
            if bare in upstreams:
                upstreams[bare]['used_by'].append(dict(where, scheme=directive))
                other_uses.append(dict(where, value=value, upstream=bare, target=None))
            else:
                other_uses.append(dict(where, value=value, upstream=None, target=parse_server_address(bare)))
            continue
        for index, arg in enumerate(args):
            for match in _HOSTPORT.finditer(arg):
                host = match.group(1).strip('[]')
                mentions.append(dict(where, arg=index, value=arg, host=host, port=int(match.group(2)),
                                     local=is_local_host(host, local_addresses)))

    for name, upstream in stream_upstreams.items():
        for site in upstream['servers']:
            other_uses.append({'file': site['file'], 'line': site['line'], 'directive': 'server', 'occurrence': site['occurrence'],
                               'context': site['context'], 'value': site_text(site), 'upstream': name,
                               'target': site['target'], 'stream': True})
    for site in sites:
        if site['kind'] == 'upstream_server' and not site['stream']:
            used = upstreams.get(site['upstream'], {}).get('used_by', [])
            schemes = sorted(set(use['scheme'] for use in used))
            site['scheme'] = schemes[0] if len(schemes) == 1 else (','.join(schemes) if schemes else None)
            site['http'] = bool(schemes) and all(scheme in ('http', 'https') for scheme in schemes)
        else:
            site['http'] = site['kind'] == 'proxy_pass' and site['scheme'] in ('http', 'https')
        site['protocol'] = site_protocol(site['scheme'])
    sites = [site for site in sites if not site['stream']]
    return {'sites': sites, 'upstreams': upstreams, 'other_uses': other_uses, 'mentions': mentions,
            'variables': variables, 'user': user, 'header_sets': header_sets, 'proxy_passes': proxy_passes}


def parse_uwsgi_pass(value):
    """The target of a ``uwsgi_pass``: ``127.0.0.1:8000``, ``uwsgi://127.0.0.1:8000``, ``unix:/path``,
    ``uwsgi://unix:/path`` or an upstream name; ``suwsgi://`` is uwsgi over TLS. Returns a target dict
    (type tcp, unix, name (port 80, as nginx defaults it), variable or unknown) with its ``scheme``
    (uwsgi or suwsgi)."""
    scheme = 'uwsgi'
    match = re.match(r'^(uwsgi|suwsgi)://(.*)$', value, re.S | re.I)
    if match:
        scheme, value = match.group(1).lower(), match.group(2)
    if '$' in value:
        return {'type': 'variable', 'text': value, 'scheme': scheme}
    if value.startswith('unix:'):
        return {'type': 'unix', 'path': value[5:], 'scheme': scheme}
    host, port = split_hostport(value, None)
    if host is None:
        return {'type': 'unknown', 'text': value, 'scheme': scheme}
    if port is None and ':' not in value:
        return {'type': 'name', 'host': host, 'port': 80, 'scheme': scheme}
    if port is None:
        return {'type': 'unknown', 'text': value, 'scheme': scheme}
    return {'type': 'tcp', 'host': host, 'port': port, 'scheme': scheme}


def site_protocol(scheme):
    """What nginx speaks to a backend through a site: http (proxy_pass http:// or https://), uwsgi
    (uwsgi_pass, also suwsgi), or None (fastcgi, grpc, mixed uses of one upstream, unused)."""
    if scheme in ('http', 'https'):
        return 'http'
    if scheme in ('uwsgi', 'suwsgi'):
        return 'uwsgi'
    return None


def site_text(site):
    target = site['target']
    if target['type'] == 'unix':
        return 'unix:' + target['path']
    if target['type'] == 'tcp':
        return endpoint(target['host'], target['port'])
    return target.get('text', '')


def backend_key(target, local_addresses=()):
    """The key sites of one backend share: ('tcp', port) for local TCP targets, ('unix', path)."""
    if target['type'] == 'unix':
        return ('unix', target['path'])
    if target['type'] == 'tcp' and is_local_host(target['host'], local_addresses):
        return ('tcp', target['port'])
    return None


def group_backends(analysis, local_addresses=()):
    """Local backends named by the configuration: {key: {sites, other_uses, mentions}}."""
    backends = {}
    for site in analysis['sites']:
        key = backend_key(site['target'], local_addresses)
        if key is None:
            continue
        entry = backends.setdefault(key, {'key': key, 'sites': [], 'other_uses': [], 'mentions': []})
        entry['sites'].append(site)
    for use in analysis['other_uses']:
        targets = []
        if use.get('target'):
            targets.append(use['target'])
        if use.get('upstream') and use['upstream'] in analysis['upstreams']:
            targets.extend(site['target'] for site in analysis['upstreams'][use['upstream']]['servers'])
        for target in targets:
            key = backend_key(target, local_addresses)
            if key in backends:
                backends[key]['other_uses'].append(use)
    for mention in analysis['mentions']:
        if mention['local'] and ('tcp', mention['port']) in backends:
            backends[('tcp', mention['port'])]['mentions'].append(mention)
    return backends


def remote_sites(analysis, local_addresses=()):
    """Sites that name another host (not a same-host pair)."""
    return [site for site in analysis['sites']
            if site['target']['type'] == 'tcp' and not is_local_host(site['target']['host'], local_addresses)]


def nginx_problems(backend):
    """Reasons (code, text) why nginx's side of a backend cannot be switched to a Unix socket."""
    problems = []
    for use in backend['other_uses']:
        problems.append(('non_http_use', '%s %s at %s:%s is neither HTTP proxying nor uwsgi_pass (an app server is reached '
                         'with proxy_pass http:// or uwsgi_pass)' % (use['directive'], use['value'], use['file'], use['line'])))
    for site in backend['sites']:
        if site['protocol'] is None:
            problems.append(('non_http_use', '%s at %s:%s is used by %s, not proxy_pass http:// or uwsgi_pass'
                             % (site_text(site), site['file'], site['line'], site['scheme'] or 'nothing')))
        elif site['scheme'] not in ('http', 'uwsgi'):
            problems.append(('https', '%s at %s:%s is proxied with %s://: the app server would need TLS on the socket too'
                             % (site_text(site), site['file'], site['line'], site['scheme'])))
    protocols = sorted(set(site['protocol'] for site in backend['sites'] if site['protocol']))
    if len(protocols) > 1:
        problems.append(('protocol_mismatch', 'nginx speaks %s to this backend: %s; one app server listener speaks one of them, '
                         'so one of these cannot work now: correct the configuration first'
                         % (' and '.join(protocols), ', '.join('%s (%s at %s:%s)' % (site['protocol'], site['scheme'], site['file'], site['line'])
                                                               for site in backend['sites'] if site['protocol']))))
    return problems + mention_problems(backend)


def mention_problems(backend):
    """The other directives naming the backend's address (reviewed by hand)."""
    problems = []
    for mention in backend['mentions']:
        problems.append(('mentioned', '%s at %s:%s names %s: review it by hand (after the switch $proxy_host is "localhost")'
                         % (mention['directive'], mention['file'], mention['line'], mention['value'])))
    return problems


# ---------------------------------------------------------------------------------------------
# What the app receives: over TCP now and over the Unix socket after the switch
#
# nginx sends the proxy_set_header directives of the innermost level (location, server, http) that has
# any: a level with one proxy_set_header inherits none from the levels around it. Host and Connection
# are nginx's defaults where that set names none; the default Host is $proxy_host. $proxy_host is the
# upstream's name for proxy_pass http://NAME (a switch edits the server lines, not that name: nothing
# changes), and host:port as written for proxy_pass http://127.0.0.1:8000 (the port left out when it is
# the scheme's default), which becomes "localhost" for proxy_pass http://unix:/path:, with $proxy_port
# empty. gunicorn puts the connection's peer into REMOTE_ADDR: the address nginx connected from over TCP
# (the loopback or own address it dialled), an empty string over a Unix socket, which has no peer
# address (measured with gunicorn 24.1 to 27.0). Headers nginx builds from the client ($remote_addr,
# $proxy_add_x_forwarded_for, $host, ...) do not depend on the backend's address.
#
# The rewriter does not add a proxy_set_header itself: in a block without one it would stop the
# inheritance of every proxy_set_header of the levels around it, and anywhere it would be the one edit
# that adds a line, which a revert to byte-identical files would have to find and take out again. A pair
# whose headers change is refused with the line to add instead (or switched with force).

_PROXY_VARS = re.compile(r'\$(?:\{(proxy_host|proxy_port)\}|(proxy_host|proxy_port)(?![A-Za-z0-9_]))')
DEFAULT_HEADERS = (('Host', '$proxy_host'), ('Connection', 'close'))
CLIENT_ADDRESS_HEADERS = ('x-forwarded-for', 'x-real-ip', 'forwarded')
SOCKET_PROXY_VARIABLES = {'proxy_host': 'localhost', 'proxy_port': ''}


def proxy_variables(url):
    """$proxy_host and $proxy_port of a parsed proxy_pass URL to an address or an upstream name."""
    default = 443 if url['scheme'] == 'https' else 80
    target = url['target']
    if target['type'] == 'unix':
        return dict(SOCKET_PROXY_VARIABLES)
    authority = url['authority']
    host, port = split_hostport(authority, None)
    host_text = authority.rsplit(':', 1)[0] if port is not None else authority
    if port is None or port == default:
        return {'proxy_host': host_text, 'proxy_port': str(default)}
    return {'proxy_host': '%s:%d' % (host_text, port), 'proxy_port': str(port)}


def effective_headers(analysis, proxy_pass):
    """The proxy_set_header directives that apply to a proxy_pass: (block key of their level or None, list)."""
    path = proxy_pass['path']
    for size in range(len(path), -1, -1):
        headers = analysis.get('header_sets', {}).get(path[:size])
        if headers:
            return path[:size], headers
    return None, []


def _peer_address(target):
    """The address nginx connects from to a TCP target on this host, which gunicorn reports as REMOTE_ADDR."""
    addr = parse_ip(target['host'], literal=True)
    if addr is None:
        return '127.0.0.1'  # localhost and the other local names
    if addr.is_unspecified:
        return '127.0.0.1' if addr.version == 4 else '::1'
    return str(addr)


def _where(item):
    return '%s:%s' % (item['file'], item['line'])


def _shown(value):
    return value if value != '' else '(empty: not sent)'


def _conf_value(value):
    if value == '' or re.search(r'[\s;{}"\'#]', value):
        return '"%s"' % value.replace('\\', '\\\\').replace('"', '\\"')
    return value


def _fix(header, before, level, headers, proxy_pass):
    """The line that keeps ``header`` as it is over TCP, and where it goes."""
    line = '`proxy_set_header %s %s;`' % (header['name'], _conf_value(before))
    if header.get('file') is not None and level == proxy_pass['path']:
        return 'write %s instead of the proxy_set_header %s at %s' % (line, header['name'], _where(header))
    inherited = [item for item in headers if item is not header]
    if level is None:
        return 'add %s to the block of that proxy_pass (no proxy_set_header applies there, so none is lost)' % line
    if level == proxy_pass['path']:
        return 'add %s next to the proxy_set_header lines of that block (%s)' % (line, _where(headers[0]))
    if not inherited:
        return 'add %s to the block of that proxy_pass, instead of relying on the one it inherits from %s' % (line, _where(header))
    return ('add %s to the block of that proxy_pass together with copies of the %d proxy_set_header lines it inherits now (%s): '
            'a proxy_set_header in a block stops the inheritance of all of them'
            % (line, len(inherited), ', '.join(_where(item) for item in inherited)))


def request_changes(backend, analysis):
    """What the app receives through each proxy_pass that reaches a TCP backend, over TCP and over the socket.

    Returns (requests, problems): requests {(file, line, occurrence): [request...]} per site of the backend, each request
    {file, line, context, upstream, headers_from, tcp, socket, client_address_headers} where tcp/socket map
    Host, every other header built from $proxy_host/$proxy_port, and REMOTE_ADDR to their values; problems are
    reasons (host_header_changes, proxy_header_changes) for each header that would differ.
    """
    requests, problems, seen = {}, [], set()
    for site in backend['sites']:
        if site['target']['type'] != 'tcp':
            continue
        if site['kind'] == 'upstream_server':
            instances = [item for item in analysis.get('proxy_passes', []) if item['upstream'] == site['upstream']]
        else:
            instances = [item for item in analysis.get('proxy_passes', []) if item['upstream'] is None
                         and (item['file'], item['line'], item['occurrence']) == (site['file'], site['line'], site['occurrence'])]
        found = requests.setdefault((site['file'], site['line'], site['occurrence']), [])
        for proxy_pass in instances:
            level, headers = effective_headers(analysis, proxy_pass)
            named = set(item['name'].lower() for item in headers)
            applied = list(headers) + [{'name': name, 'value': value, 'file': None, 'line': None}
                                       for name, value in DEFAULT_HEADERS if name.lower() not in named]
            tcp_vars = proxy_variables(proxy_pass['url'])
            socket_vars = tcp_vars if proxy_pass['upstream'] else SOCKET_PROXY_VARIABLES
            tcp, socket = {}, {}
            for header in applied:
                if header['name'].lower() != 'host' and not _PROXY_VARS.search(header['value']):
                    continue
                before = _PROXY_VARS.sub(lambda m: tcp_vars[m.group(1) or m.group(2)], header['value'])
                after = _PROXY_VARS.sub(lambda m: socket_vars[m.group(1) or m.group(2)], header['value'])
                tcp[header['name']], socket[header['name']] = before, after
                if before == after:
                    continue
                code = 'host_header_changes' if header['name'].lower() == 'host' else 'proxy_header_changes'
                source = ('proxy_set_header %s %s at %s' % (header['name'], header['value'], _where(header)) if header['file']
                          else "$proxy_host, nginx's default: no proxy_set_header %s applies there" % header['name'])
                msg = ('proxy_pass %s at %s (%s) sends %s: %s over TCP and would send %s: %s over the socket (%s)%s. Fix: %s'
                       % (proxy_pass['url']['scheme'] + '://' + proxy_pass['url']['authority'], _where(proxy_pass),
                          proxy_pass['context'], header['name'], _shown(before), header['name'], _shown(after), source,
                          '; an app that checks Host (Django\'s ALLOWED_HOSTS) answers 400 to it' if code == 'host_header_changes' else '',
                          _fix(header, before, level, headers, proxy_pass)))
                if msg not in seen:
                    seen.add(msg)
                    problems.append((code, msg))
            tcp['REMOTE_ADDR'], socket['REMOTE_ADDR'] = _peer_address(site['target']), ''
            found.append({
                'file': proxy_pass['file'], 'line': proxy_pass['line'], 'context': proxy_pass['context'],
                'upstream': proxy_pass['upstream'], 'headers_from': _where(headers[0]) if headers else None,
                'tcp': tcp, 'socket': socket,
                'client_address_headers': [item['name'] for item in headers
                                           if item['name'].lower() in CLIENT_ADDRESS_HEADERS and item['value'] != ''],
            })
    return requests, problems


_PEER_TEXT = {
    'gunicorn': ('gunicorn sees REMOTE_ADDR %s over TCP and an empty REMOTE_ADDR over the Unix socket (a Unix socket has no peer '
                 'address; no nginx setting changes that): what reads it (gunicorn\'s access log %%(h)s, Django\'s INTERNAL_IPS, '
                 'rate limits or address checks on REMOTE_ADDR) gets an empty string after the switch'),
    'uwsgi': ('uWSGI sets REMOTE_ADDR %s over TCP and 0.0.0.0 over the Unix socket (a Unix socket has no peer address; no nginx '
              'setting changes that): what reads it (uWSGI\'s request log, Django\'s INTERNAL_IPS, rate limits or address '
              'checks on REMOTE_ADDR) gets 0.0.0.0 after the switch'),
    'uvicorn': ('uvicorn gives the app the client %s over TCP and none over the Unix socket (scope["client"] is None: a Unix '
                'socket has no peer address; no nginx setting changes that): what reads it (uvicorn\'s access log, '
                'request.client in Starlette and FastAPI, rate limits) gets None after the switch, unless uvicorn takes the '
                'client from X-Forwarded-For'),
    'puma': ('Puma sets REMOTE_ADDR %s over TCP and 127.0.0.1 over the Unix socket (Puma\'s stand-in for a Unix socket peer, '
             'which has no address; no nginx setting changes that): what reads it (Rack::Request#ip, Rails\' remote_ip, '
             'rate limits or address checks on REMOTE_ADDR) gets 127.0.0.1 after the switch'),
}


def nginx_warnings(backend, analysis, requests=None, server='gunicorn'):
    """Behaviour that changes with the switch but does not block it: the peer address the app server reports
    (REMOTE_ADDR), which no nginx setting keeps (``requests`` from request_changes; ``server`` the app server), and
    proxy_pass targets nginx computes from variables."""
    warnings = []
    found = [request for key in sorted(requests or {}) for request in requests[key]]
    if found:
        before = ', '.join(sorted(set(request['tcp']['REMOTE_ADDR'] for request in found)))
        carried = sorted(set(name for request in found for name in request['client_address_headers']))
        bare = sorted(set(_where(request) for request in found if not request['client_address_headers']))
        text = _PEER_TEXT.get(server, _PEER_TEXT['gunicorn']) % before
        if carried:
            text += '; the client\'s address, which nginx passes in %s, stays the same' % ' and '.join(carried)
        if bare:
            text += ('; the proxy_pass at %s passes the client\'s address in no header (X-Forwarded-For, X-Real-IP, Forwarded), '
                     'so REMOTE_ADDR is the only address the app gets there' % ', '.join(bare))
        warnings.append(text)
    for variable in analysis['variables']:
        warnings.append('proxy_pass %s at %s:%s uses variables and cannot be followed'
                        % (variable['value'], variable['file'], variable['line']))
    return warnings


# ---------------------------------------------------------------------------------------------
# Edits


def _matches(site, match_port, match_sockets, local_addresses):
    target = site['target']
    if target['type'] == 'tcp':
        return match_port is not None and target['port'] == match_port and is_local_host(target['host'], local_addresses)
    if target['type'] == 'unix':
        return target['path'] in match_sockets
    return False


def _param_key(param):
    return param.split('=', 1)[0]


def _quote_like(token, value):
    if not token['quoted']:
        return value
    quote = '"' if '"' not in value else "'"
    return quote + value + quote


def _replacements(site, to, server_parameters):
    """The (token, new text) pairs that point one site at ``to``."""
    tokens = site['stmt']['tokens']
    token = tokens[site['arg']]
    if site['kind'] == 'proxy_pass':
        url = parse_proxy_url(token['value'])
        new_value = proxy_url(url['scheme'], to, url['uri'])
        return [(token, _quote_like(token, new_value))] if new_value != token['value'] else []
    if site['kind'] == 'uwsgi_pass':
        prefix = re.match(r'^((?:s?uwsgi://)?)', token['value'], re.I).group(1)
        new_value = prefix + to
        return [(token, _quote_like(token, new_value))] if new_value != token['value'] else []
    replacements, appended = [], []
    existing = dict((_param_key(arg['value']), arg) for arg in tokens[site['arg'] + 1:])
    for param in server_parameters or ():
        old = existing.get(_param_key(param))
        if old is None:
            appended.append(param)
        elif old['value'] != param:
            replacements.append((old, _quote_like(old, param)))
    if to != token['value'] or appended:
        replacements.append((token, ' '.join([_quote_like(token, to)] + appended)))
    return replacements


def rewrite(payload, match_port=None, match_sockets=(), to=None, local_addresses=(), server_parameters=()):
    """Rewrite the sites naming a backend to ``to`` ('unix:/path' or 'host:port').

    ``payload``: the configuration as _nginx_conf.read_config reads it (the edits replace the characters
    of its tokens in its texts). ``match_port``: local TCP targets on this port (any loopback/own
    address or localhost name); ``match_sockets``: Unix socket paths that also count as the backend
    (e.g. a handover socket). ``server_parameters``: parameters set on rewritten upstream ``server``
    lines ('fail_timeout=0': replaces an existing parameter with the same name, else appended after
    the address).

    Returns {'texts': {file: new text} (changed files only), 'changes': [{file, line, directive,
    before, after}]}.
    """
    if to is None:
        raise ValueError('rewrite needs a target')
    match_sockets = set(match_sockets or ())
    analysis = analyze(payload, local_addresses)
    chosen = [site for site in analysis['sites'] if _matches(site, match_port, match_sockets, local_addresses)]
    # Do not rewrite a site into what it already is.
    chosen = [site for site in chosen if not (site['target']['type'] == 'unix' and to == 'unix:' + site['target']['path'] and not server_parameters)]
    texts = dict((entry['file'], entry['text']) for entry in payload['config'])
    edits_by_file = {}
    for site in chosen:
        edits_by_file.setdefault(site['file'], []).append(site)

    new_texts, changes = {}, []
    for fname in sorted(edits_by_file):
        text = texts[fname]
        spans = []
        for site in edits_by_file[fname]:
            for token, replacement in _replacements(site, to, server_parameters):
                spans.append((token['start'], token['end'], replacement, token['line'], site))
        if not spans:
            continue
        spans.sort(key=lambda span: (span[0], span[1]))
        pieces, last = [], 0
        for start, end, replacement, dummy_line, dummy_site in spans:
            if start < last:
                raise NginxEditError('overlapping edits in %s' % fname)
            pieces.append(text[last:start])
            pieces.append(replacement)
            last = end
        pieces.append(text[last:])
        new_text = ''.join(pieces)
        if new_text == text:
            continue
        new_texts[fname] = new_text
        # Replacements never add or remove newlines, so line numbers hold in both texts.
        old_lines, new_lines = text.splitlines(), new_text.splitlines()
        seen = set()
        for dummy_start, dummy_end, dummy_replacement, line, site in spans:
            if line in seen:
                continue
            seen.add(line)
            changes.append({'file': fname, 'line': line, 'directive': site['directive'],
                            'before': old_lines[line - 1], 'after': new_lines[line - 1]})
    return {'texts': new_texts, 'changes': changes}


# ---------------------------------------------------------------------------------------------
# Input checks, backups and the health of the configuration before any change

BACKUP_DIR = ARGUMENT_SPEC['backup_dir']['default']
# One run's backup directory: UTC time to the microsecond (names sort in the order the runs
# happened) and the writing process.
_RUN = re.compile(r'^[0-9]{8}T[0-9]{6}[.][0-9]{6}Z-[0-9]+$')
# nginx -t reports 'nginx: [emerg] MSG in FILE:LINE' or, once its error log is set up, '2026/01/01 10:00:00
# [emerg] PID#TID: MSG in FILE:LINE'.
_NGINX_EMERG = re.compile(r'\[emerg\] (?:[0-9]+#[0-9]+: )?(?P<message>.*?)(?: in (?P<file>/.*?):(?P<line>[0-9]+))?[ \t]*$', re.M)


def parse_address(text):
    """The backend address as (host, port); ValueError names the field, what is wrong and the fix."""
    host, port = split_hostport(text or '')
    if not host or port is None:
        raise ValueError('address: %r is not host:port (the TCP address nginx proxies to now, for example 127.0.0.1:8000)' % text)
    try:
        return host, parse_port(port)
    except ValueError:
        raise ValueError('address: the port of %r is not a port number (1-65535): give the TCP address nginx proxies '
                         'to now, for example 127.0.0.1:8000' % text) from None


PLACEHOLDER = re.compile(r'\{[a-z]+\}')


def has_placeholder(path):
    """Whether ``path`` still names {app} or {server}, filled in from the app server found."""
    return bool(PLACEHOLDER.search(path))


def socket_path_problem(path):
    """Why nginx should not be pointed at a socket at ``path``, or None."""
    placeholders = PLACEHOLDER.findall(path)
    if placeholders:
        return ('the socket %s still names %s, which only a recognised app server under systemd fills in ({app} the unit, '
                '{server} %s): give the socket path' % (path, ' and '.join(placeholders), _app_servers.in_words(_app_servers.SERVERS)))
    if not posixpath.normpath(path).startswith('/run/'):
        return ('the socket %s is outside /run: use /run/<app>/ (emptied at every boot, so no stale socket outlives its '
                'service; /tmp is hidden from services with PrivateTmp)' % path)
    return None


def sites_naming(analysis, port=None, sockets=(), local_addresses=()):
    """The sites naming a backend: local TCP targets on ``port``, or one of the Unix ``sockets``."""
    return [site for site in analysis['sites'] if _matches(site, port, set(sockets), local_addresses)]


def not_proxied_message(address, port, sockets, analysis, local_addresses, files):
    """The refusal when nothing in the configuration names the backend, with what it does name."""
    named = sorted(set('%s (%s:%s)' % (site_text(site), site['file'], site['line']) for site in analysis['sites']
                       if backend_key(site['target'], local_addresses) is not None))
    return ('address: nginx does not proxy to %s: no upstream server or proxy_pass in the %d files nginx loads names port %d '
            'on a local address%s. Give the address nginx proxies to now; %s'
            % (address, len(files), port, ''.join(' or unix:%s' % path for path in sockets),
               ('the same-host backends it names: ' + ', '.join(named)) if named else 'it names no same-host backend'))


def run_id(timestamp, pid):
    """The name of one run's backup directory, for example 20260101T100000.000042Z-4242."""
    when = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return when.strftime('%Y%m%dT%H%M%S.%fZ') + '-%d' % pid


def expired_runs(names, keep):
    """The run directories among ``names`` beyond the newest ``keep``; names that are not runs stay."""
    runs = sorted(name for name in names if _RUN.match(name))
    return runs[:max(len(runs) - keep, 0)]


def backup_path(run_dir, path):
    """Where the backup of ``path`` goes: its absolute path mirrored under the run's directory."""
    return posixpath.join(run_dir, posixpath.normpath(path).lstrip('/'))


def _under(path, directory):
    path, directory = posixpath.normpath(path), posixpath.normpath(directory)
    return path == directory or path.startswith(directory.rstrip('/') + '/')


def backup_dir_problem(backup_dir, conf, files):
    """Why nginx could load backups kept in ``backup_dir``, or None. ``files``: what nginx loads."""
    conf_dir = posixpath.dirname(posixpath.normpath(conf))
    if _under(backup_dir, conf_dir):
        return ("backup_dir: %s is inside nginx's configuration directory %s, where an include can load the backups as "
                "configuration: choose a directory nginx never includes (the default is %s)" % (backup_dir, conf_dir, BACKUP_DIR))
    for item in files:
        for path in (item['path'], item.get('realpath') or item['path']):
            if _under(path, backup_dir):
                return ('backup_dir: nginx loads %s, which is inside %s: choose a directory nginx never includes (the default '
                        'is %s)' % (path, backup_dir, BACKUP_DIR))
    return None


def leftover_problem(files, backup_dir):
    """The refusal when nginx loads a backup copy (a name ending in ~), or None.

    ansible's ``backup`` options and editors put such copies next to the file they copy; in a
    directory an include pulls in as a whole (Debian's ``include /etc/nginx/sites-enabled/*;``)
    nginx loads them as configuration, and a switch would rewrite them too.
    """
    leftovers = [item['path'] for item in files if item['path'].endswith('~')]
    if not leftovers:
        return None
    return ('nginx loads %s as configuration: a backup copy (the name ends in ~) in a directory an include pulls in as a '
            'whole. Move it out of there (for example into %s), check that nginx -t passes, and run again; nothing was '
            'changed' % (', '.join(leftovers), backup_dir))


def nginx_error(output):
    """The first error in nginx -t's output: {'message', 'file', 'line'} (file and line None when
    nginx names no place), or None."""
    match = _NGINX_EMERG.search(output or '')
    if match is None:
        return None
    line = match.group('line')
    return {'message': match.group('message'), 'file': match.group('file'), 'line': int(line) if line else None}


def describe_nginx_error(output):
    """nginx -t's error as 'FILE line N: MESSAGE' (its whole output when it has no [emerg] line)."""
    error = nginx_error(output)
    if error is None:
        return (output or '').strip()
    if error['file'] is None:
        return error['message']
    return '%s line %d: %s' % (error['file'], error['line'], error['message'])


def broken_config_message(output, backup_dir):
    """The refusal when nginx -t fails before any change: the file and line nginx names, and the fix."""
    error = nginx_error(output) or {'file': None}
    if error['file'] and error['file'].endswith('~'):
        fix = ('%s is a backup copy (the name ends in ~) left in a directory an include pulls in as a whole, so nginx loads it '
               'as configuration: move it out of %s (for example into %s), check that nginx -t passes, and run again'
               % (error['file'], posixpath.dirname(error['file']), backup_dir))
    elif error['file']:
        fix = 'correct line %d of %s until nginx -t passes, then run again' % (error['line'], error['file'])
    else:
        fix = 'correct the configuration until nginx -t passes, then run again'
    return 'nginx -t fails before any change, nothing was changed: %s. Fix: %s' % (describe_nginx_error(output), fix)


# ---------------------------------------------------------------------------------------------
# Pairs: nginx's local backends joined with what listens there (host facts from the module)

DROPIN_NAME = 'keeplocal-unix-socket.conf'
SOCKET_TEMPLATE = _app_servers.SOCKET_TEMPLATE


def handover_path(socket):
    """The temporary socket a handover copy of the service listens on during the cutover."""
    if socket.endswith('.sock'):
        return socket[:-5] + '.handover.sock'
    return socket + '.handover'


CAP_SYS_PTRACE = 19


def parse_privileges(euid, status_text):
    """This run's privileges: {euid, cap_eff (CapEff of /proc/self/status, hex) and cap_sys_ptrace (bit 19
    of it; None when the line is missing)}."""
    match = re.search(r'^CapEff:\s*([0-9A-Fa-f]+)\s*$', status_text or '', re.M)
    if match is None:
        return {'euid': euid, 'cap_eff': None, 'cap_sys_ptrace': None}
    return {'euid': euid, 'cap_eff': match.group(1), 'cap_sys_ptrace': bool(int(match.group(1), 16) >> CAP_SYS_PTRACE & 1)}


def owner_access_problem(privileges):
    """Why this run cannot read which process holds a socket (/proc/PID/fd of another user's process), or None.

    Reading another user's /proc/PID/fd passes the kernel's ptrace access check: root passes it with
    CAP_SYS_PTRACE, which hardened hosts and containers (podman's and docker's defaults) take away.
    """
    if not privileges:
        return None
    if privileges.get('euid') not in (0, None):
        return ("reading the owners of sockets (/proc/PID/fd of other users' processes) needs root: run the task with "
                "become: true")
    if privileges.get('cap_sys_ptrace') is False:
        return ('needs CAP_SYS_PTRACE to read the owners of sockets; this task runs as root without it (CapEff %s in '
                '/proc/self/status, bit 19 clear), as on a hardened host or in a container started without it: give it the '
                'capability (podman or docker run --cap-add SYS_PTRACE; in a systemd unit AmbientCapabilities=CAP_SYS_PTRACE), '
                'or run the task where root has it' % privileges['cap_eff'])
    return None


def _listeners(host, key):
    if key[0] == 'tcp':
        return [{'address': endpoint(sock['local_ip'], sock['local_port']), 'ip': sock['local_ip'], 'inode': sock['inode']}
                for sock in host.get('tcp', []) if sock['state'] == 'LISTEN' and sock['local_port'] == key[1]]
    return [{'address': 'unix:' + sock['path'], 'ip': None, 'inode': sock['inode']}
            for sock in host.get('unix', []) if sock.get('path') == key[1]]


def _reachable(ip):
    """A listening address other hosts can connect to (anything but loopback)."""
    return not is_loopback(ip)


def _owners(host, inode):
    return [str(pid) for pid in host.get('owners', {}).get(str(inode), [])]


def _clients(host, port, listener_pids):
    """Processes with connections to a local listener on ``port`` (the connecting side only)."""
    own = set(host.get('addresses', []))
    counts = {}
    for sock in host.get('tcp', []):
        if sock['state'] in ('LISTEN', 'TIME_WAIT') or sock['remote_port'] != port:
            continue
        if not sock.get('inode'):
            # Closed by its process already (FIN_WAIT, LAST_ACK ...): no client left to ask about.
            continue
        if not is_local_host(sock['remote_ip'], own):
            continue
        pids = _owners(host, sock['inode'])
        if pids and set(pids) <= listener_pids:
            continue
        names = sorted(set((host.get('processes', {}).get(pid) or {}).get('comm') or '?' for pid in pids)) or ['?']
        name = ','.join(names)
        counts[name] = counts.get(name, 0) + 1
    return [{'process': name, 'connections': count} for name, count in sorted(counts.items())]


def _control_sockets(host, master, binds):
    """Unix sockets gunicorn's master listens on besides its binds: its control socket (gunicorn >= 25.1;
    /proc/net/unix keeps the path even after another process removed the file)."""
    pid = str((master or {}).get('pid'))
    bound = set(_gunicorn.parse_bind(bind).get('path') for bind in binds)
    found = set()
    for sock in host.get('unix', []):
        holders = _owners(host, sock['inode'])
        # pid 1 holds the sockets systemd hands over (socket activation): binds, not a control socket.
        if pid in holders and '1' not in holders and sock['path'] not in bound:
            found.add(sock['path'])
    return sorted(found)


# What the app gets as the connection's peer over the Unix socket (REMOTE_ADDR, or uvicorn's scope client),
# measured: gunicorn 24.1 to 27.0 an empty string, uWSGI 2.0.31's --http-socket 0.0.0.0, uvicorn 0.54.0 no client (null).
# Puma 5.6.5 sets 127.0.0.1 for a Unix socket peer.
SOCKET_PEER = {'gunicorn': '', 'uwsgi': '0.0.0.0', 'uvicorn': None, 'puma': '127.0.0.1'}


def _unit_environment(settings, master):
    """The service's environment as far as it is known: the unit's Environment= lines, then the
    variables read from the running master (/proc/PID/environ, EnvironmentFile= included)."""
    environment = dict(settings['environment'])
    environment.update((master or {}).get('environment') or {})
    return environment


def _gunicorn_plan(host, unit, master, ctx, problems):
    """gunicorn: binds from the command line, GUNICORN_CMD_ARGS, the config file or the default."""
    args, environment, port, socket = ctx['args'], ctx['environment'], ctx['port'], ctx['socket']
    info = {'config_file': (master or {}).get('config_file'), 'version': None, 'control_socket': None, 'worker_class': None}
    config_text = host.get('config_files', {}).get(info['config_file']) if info['config_file'] else None
    try:
        binds = _gunicorn.effective_binds(args, environment, config_text)
    except ValueError as exc:
        problems.append(('exec_start_unsupported', 'config file %s: %s' % (info['config_file'], exc)))
        return info, None
    unit_data = host.get('units', {}).get(unit) or {}
    info['version'] = (unit_data.get('gunicorn_version') or {}).get('version')
    env_args = shlex.split(environment.get('GUNICORN_CMD_ARGS', ''))
    observed = _control_sockets(host, master, binds['binds'])
    support = _gunicorn.control_socket_support(info['version'], args, env_args, config_text, observed)
    info['control_socket'] = dict(support, observed=observed)
    info['worker_class'] = _app_servers.gunicorn_worker_class(args, env_args, config_text)
    tcp_binds = [bind for bind in binds['binds'] if _gunicorn.parse_bind(bind)['type'] == 'tcp']
    keep = [] if ctx['drop_tcp'] else [bind for bind in tcp_binds if _gunicorn.parse_bind(bind)['port'] == port]
    others = [bind for bind in binds['binds'] if bind not in tcp_binds or _gunicorn.parse_bind(bind)['port'] != port]
    # uvicorn's workers trust X-Forwarded-For/-Proto from forwarded_allow_ips only, which a Unix socket peer never is.
    extra, trust_all = [], False
    if _app_servers.is_uvicorn_worker(info['worker_class']):
        allow = _app_servers.gunicorn_forwarded_allow_ips(args, env_args, config_text, environment)
        if _app_servers.trusted(allow, ctx['peer']) and not _app_servers.trusted(allow, '*'):
            trust_all = True
            extra = ['--forwarded-allow-ips', '*']
    try:
        exec_start = _gunicorn.rewrite_exec_start(ctx['exec_start'], ['unix:' + socket] + keep, ctx['umask'],
                                                  drop=('pid',) + (('forwarded_allow_ips',) if trust_all else ()), extra=extra)
        handover = _gunicorn.rewrite_exec_start(
            ctx['exec_start'], ['unix:' + handover_path(socket)], ctx['umask'],
            drop=('pid',) + (_gunicorn.CONTROL_SOCKET_OPTIONS if support['supported'] else ())
            + (('forwarded_allow_ips',) if trust_all else ()),
            extra=(['--no-control-socket'] if support['supported'] else []) + extra)
    except ValueError as exc:
        problems.append(('exec_start_unsupported', str(exc)))
        return info, None
    plan = {'binds': binds['binds'], 'bind_source': binds['source'], 'others': others, 'keep': keep, 'protocol': 'http',
            'exec_start': exec_start, 'handover_exec_start': handover, 'trust_forwarded': trust_all,
            'fields': {'handover_control_socket': 'disabled' if support['supported'] else None}}
    return info, plan


def _uvicorn_plan(host, unit, master, ctx, problems):
    """uvicorn standalone: one listener (--host/--port, --uds, --fd or UVICORN_*), taken from systemd with --fd 3."""
    unit_data = host.get('units', {}).get(unit) or {}
    settings = _app_servers.uvicorn_settings(ctx['args'], ctx['environment'])
    info = {'version': (unit_data.get('server_version') or {}).get('version'), 'workers': settings['workers'],
            'reload': settings['reload'], 'proxy_headers': settings['proxy_headers'],
            'forwarded_allow_ips': settings['forwarded_allow_ips']}
    port = ctx['port']
    bind = _gunicorn.parse_bind(settings['binds'][0])
    if port is not None and (bind['type'] != 'tcp' or bind['port'] != port):
        problems.append(('exec_start_unsupported', 'ExecStart of %s makes uvicorn listen on %s (%s), not on port %d: change it '
                         'by hand' % (unit, settings['binds'][0], settings['bind_source'], port)))
        return info, None
    problems.extend(_app_servers.uvicorn_problems(unit, settings, info['version'], ctx['drop_tcp']))
    trust_all = _app_servers.uvicorn_trusts_peer(settings, ctx['peer']) and not _app_servers.trusted(settings['forwarded_allow_ips'], '*')
    try:
        exec_start = _app_servers.uvicorn_exec_start(ctx['exec_start'], trust_all=trust_all)
    except ValueError as exc:
        problems.append(('exec_start_unsupported', str(exc)))
        return info, None
    plan = {'binds': settings['binds'], 'bind_source': settings['bind_source'], 'others': [], 'keep': [], 'protocol': 'http',
            # The handover copy gets its own socket unit, whose socket is descriptor 3 too.
            'exec_start': exec_start, 'handover_exec_start': exec_start, 'trust_forwarded': trust_all, 'fields': {}}
    return info, plan


def _uwsgi_plan(host, unit, master, ctx, problems):
    """uWSGI: the socket option on the pair's port (command line; UWSGI_* or an ini file are reported), moved onto the
    socket systemd passes."""
    port = ctx['port']
    settings = _app_servers.uwsgi_settings(ctx['args'], ctx['environment'], host.get('config_files', {}),
                                           (master or {}).get('cwd') or ctx['working_directory'])
    listeners = [item for item in settings['listeners'] if item['tcp'] and item['tcp']['port'] == port]
    listener = listeners[0] if listeners else None
    info = {'configs': [config['path'] for config in settings['configs']],
            'listeners': [{'option': item['option'], 'address': item['address'], 'protocol': item['protocol'],
                           'source': item['source']} for item in settings['listeners']],
            'protocol': listener['protocol'] if listener else None}
    if port is None:
        # nginx points at a Unix socket already (a cutover in progress or done): the server is read, nothing is rewritten.
        protocols = set(item['protocol'] for item in settings['listeners'] if not item['tcp'])
        info['protocol'] = protocols.pop() if len(protocols) == 1 else None
        return info, None
    problems.extend(_app_servers.uwsgi_problems(unit, settings, listener, port))
    if listener is None:
        if not any(router['tcp'] and router['tcp']['port'] == port for router in settings['routers']):
            problems.append(('exec_start_unsupported', 'no uWSGI socket option of %s names port %d (ExecStart, UWSGI_* variables, '
                             '%s): change it by hand' % (unit, port, ', '.join(info['configs']) or 'no ini file')))
        return info, None
    if listener['span'] is None:
        # Set in an ini file or the environment: no ExecStart takes it back (config_file_binds says how to move it).
        return info, None
    binds = _app_servers.uwsgi_binds(settings)
    own = endpoint(listener['tcp']['host'], port)
    plan = _one_listener_plan(ctx, problems, binds, own, listener['source'], listener['protocol'],
                              lambda path, keep_tcp, handover: _app_servers.uwsgi_exec_start(
                                  ctx['exec_start'], listener, path, keep_tcp=keep_tcp, handover=handover))
    if plan is None:
        return info, None
    # uWSGI 2.0 exits on SIGINT and SIGQUIT and takes SIGTERM, systemd's default stop signal, as "reload"; --die-on-term
    # swaps SIGTERM and SIGQUIT. A reload signal makes each stop of the cutover wait out TimeoutStopSec and end in SIGKILL.
    kill_signal = [entry['value'] for entry in _gunicorn.unit_entries(ctx['cat']) if entry['section'] == 'Service'
                   and entry['key'] == 'KillSignal']
    die_on_term = any(word in ('--die-on-term', '--die-on-term=true') for word in ctx['args']) or any(
        entry['key'] == 'die-on-term' for config in settings['configs'] if config['read']
        for entry in _app_servers.parse_uwsgi_ini(host.get('config_files', {}).get(config['path']), config['section']))
    signal = (kill_signal[-1] if kill_signal else 'SIGTERM').upper()
    signal = signal if signal.startswith('SIG') else 'SIG' + signal
    if signal not in (('SIGTERM', 'SIGINT') if die_on_term else ('SIGQUIT', 'SIGINT')):
        info['stop_warning'] = ('%s stops uWSGI with SIGTERM (no KillSignal=), which uWSGI 2.0 takes as a reload: each stop of '
                                'the switch (the service, then its handover copy) waits TimeoutStopSec and ends in SIGKILL. Add '
                                'KillSignal=SIGQUIT to its [Service] section (uWSGI\'s docs) or --die-on-term to ExecStart'
                                % unit if not kill_signal else
                                '%s stops uWSGI with KillSignal=%s, which uWSGI 2.0 takes as a reload%s: each stop of the switch '
                                '(the service, then its handover copy) waits TimeoutStopSec and ends in SIGKILL. %s'
                                % (unit, kill_signal[-1], ' with --die-on-term' if die_on_term else '',
                                   'Remove --die-on-term (then SIGQUIT stops it) or set KillSignal=SIGTERM' if die_on_term
                                   else 'Set KillSignal=SIGQUIT (uWSGI\'s docs) or SIGINT'))
    return info, plan


def _puma_plan(host, unit, master, ctx, problems):
    """Puma: the -b/--bind or -p/--port on ExecStart naming the pair's port, replaced by -b unix://SOCKET (adopted from
    the descriptor systemd passes); a bind only in a config file is reported."""
    port = ctx['port']
    settings = _app_servers.puma_settings(ctx['args'], ctx['environment'], (master or {}).get('cwd') or ctx['working_directory'])
    found = [path for path in settings['config_candidates'] if path in host.get('config_files', {})]
    binds = _app_servers.puma_binds(settings)
    config_text = host['config_files'][found[0]] if found else ''
    info = {'config_file': found[0] if found else None, 'workers': settings['workers'],
            'binds_given': [bind['value'] for bind in settings['binds']],
            'config_shared': ([word for word, dummy, dummy2 in _app_servers.PUMA_CONFIG_SHARED] if config_text is None
                              else _app_servers.puma_config_shared(config_text))}
    if port is None:
        # nginx points at a Unix socket already (a cutover in progress or done): the server is read, nothing is rewritten.
        return info, None
    matching = [bind for bind in settings['binds'] if bind['address']['type'] in ('tcp', 'ssl') and bind['address']['port'] == port]
    bind = matching[0] if matching else None
    problems.extend(_app_servers.puma_problems(unit, settings, bind, port, found))
    if not settings['binds']:
        return info, None
    if bind is None:
        problems.append(('exec_start_unsupported', 'ExecStart of %s makes Puma listen on %s (command line), not on port %d: '
                         'change it by hand' % (unit, ', '.join(binds) or ', '.join(info['binds_given']), port)))
        return info, None
    # The handover copy reads the config file too: what it sets there that the copy must not share (the pidfile, the
    # state file, the control server) goes to the copy's own RuntimeDirectory, which systemd makes writable by its user.
    # A config file that exists but cannot be read is taken to set all of them: the overrides are harmless.
    runtime_directory = ctx['handover_name'] if info['config_shared'] else None
    overrides = _app_servers.puma_handover_overrides(info['config_shared'], '/run/%s' % runtime_directory) if runtime_directory else []
    plan = _one_listener_plan(ctx, problems, binds, endpoint(bind['address']['host'], port), 'command line', 'http',
                              lambda path, keep_tcp, handover: _app_servers.puma_exec_start(
                                  ctx['exec_start'], bind, path, keep_tcp=keep_tcp, handover=handover, overrides=overrides))
    if plan is not None:
        plan['fields'] = {'handover_runtime_directory': runtime_directory}
    return info, plan


def _one_listener_plan(ctx, problems, binds, own, bind_source, protocol, rewrite):
    """The plan of a server whose one listener on the pair's port (``own``, in ``binds``) moves to the socket;
    ``rewrite(path, keep_tcp, handover)`` is its ExecStart on ``path``. None, with the problem, when it cannot be rewritten."""
    keep = [] if ctx['drop_tcp'] else [own]
    try:
        exec_start = rewrite(ctx['socket'], bool(keep), False)
        handover = rewrite(handover_path(ctx['socket']), False, True)
    except ValueError as exc:
        problems.append(('exec_start_unsupported', str(exc)))
        return None
    return {'binds': binds, 'bind_source': bind_source, 'others': [item for item in binds if item != own], 'keep': keep,
            'protocol': protocol, 'exec_start': exec_start, 'handover_exec_start': handover, 'trust_forwarded': False,
            'fields': {}}


_PLANS = {'gunicorn': _gunicorn_plan, 'uvicorn': _uvicorn_plan, 'uwsgi': _uwsgi_plan, 'puma': _puma_plan}


def _server_info(host, unit, master, server, drop_tcp, port, socket_template, umask, problems, peer='127.0.0.1'):
    """What runs the pair (``server``: gunicorn, uvicorn, uwsgi, puma) under ``unit``, and the unit changes of a switch.

    Returns (info, proposed): info describes the server as it runs; proposed is None when the unit cannot be
    rewritten (the reasons are appended to ``problems``)."""
    info = {'server': server, 'unit': unit, 'exec_start': None, 'binds': [], 'bind_source': None, 'config_file': None,
            'user': None, 'group': None, 'working_directory': None, 'keeplocal': {}, 'runtime_directories': [],
            'version': None}
    if server == 'gunicorn':
        info['control_socket'] = None
    unit_data = host.get('units', {}).get(unit) or {}
    cat = unit_data.get('cat')
    if not cat:
        problems.append(('not_systemd', 'the unit text of %s could not be read (systemctl cat)' % unit))
        return info, None
    settings = _gunicorn.effective_settings(cat)
    info.update({'exec_start': settings['exec_start'], 'user': settings['user'], 'group': settings['group'],
                 'working_directory': settings['working_directory'], 'keeplocal': settings['keeplocal'],
                 'runtime_directories': settings['runtime_directories']})
    if settings['exec_start'] is None:
        problems.append(('exec_start_unsupported', '%s has no ExecStart' % unit))
        return info, None
    try:
        dummy_prefix, words = _gunicorn.split_exec_start(settings['exec_start'])
    except ValueError as exc:
        problems.append(('exec_start_unsupported', 'ExecStart of %s: %s' % (unit, exc)))
        return info, None
    found, start = _app_servers.command_server(words)
    name = _app_servers.SERVER_NAMES[server]
    if found != server:
        problems.append(('exec_start_unsupported', 'ExecStart of %s does not run %s directly (%s); a wrapper hides its '
                         'options: make ExecStart run %s itself (the wrapper\'s last line, with its options), or change the '
                         'listener by hand' % (unit, name, words[0]['value'] if words else '', name)))
        return info, None
    app = unit[:-len('.service')] if unit.endswith('.service') else unit
    socket = _app_servers.socket_path(socket_template, app, server)
    handover_name = app + '-keeplocal-handover'
    ctx = {'args': [word['value'] for word in words[start:]], 'environment': _unit_environment(settings, master), 'port': port,
           'socket': socket, 'handover_name': handover_name, 'drop_tcp': drop_tcp, 'umask': umask, 'exec_start': settings['exec_start'], 'peer': peer,
           'working_directory': settings['working_directory'], 'cat': cat}
    details, plan = _PLANS[server](host, unit, master, ctx, problems)
    info.update(details)
    if plan is None:
        return info, None
    info['binds'], info['bind_source'], info['protocol'] = plan['binds'], plan['bind_source'], plan['protocol']
    if port is not None and plan['others']:
        problems.append(('other_binds', '%s also listens on %s: only the pair on port %d is handled' % (unit, ', '.join(plan['others']), port)))
    socket_dir = socket.rsplit('/', 1)[0] or '/'
    for directory in settings['runtime_directories']:
        if socket_dir == '/run/' + directory:
            problems.append(('runtime_directory', 'the socket directory %s is RuntimeDirectory of %s, which systemd empties when the '
                             'service stops: choose another socket path' % (socket_dir, unit)))
    problem = socket_path_problem(socket)
    if problem:
        problems.append(('socket_path', problem))
    socket_cat = unit_data.get('socket_cat')
    if socket_cat and _gunicorn.KEEPLOCAL_SECTION not in socket_cat:
        problems.append(('socket_unit_exists', '%s.socket already exists and was not written by keeplocal.traffic' % app))
    dropin = '/etc/systemd/system/%s.d/%s' % (unit, DROPIN_NAME)
    original = settings['keeplocal'].get('OriginalExecStart') or settings['exec_start']
    proposed = {
        'app': app, 'unit': unit, 'server': server, 'protocol': plan['protocol'],
        # How to see the server answer on a socket: an HTTP request, or (uwsgi protocol) a uwsgi packet.
        'probe': plan['protocol'],
        'socket': socket, 'socket_dir': socket_dir,
        'handover_socket': handover_path(socket), 'handover_name': handover_name,
        'socket_unit': app + '.socket', 'socket_unit_path': '/etc/systemd/system/%s.socket' % app,
        'dropin_path': dropin, 'exec_start': plan['exec_start'], 'handover_exec_start': plan['handover_exec_start'],
        'handover_control_socket': None, 'handover_runtime_directory': None, 'trust_forwarded': plan['trust_forwarded'],
        'original_exec_start': original, 'tcp_listen': plan['keep'], 'user': settings['user'],
        'unit_copy': _gunicorn.unit_copy_text(cat, skip_sources=[dropin]),
    }
    proposed.update(plan['fields'])
    return info, proposed


def _gunicorn_info(host, unit, master, drop_tcp, port, socket_template, umask, problems):
    """gunicorn's part of _server_info (kept for callers of the gunicorn-only name)."""
    return _server_info(host, unit, master, 'gunicorn', drop_tcp, port, socket_template, umask, problems)


def _serving_servers(serving):
    """The processes holding a listener, sorted into app servers: (servers {pid: server}, masters, others).

    A process counts as a server's when it looks like one (process_server) or when its parent does, in the same
    unit (uvicorn's --workers and --reload children are spawned interpreters)."""
    servers = {}
    by_pid = dict((str(proc.get('pid')), proc) for proc in serving)
    for proc in serving:
        found = _app_servers.process_server(proc.get('comm'), proc.get('cmdline'))
        if found:
            servers[str(proc['pid'])] = found
    for proc in serving:
        pid, parent = str(proc.get('pid')), str(proc.get('ppid'))
        if pid not in servers and parent in servers and by_pid[parent].get('unit') == proc.get('unit'):
            servers[pid] = servers[parent]
    masters = [proc for proc in serving if str(proc.get('pid')) in servers and str(proc.get('ppid')) not in servers]
    others = [proc for proc in serving if str(proc.get('pid')) not in servers]
    return servers, masters, others


def _socket_peer(requests, server):
    """Set what the app gets as the peer over the socket in each request (it depends on the server)."""
    for found in requests.values():
        for request in found:
            request['socket']['REMOTE_ADDR'] = SOCKET_PEER.get(server, '')


def build_pairs(analysis, host, socket_template=SOCKET_TEMPLATE, drop_tcp=True, umask='0117'):
    """Join nginx's local backends with the host's listeners, processes and units.

    Returns {'pairs': [...], 'remote': [...]}: one pair per local backend (TCP port or Unix socket path), with
    safe/reasons (codes no_listener, owners_unreadable, unknown_server, not_systemd, listener_shared, other_clients,
    reachable_remotely, non_http_use, https, protocol_mismatch, mentioned, host_header_changes, proxy_header_changes,
    exec_start_unsupported, development_server, server_version, keep_tcp_unsupported, server_option_unsupported,
    config_file_binds, config_file_unsupported, handover_conflict, other_binds, runtime_directory, socket_path,
    socket_unit_exists) and, for a TCP pair served by gunicorn, uvicorn, uWSGI or Puma under systemd, the ``proposed`` unit
    changes. Each reference of a TCP pair lists in ``requests`` what the app receives through it over TCP and over the
    socket (see request_changes).
    """
    addresses = host.get('addresses', [])
    backends = group_backends(analysis, addresses)
    processes = host.get('processes', {})
    # Sockets whose owner could not be read because of this run's privileges, not because nobody holds them.
    access = owner_access_problem(host.get('privileges')) if host.get('fd_denied') else None
    pairs = []
    for key in sorted(backends, key=lambda item: (item[0], str(item[1]))):
        backend = backends[key]
        problems = list(nginx_problems(backend))
        requests, changes = request_changes(backend, analysis) if key[0] == 'tcp' else ({}, [])
        problems.extend(changes)
        first = backend['sites'][0]
        listeners = _listeners(host, key)
        pids = set()
        for listener in listeners:
            pids.update(_owners(host, listener['inode']))
        procs = [processes[pid] for pid in sorted(pids, key=int) if pid in processes]
        serving = [proc for proc in procs if proc.get('pid') != 1 and proc.get('comm') != 'systemd']
        servers, masters, others = _serving_servers(serving)
        kinds = sorted(set(servers.values()))
        units = sorted(set(proc.get('unit') for proc in serving if proc.get('unit')))
        where = key[1] if key[0] == 'unix' else 'port %d' % key[1]
        if not listeners:
            problems.append(('no_listener', 'nothing listens on %s' % where))
        unreadable = []
        if listeners and not serving:
            if access:
                unreadable.append('which process listens on %s' % where)
            elif host.get('privileges'):
                problems.append(('no_listener', 'no process visible here holds the listener on %s (a process of another PID '
                                 'namespace, such as a container sharing this network namespace?)' % where))
            else:
                problems.append(('no_listener', 'no readable process holds the listener (run as root)'))
        if others:
            problems.append(('unknown_server', '%s is served by %s%s, which is not an app server this module switches '
                             '(%s): move it to a Unix socket by hand, or run the app under one of them'
                             % (where, ', '.join(sorted(set('%s (pid %s)' % (proc.get('comm'), proc.get('pid')) for proc in others))),
                                ' in %s' % ', '.join(units) if units else '', _app_servers.switched_servers())))
        if len(kinds) > 1:
            problems.append(('listener_shared', 'the listener on %s is held by %s at once' % (where, ' and '.join(kinds))))
        if len(units) > 1:
            problems.append(('listener_shared', 'the listener is held by several units: %s' % ', '.join(units)))
        elif servers and not units:
            problems.append(('not_systemd', '%s (pid %s) does not run in a systemd service' % (
                _app_servers.SERVER_NAMES[kinds[0]], sorted(servers, key=int)[0])))
        clients = []
        if key[0] == 'tcp':
            clients = _clients(host, key[1], pids)
            strangers = [client for client in clients if client['process'] != 'nginx']
            if access and any(client['process'] == '?' for client in strangers):
                unreadable.append('which processes hold %d connections to port %d' % (
                    sum(client['connections'] for client in strangers if client['process'] == '?'), key[1]))
                strangers = [client for client in strangers if client['process'] != '?']
            if strangers:
                problems.append(('other_clients', 'port %d also has clients other than nginx: %s' % (key[1], ', '.join(
                    '%s (%d)' % (client['process'], client['connections']) for client in strangers))))
            remote_ips = sorted(set(listener['ip'] for listener in listeners if _reachable(listener['ip'])))
            if remote_ips and drop_tcp:
                problems.append(('reachable_remotely', '%s listens on %s port %d, which other hosts can reach: dropping TCP may '
                                 'cut them off (keep TCP, or make sure nothing else uses it)'
                                 % (_app_servers.SERVER_NAMES[kinds[0]] if len(kinds) == 1 else 'the app server', ', '.join(remote_ips), key[1])))
        if unreadable:
            problems.append(('owners_unreadable', 'cannot tell %s: %s' % (' or '.join(unreadable), access)))
        info, proposed = None, None
        if len(units) == 1 and len(kinds) == 1 and not others:
            master = masters[0] if masters else serving[0]
            peer = _peer_address(first['target']) if first['target']['type'] == 'tcp' else '127.0.0.1'
            info, proposed = _server_info(host, units[0], master, kinds[0], drop_tcp, key[1] if key[0] == 'tcp' else None,
                                          socket_template, umask, problems if key[0] == 'tcp' else [], peer)
            if key[0] == 'tcp':
                _socket_peer(requests, kinds[0])
                protocols = sorted(set(site['protocol'] for site in backend['sites'] if site['protocol']))
                if info.get('protocol') and len(protocols) == 1 and protocols[0] != info['protocol']:
                    problems.append(('protocol_mismatch', 'nginx speaks %s to port %d (%s) but %s listens there with %s: the '
                                     'pair cannot work over TCP either; correct nginx or the server first' % (
                                         protocols[0], key[1], ', '.join('%s at %s:%s' % (site['directive'], site['file'], site['line'])
                                                                         for site in backend['sites']),
                                         _app_servers.SERVER_NAMES[kinds[0]], info['protocol'])))
        pair = {
            'kind': key[0],
            'address': site_text(first) if key[0] == 'tcp' else 'unix:' + key[1],
            'port': key[1] if key[0] == 'tcp' else None,
            'socket': key[1] if key[0] == 'unix' else None,
            'references': [{'file': site['file'], 'line': site['line'], 'directive': site['directive'], 'context': site['context'],
                            'target': site_text(site), 'upstream': site['upstream'], 'params': site['params'], 'uri': site['uri'],
                            'protocol': site['protocol'],
                            'requests': requests.get((site['file'], site['line'], site['occurrence']), [])}
                           for site in backend['sites']],
            'listeners': [listener['address'] for listener in listeners],
            'processes': [{'pid': proc.get('pid'), 'process': proc.get('comm')} for proc in serving],
            'unit': units[0] if len(units) == 1 else None,
            'clients': clients,
            'server': info,
            'gunicorn': info if info is not None and info['server'] == 'gunicorn' else None,
            'reasons': [{'code': code, 'msg': msg} for code, msg in problems],
            'warnings': (nginx_warnings(backend, analysis, requests, kinds[0] if len(kinds) == 1 else 'gunicorn')
                         + server_warnings(info, proposed)) if key[0] == 'tcp' else [],
            'proposed': proposed,
        }
        pair['safe'] = (not problems and proposed is not None) if key[0] == 'tcp' else not problems
        pairs.append(pair)
    remote = [{'target': site_text(site), 'file': site['file'], 'line': site['line'], 'context': site['context'],
               'reason': 'remote address: %s is not this host' % site['target']['host']}
              for site in remote_sites(analysis, addresses)]
    return {'pairs': pairs, 'remote': remote}


def server_warnings(info, proposed):
    """What the app server does differently over the socket and the rewrite keeps as it was."""
    warnings = [info['stop_warning']] if info and info.get('stop_warning') else []
    if not proposed or not proposed.get('trust_forwarded'):
        return warnings
    option = '--forwarded-allow-ips *'
    server = 'uvicorn' if info['server'] == 'uvicorn' else 'gunicorn\'s uvicorn worker (%s)' % info.get('worker_class')
    allowed = info.get('forwarded_allow_ips') or 'the default 127.0.0.1,::1'
    return warnings + ['%s applies X-Forwarded-For and X-Forwarded-Proto only from the peers in forwarded-allow-ips (now %s, which '
                       'includes nginx\'s TCP address); a Unix socket peer has no address, so over the socket the app would get no '
                       'client address and the scheme http: the new ExecStart sets %s (who may connect is decided by the socket\'s '
                       'owner, group and mode, and only nginx can)' % (server, allowed, option)]


# ---------------------------------------------------------------------------------------------
# A run: what it decides from the task's options, the files nginx loads and the host's facts


class Refused(Exception):
    """The task changes nothing: the message names the option, file or line, and the fix."""


def argument_problem(params):
    """What is wrong with the task's options (before the host is read), or None."""
    if params['address']:
        try:
            parse_address(params['address'])
        except ValueError as exc:
            return str(exc)
    elif params['mode'] != 'discover':
        return ('address is required with mode=%s (the TCP address nginx uses now, such as 127.0.0.1:8000)' % params['mode'])
    for field, path in [('socket', params['socket'])] + [('replace_sockets', path) for path in params['replace_sockets']]:
        if not path.startswith('/'):
            return '%s: %r is not an absolute path (for example /run/app/gunicorn.sock)' % (field, path)
    if params['backup_keep'] < 1:
        return ('backup_keep: %d keeps no backup; give 1 or more (a rollback restores the files from the newest run)'
                % params['backup_keep'])
    return None


def pairs_for(pairs, port, address, sockets):
    """The pairs of one TCP address: on the port still, or on a socket given for it or switched from it."""
    selected = []
    for pair in pairs:
        if pair['kind'] == 'tcp' and pair['port'] == port:
            selected.append(pair)
        elif pair['kind'] == 'unix' and (pair['socket'] in sockets
                                         or ((pair.get('server') or {}).get('keeplocal') or {}).get('Address') == address):
            selected.append(pair)
    return selected


def _resolved_socket(socket, tcp_pair, switched):
    """The socket option with {app} and {server} filled in from the app server found, where one is."""
    if not has_placeholder(socket):
        return socket
    if tcp_pair and tcp_pair.get('proposed'):
        return tcp_pair['proposed']['socket']
    if switched is not None:
        return switched['socket']
    if tcp_pair and tcp_pair.get('unit'):
        return socket.replace('{app}', tcp_pair['unit'].rsplit('.service', 1)[0])
    return socket


def plan(params, files, host):
    """What a run of the module does: (result, edits).

    ``params``: the module's options (argument_problem passed); ``files``: [{path, realpath, checksum,
    content}], what ``nginx -T`` lists, main file first; ``host``: the host's facts. ``result`` is the
    task's result without what writing adds (backups, nginx -t); ``edits`` the files to write, each
    {path, realpath, checksum (of the content read), content (the new one)}, empty when nothing changes.
    Raises Refused for anything that stops the task before a change.
    """
    mode, address = params['mode'], params['address']
    host_part, port = parse_address(address) if address else (None, None)
    leftover = leftover_problem(files, params['backup_dir'])
    if leftover:
        raise Refused(leftover)
    try:
        payload = _nginx_conf.read_config(files, params['conf'])
    except ValueError as exc:
        raise Refused('cannot read the nginx configuration, nothing was changed: %s' % exc) from None
    addresses = host.get('addresses', [])
    if address and not is_local_host(host_part, addresses):
        raise Refused('address: %s is not an address of this host (its addresses: %s, or loopback): nginx_upstream '
                      'moves same-host backends only' % (address, ', '.join(addresses) or 'none found'))
    analysis = analyze(payload, addresses)
    built = build_pairs(analysis, host, params['socket'], params['drop_tcp'], params['umask'])
    pairs = built['pairs'] if port is None else pairs_for(built['pairs'], port, address, params['replace_sockets'])
    result = {
        'changed': False,
        'pairs': pairs,
        'unsafe': [pair for pair in pairs if pair['kind'] == 'tcp' and not pair['safe']],
        'remote': built['remote'],
        'nginx': {'conf': params['conf'], 'files': [item['path'] for item in files], 'user': analysis['user']},
    }
    if mode == 'discover':
        return result, []

    tcp_pair = next((pair for pair in pairs if pair['kind'] == 'tcp'), None)
    switched = next((pair for pair in pairs if pair['kind'] == 'unix'), None)
    socket = _resolved_socket(params['socket'], tcp_pair, switched)
    sockets = params['replace_sockets'] + ([] if has_placeholder(socket) else [socket])
    if not sites_naming(analysis, port, sockets, addresses):
        raise Refused(not_proxied_message(address, port, sockets, analysis, addresses, files))
    if has_placeholder(socket):
        reasons = '; '.join(reason['msg'] for reason in (tcp_pair or {}).get('reasons') or [])
        raise Refused('socket %s has a placeholder, but no app server (%s) under systemd serves %s%s: give the socket path'
                      % (socket, _app_servers.switched_servers(), address, ' (%s)' % reasons if reasons else ''))
    if mode == 'switch' and socket_path_problem(socket):
        raise Refused('socket: %s' % socket_path_problem(socket))
    if params['backup']:
        problem = backup_dir_problem(params['backup_dir'], params['conf'], files)
        if problem:
            raise Refused(problem)
    result['socket'] = socket
    if mode == 'switch' and tcp_pair is not None and not tcp_pair['safe'] and not params['force']:
        raise Refused('%s cannot safely be switched to a Unix socket: %s (force=true switches anyway)' % (
            address, '; '.join(reason['msg'] for reason in tcp_pair['reasons']) or 'no app server found'))
    try:
        if mode == 'switch':
            edit = rewrite(payload, match_port=port, match_sockets=params['replace_sockets'], to='unix:' + socket,
                           local_addresses=addresses, server_parameters=params['server_parameters'])
        else:
            edit = rewrite(payload, match_sockets=[socket] + params['replace_sockets'], to=address, local_addresses=addresses)
    except NginxEditError as exc:
        raise Refused('cannot edit the configuration: %s' % exc) from None
    if not edit['texts']:
        return result, []
    texts = dict((item['path'], item['content']) for item in files)
    result.update(changed=True, changes=edit['changes'],
                  diff=[{'before_header': path, 'after_header': path, 'before': texts[path], 'after': new}
                        for path, new in sorted(edit['texts'].items())])
    edits, seen = [], set()
    for item in files:
        if item['path'] in edit['texts'] and item['realpath'] not in seen:
            seen.add(item['realpath'])
            edits.append({'path': item['path'], 'realpath': item['realpath'], 'checksum': item['checksum'],
                          'content': edit['texts'][item['path']]})
    return result, edits
