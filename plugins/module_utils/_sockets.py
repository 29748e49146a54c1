# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse /proc/net/tcp and /proc/net/tcp6 and summarize a host's TCP sockets (stdlib only, no I/O).

/proc/net/tcp rows: ``sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid
timeout inode ...``; addresses are hex in host byte order (little-endian here): IPv4 as one 32-bit
word, IPv6 as four. IPv4-mapped IPv6 addresses (dual-stack sockets) are reported as IPv4.
"""

from __future__ import annotations

import ipaddress
import json
import sys

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import is_loopback, normalize_ip, parse_ip

TCP_STATES = {
    '01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2',
    '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN',
    '0B': 'CLOSING', '0C': 'NEW_SYN_RECV',
}

_WILDCARDS = ('0.0.0.0', '::')


def _word_bytes(word, byteorder):
    raw = bytes.fromhex(word)
    return raw[::-1] if byteorder == 'little' else raw


def decode_address(text, byteorder=None):
    """'0100007F:1F40' -> ('127.0.0.1', 8000); 32-hex-digit addresses are IPv6."""
    if byteorder is None:
        byteorder = sys.byteorder
    addr_hex, port_hex = text.split(':')
    if len(addr_hex) == 8:
        addr = ipaddress.IPv4Address(_word_bytes(addr_hex, byteorder))
    elif len(addr_hex) == 32:
        raw = b''.join(_word_bytes(addr_hex[i:i + 8], byteorder) for i in range(0, 32, 8))
        addr = ipaddress.IPv6Address(raw)
    else:
        raise ValueError('bad address %r' % text)
    return normalize_ip(str(addr)), int(port_hex, 16)


def parse_proc_net_tcp(text, byteorder=None):
    """Parse the text of /proc/net/tcp or /proc/net/tcp6; malformed rows are skipped."""
    sockets = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10 or not fields[0].endswith(':') or not fields[0][:-1].isdigit():
            continue
        try:
            local_ip, local_port = decode_address(fields[1], byteorder)
            remote_ip, remote_port = decode_address(fields[2], byteorder)
            state = TCP_STATES.get(fields[3].upper(), fields[3])
            timer = int(fields[5].partition(':')[2], 16)
            uid = int(fields[7])
            inode = int(fields[9])
        except (ValueError, IndexError):
            continue
        sockets.append({
            'local_ip': local_ip, 'local_port': local_port,
            'remote_ip': remote_ip, 'remote_port': remote_port,
            'state': state, 'uid': uid, 'inode': inode, 'timer_jiffies': timer,
        })
    return sockets


def count_new_connections(before, after, remote_ip, remote_port):
    """TCP connections to ``remote_ip:remote_port`` in ``after`` that ``before`` did not hold.

    ``before`` and ``after`` are parse_proc_net_tcp results. The client side of a closed connection
    stays listed (TIME_WAIT) for a minute, so a listing taken right after a short burst holds every
    connection the burst opened. A connection known by its local endpoint is new when the endpoint
    is, or when it was in TIME_WAIT before and was reused since (loopback reuses TIME_WAIT ports):
    it is no longer in TIME_WAIT, or its TIME_WAIT timer started again.
    """
    target = (normalize_ip(remote_ip), int(remote_port))

    def by_local_end(sockets):
        return {(sock['local_ip'], sock['local_port']): sock for sock in sockets
                if sock['state'] != 'LISTEN' and (sock['remote_ip'], sock['remote_port']) == target}

    earlier = by_local_end(before)
    opened = 0
    for end, sock in by_local_end(after).items():
        old = earlier.get(end)
        if old is None or (old['state'] == 'TIME_WAIT' and
                           (sock['state'] != 'TIME_WAIT' or sock['timer_jiffies'] > old['timer_jiffies'])):
            opened += 1
    return opened


def _owner(inodes, inode):
    if not inode:
        return None, None
    owner = inodes.get(inode)
    if owner is None:
        owner = inodes.get(str(inode))
    if owner is None:
        return None, None
    return owner[0], owner[1]


def _most_common(names):
    counts = {}
    for name in names:
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    if not counts:
        return None
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0]


def summarize(sockets, inodes=None, local_addresses=None, public_addresses=None, internal=None):
    """listeners, to_public and same_host per docs/architecture.md (outbound_flows_info).

    ``inodes`` maps a socket inode (int or str) to (pid, process name); ``local_addresses`` are the
    host's own addresses. A peer is public when it lies outside ``internal`` (InternalNetworks; None:
    no peer is outside) or is one of ``public_addresses`` (public addresses inside the internal
    ranges, such as carrier-grade NAT), as in the conntrack scan.
    """
    inodes = inodes or {}
    own = set(normalize_ip(a) for a in (local_addresses or []))
    public = set(normalize_ip(a) for a in (public_addresses or []))

    def is_public(ip):
        if ip in public:
            return True
        return internal is not None and ip not in _WILDCARDS and not is_loopback(ip) and not internal.contains(ip)

    listeners = {}
    for sock in sockets:
        if sock['state'] != 'LISTEN':
            continue
        key = (sock['local_ip'], sock['local_port'])
        pid, name = _owner(inodes, sock['inode'])
        if key not in listeners or listeners[key]['process'] is None:
            listeners[key] = {'ip': sock['local_ip'], 'port': sock['local_port'], 'process': name, 'pid': pid}

    def listener_for(ip, port):
        found = listeners.get((ip, port))
        if found is None:
            for wildcard in _WILDCARDS:
                found = listeners.get((wildcard, port))
                if found is not None:
                    break
        return found

    to_public = {}
    same_host = {}
    for sock in sockets:
        if sock['state'] == 'LISTEN':
            continue
        remote = (sock['remote_ip'], sock['remote_port'])
        pid, name = _owner(inodes, sock['inode'])
        # Only the connecting side: a connection accepted by a local listener comes from outside.
        if is_public(sock['remote_ip']) and listener_for(sock['local_ip'], sock['local_port']) is None:
            entry = to_public.setdefault(remote, {'names': []})
            entry['names'].append(name)
        if sock['remote_ip'] in own or sock['remote_ip'] == sock['local_ip'] or is_loopback(sock['remote_ip']):
            listener = listener_for(*remote)
            # The accepting side of a local connection has the client's ephemeral port as its peer:
            # only the connecting side points at a listener.
            if listener is not None and (sock['local_ip'], sock['local_port']) != remote:
                entry = same_host.setdefault(remote, {'names': [], 'listener': listener})
                entry['names'].append(name)

    listener_list = sorted(listeners.values(), key=lambda item: (item['port'], item['ip']))
    public_list = [
        {'remote_ip': ip, 'remote_port': port, 'connections': len(item['names']), 'process': _most_common(item['names'])}
        for (ip, port), item in to_public.items()
    ]
    public_list.sort(key=lambda item: (-item['connections'], item['remote_ip'], item['remote_port']))
    same_list = [
        {'remote_ip': ip, 'remote_port': port, 'connections': len(item['names']),
         'client_process': _most_common(item['names']), 'listener_process': item['listener']['process']}
        for (ip, port), item in same_host.items()
    ]
    same_list.sort(key=lambda item: (-item['connections'], item['remote_ip'], item['remote_port']))
    return {'listeners': listener_list, 'to_public': public_list, 'same_host': same_list}


def connecting_sockets(sockets, remote_ips):
    """The sockets of this host's outgoing TCP connections to ``remote_ips``, in listing order. As in
    ``summarize``, a connection a local listener accepted is left out: only the connecting side is
    this host's call."""
    wanted = set(normalize_ip(ip) for ip in remote_ips)
    listening = set((sock['local_ip'], sock['local_port']) for sock in sockets if sock['state'] == 'LISTEN')
    for sock in sockets:
        if sock['state'] == 'LISTEN' or sock['remote_ip'] not in wanted:
            continue
        port = sock['local_port']
        if (sock['local_ip'], port) in listening or any((wildcard, port) in listening for wildcard in _WILDCARDS):
            continue
        yield sock


def connections_by_process(sockets, inodes, remote_ips):
    """Outgoing TCP connections to ``remote_ips`` (``connecting_sockets``) per remote endpoint and
    local process, most first: ``[{remote_ip, remote_port, process, connections}]`` (``process`` None
    when no process owns the socket, e.g. in TIME_WAIT).
    """
    counts = {}
    for sock in connecting_sockets(sockets, remote_ips):
        key = (sock['remote_ip'], sock['remote_port'], _owner(inodes or {}, sock['inode'])[1])
        counts[key] = counts.get(key, 0) + 1
    found = [{'remote_ip': ip, 'remote_port': port, 'process': process, 'connections': count}
             for (ip, port, process), count in counts.items()]
    found.sort(key=lambda item: (-item['connections'], item['remote_ip'], item['remote_port'], item['process'] or ''))
    return found


# ---------------------------------------------------------------------------------------------
# The host's own addresses (without loopback and link-local)


def _keep(ip):
    addr = parse_ip(ip)
    if addr is None:
        return False
    return not (addr.is_loopback or addr.is_link_local or addr.is_unspecified)


def _unique(addresses):
    seen = []
    for addr in addresses:
        addr = normalize_ip(addr)
        if addr not in seen and _keep(addr):
            seen.append(addr)
    return seen


def parse_ip_addr_json(data):
    """Addresses from ``ip -j addr`` output (text or parsed list)."""
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    found = []
    for link in data or []:
        for info in link.get('addr_info', []) if isinstance(link, dict) else []:
            local = info.get('local')
            if local and info.get('family') in ('inet', 'inet6') and info.get('scope') not in ('host', 'link'):
                found.append(local)
    return _unique(found)


def parse_fib_trie(text):
    """IPv4 addresses from /proc/net/fib_trie: the ``|-- A`` leaves followed by ``/32 host LOCAL``."""
    found = []
    last = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith('|-- '):
            last = stripped[4:].strip()
        elif last and stripped.startswith('/32 host LOCAL'):
            found.append(last)
    return _unique(found)


def parse_if_inet6(text):
    """IPv6 addresses from /proc/net/if_inet6 (32 hex digits in network order, scope 00 = global)."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or len(fields[0]) != 32 or fields[3] != '00':
            continue
        try:
            found.append(str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
        except ValueError:
            continue
    return _unique(found)
