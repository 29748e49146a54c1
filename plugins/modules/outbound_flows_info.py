#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: outbound_flows_info
short_description: List a host's TCP connections to the fleet's public addresses and to itself
version_added: 0.1.0
description:
  - Reads C(/proc/net/tcp) and C(/proc/net/tcp6) (no C(ss) needed) and returns the host's own
    addresses, its TCP listeners, its connections to O(public_addresses) (hairpin clients, found
    without access to the gateway) and its connections to itself (loopback or an own address) that
    reach a local listener (Unix socket candidates).
  - Process names come from C(/proc/PID/fd) (best effort; other users' processes need root with CAP_SYS_PTRACE, which containers often lack).
  - The host's addresses come from C(ip -j addr) when iproute2 is installed, else from
    C(/proc/net/fib_trie) and C(/proc/net/if_inet6).
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  public_addresses:
    description:
      - Public addresses of the fleet (for example the gateways' forwarded addresses).
    type: list
    elements: str
    default: []
  internal_cidrs:
    description:
      - Internal (private) address ranges. A public address inside them gives a warning (a private
        address listed as public is usually a mistake, unless the gateway sits behind carrier-grade NAT).
    type: list
    elements: str
    default: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '::1/128', 'fc00::/7']
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode when in check mode).
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
seealso:
  - module: keeplocal.traffic.hairpin_flows_info
"""

EXAMPLES = r"""
- name: Find connections to the fleet's own public address
  keeplocal.traffic.outbound_flows_info:
    public_addresses: [198.51.100.1]
  become: true
  register: outbound

- name: Show same-host TCP pairs (Unix socket candidates)
  ansible.builtin.debug:
    msg: "{{ outbound.same_host }}"
"""

RETURN = r"""
local_addresses:
  description: The host's own addresses (no loopback, no link-local).
  returned: always
  type: list
  elements: str
  sample: [192.168.1.10]
listeners:
  description: Listening TCP sockets; C(process) and C(pid) are null when not readable.
  returned: always
  type: list
  elements: dict
  sample:
    - {ip: 127.0.0.1, port: 8000, process: gunicorn, pid: 812}
to_public:
  description: Connections whose peer is one of O(public_addresses), by peer address and port.
  returned: always
  type: list
  elements: dict
  sample:
    - {remote_ip: 198.51.100.1, remote_port: 80, connections: 2, process: curl}
same_host:
  description: Connections whose peer is this host and a local listener, by peer address and port.
  returned: always
  type: list
  elements: dict
  sample:
    - {remote_ip: 127.0.0.1, remote_port: 8000, connections: 4, client_process: nginx, listener_process: gunicorn}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import (
    DEFAULT_INTERNAL_CIDRS,
    InternalNetworks,
    normalize_ip,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._sockets import (
    parse_fib_trie,
    parse_if_inet6,
    parse_ip_addr_json,
    parse_proc_net_tcp,
    summarize,
)

PROC = '/proc'


def read_text(path):
    try:
        with open(path, 'r') as handle:
            return handle.read()
    except OSError:
        return None


def local_addresses(module):
    ip = module.get_bin_path('ip')
    if ip is not None:
        rc, out, dummy = module.run_command([ip, '-j', 'addr'])
        if rc == 0:
            try:
                return parse_ip_addr_json(out)
            except ValueError:
                pass
    found = parse_fib_trie(read_text(os.path.join(PROC, 'net/fib_trie')) or '')
    return found + parse_if_inet6(read_text(os.path.join(PROC, 'net/if_inet6')) or '')


def socket_owners(wanted):
    """inode -> (pid, comm) for the wanted socket inodes, by walking /proc/PID/fd (best effort)."""
    owners = {}
    wanted = set(wanted)
    try:
        pids = [name for name in os.listdir(PROC) if name.isdigit()]
    except OSError:
        return owners
    for pid in pids:
        if not wanted:
            break
        fd_dir = os.path.join(PROC, pid, 'fd')
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        comm = None
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if not target.startswith('socket:['):
                continue
            inode = int(target[8:-1])
            if inode in wanted:
                if comm is None:
                    comm = (read_text(os.path.join(PROC, pid, 'comm')) or '').strip() or None
                owners[inode] = (int(pid), comm)
                wanted.discard(inode)
    return owners


def main():
    module = AnsibleModule(
        argument_spec=dict(
            public_addresses=dict(type='list', elements='str', default=[]),
            internal_cidrs=dict(type='list', elements='str', default=list(DEFAULT_INTERNAL_CIDRS)),
        ),
        supports_check_mode=True,
    )
    try:
        internal = InternalNetworks(module.params['internal_cidrs'])
    except ValueError as exc:
        module.fail_json(msg='internal_cidrs: %s. Give networks in CIDR notation.' % exc)
    public = []
    for addr in module.params['public_addresses']:
        try:
            public.append(normalize_ip(addr))
        except ValueError:
            module.fail_json(msg='public_addresses: %r is not an IP address (give addresses such as 198.51.100.1, no ports)' % addr)
        if internal.contains(addr):
            module.warn('public_addresses: %s lies inside internal_cidrs; connections to it are still reported' % addr)

    tcp = read_text(os.path.join(PROC, 'net/tcp'))
    if tcp is None:
        module.fail_json(msg='%s/net/tcp is not readable: is /proc mounted?' % PROC)
    sockets = parse_proc_net_tcp(tcp) + parse_proc_net_tcp(read_text(os.path.join(PROC, 'net/tcp6')) or '')
    owners = socket_owners(sock['inode'] for sock in sockets if sock['inode'])
    addresses = local_addresses(module)
    result = summarize(sockets, owners, addresses, public)
    module.exit_json(changed=False, local_addresses=addresses, **result)


if __name__ == '__main__':
    main()
