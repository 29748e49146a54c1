# -*- coding: utf-8 -*-
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What applies each finding's fix: a role with its exact explicit input, or a person.

Every recommendation is either ``automatic`` (``role`` runs on ``host`` with ``input``, the role
variables ``remediate.yml`` hands it, and applies the whole fix) or ``manual`` (``change`` says
what a person should change, and why no role does it). There is no third state: a finding the
planner cannot route to a role is manual, so ``remediate.yml`` never targets a host it then leaves
alone. Pure functions, controller side; the plan reader (``_plan_reader.py``) only collects them.
"""

from __future__ import annotations

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import endpoint
from ansible_collections.keeplocal.traffic.plugins.module_utils._app_servers import KNOWN_SERVERS, SERVERS, switched_servers

ROLE_FOR_FIX = {
    'split_dns': 'keeplocal.traffic.split_dns',
    'local_shortcut': 'keeplocal.traffic.local_shortcut',
    'unix_socket': 'keeplocal.traffic.unix_sockets',
    'conntrack_headroom': 'keeplocal.traffic.conntrack_tuning',
}

# Listener processes that are application servers: TCP to them from the same host is worth a
# Unix socket. Front ends (nginx's own public listener, haproxy, ...) are not: their clients are
# other programs nobody here configures.
APP_SERVERS = frozenset(KNOWN_SERVERS)
# What the unix_sockets role switches: a local nginx in front of gunicorn, uvicorn, uWSGI or Puma.
UNIX_SOCKET_ROLE_SERVERS = frozenset(SERVERS)
LOCAL_PROXIES = frozenset(('nginx',))
# local_shortcut rewrites IPv4 tcp/udp with iptables or nftables.
LOCAL_SHORTCUT_PROTOS = frozenset(('tcp', 'udp'))


def same_host_candidate(listener_process):
    """Same-host TCP to this listener is a Unix-socket finding."""
    return listener_process in APP_SERVERS


def _automatic(fix, host, role_input, change):
    return {'mode': 'automatic', 'role': ROLE_FOR_FIX[fix], 'host': host, 'input': role_input, 'change': change}


def _manual(change):
    return {'mode': 'manual', 'role': None, 'host': None, 'input': None, 'change': change}


def _latent_prefix(finding):
    names = finding['public']['names'] or finding['public']['other_names']
    what = ', '.join(names) if names else finding['public']['ip']
    return ('%s resolves %s to %s but sent no traffic there yet, so nothing is changed for it; when it does: '
            % (finding['client']['host'] or finding['client']['ip'], what, finding['public']['ip']))


def _local_shortcut(finding, usable):
    client = finding['client']['host']
    public = finding['public']
    backend = finding['backend']
    public_text = endpoint(public['ip'], public['port'])
    backend_text = endpoint(backend['ip'], backend['port'])
    change = ('on %s, send %s/%s straight to %s (a local DNAT, no gateway)'
              % (client or finding['client']['ip'], public_text, public['proto'], backend_text))
    # The planner writes canonical address text, where only IPv6 has a colon.
    ipv4 = public['ip'] is not None and backend['ip'] is not None and ':' not in public['ip'] + backend['ip']
    if not usable:
        return _manual(_latent_prefix(finding) + change)
    if not client:
        return _manual('%s is not in the inventory: point its client at %s instead of %s'
                       % (finding['client']['ip'], backend_text, public_text))
    if not ipv4 or public['proto'] not in LOCAL_SHORTCUT_PROTOS:
        who = 'itself' if finding['relation'] == 'same_host' else backend_text
        return _manual('%s reaches %s through %s/%s; the local_shortcut role rewrites IPv4 tcp/udp only: point its client at %s'
                       % (client, who, public_text, public['proto'], backend_text))
    rule = {'public_ip': public['ip'], 'public_port': public['port'], 'proto': public['proto'],
            'private_ip': backend['ip'], 'private_port': backend['port'], 'comment': finding['id']}
    return _automatic('local_shortcut', client, {'local_shortcut_rules': [rule]}, change)


def _split_dns(finding, usable):
    client = finding['client']['host']
    public = finding['public']
    backend_ip = finding['backend']['ip']
    change = ('%s resolves %s through the private resolver, which answers %s'
              % (client or finding['client']['ip'], ', '.join(public['names']), backend_ip))
    if not usable:
        return _manual(_latent_prefix(finding) + change)
    if not client:
        return _manual('%s is not in the inventory: have it resolve %s through a resolver that answers %s'
                       % (finding['client']['ip'], ', '.join(public['names']), backend_ip))
    names = [{'name': name, 'private': backend_ip, 'public': public['ip']} for name in public['names']]
    return _automatic('split_dns', client, {'split_dns_names': names}, change)


def _unix_socket(entry):
    address = endpoint(entry['ip'], entry['port'])
    client = entry['client_process']
    listener = entry['listener_process']
    # A client socket in TIME_WAIT has no owner to name; the role confirms from nginx's own
    # configuration that nginx proxies to the address before it changes anything.
    if listener in UNIX_SOCKET_ROLE_SERVERS and (client in LOCAL_PROXIES or client is None):
        return _automatic('unix_socket', entry['host'], {'unix_sockets_pairs': [{'address': address}]},
                          'on %s, %s serves on a Unix socket and nginx connects to it instead of %s'
                          % (entry['host'], listener, address))
    if listener not in UNIX_SOCKET_ROLE_SERVERS:
        return _manual('on %s, have %s listen on a Unix socket and point %s at it instead of %s '
                       '(the unix_sockets role switches %s behind nginx only)'
                       % (entry['host'], listener, client or 'its local client', address, switched_servers('and')))
    return _manual('on %s, %s reaches %s at %s: point it at a Unix socket %s also listens on '
                   '(the unix_sockets role switches the pair only when nginx is the client)'
                   % (entry['host'], client, listener, address, listener))


def pair_recommendation(finding, act_on_latent):
    """The recommendation for a pair (``fix`` split_dns, local_shortcut or None) or a same_host entry."""
    fix = finding['fix']
    if fix == 'unix_socket':
        return _unix_socket(finding)
    if fix is None:
        return _manual(finding['reason'])
    usable = finding['status'] == 'active' or act_on_latent
    if fix == 'split_dns':
        return _split_dns(finding, usable)
    return _local_shortcut(finding, usable)


def gateway_recommendation(entry):
    """conntrack_tuning on the gateway, unless its limits are read-only where detection ran."""
    if entry['writable'] is False:
        return _manual('raise nf_conntrack_max and the hash size of %s where they are writable (the host that owns this '
                       'network namespace, e.g. with the conntrack_tuning role there)' % entry['host'])
    return _automatic('conntrack_headroom', entry['host'], {},
                      'on %s, size nf_conntrack_max and the hash buckets with conntrack_tuning\'s policy (runtime and persistent)'
                      % entry['host'])
