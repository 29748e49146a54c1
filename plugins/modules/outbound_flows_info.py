#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: outbound_flows_info
short_description: List a host's TCP connections to public addresses and to itself
version_added: 0.1.0
description:
  - Reads C(/proc/net/tcp) and C(/proc/net/tcp6) (no C(ss) needed) and returns the host's own
    addresses, its TCP listeners, its connections to public addresses (outside O(internal_cidrs), or
    listed in O(public_addresses)), by peer address and port, and its connections to itself (loopback or an own address) that
    reach a local listener (Unix socket candidates).
  - Process names come from C(/proc/PID/fd) (best effort; other users' processes need root with CAP_SYS_PTRACE, which containers often lack).
  - Which public peers are the fleet's own NAT (hairpin clients, found without access to the
    gateway) is decided on the controller by the P(keeplocal.traffic.hairpin_plan#filter) filter,
    which knows every gateway's forwards.
  - The host's addresses come from C(ip -j addr) when iproute2 is installed, else from
    C(/proc/net/fib_trie) and C(/proc/net/if_inet6).
deprecated:
  removed_in: 1.0.0
  why: >-
    keeplocal.traffic.hairpin_facts reads every detection source in one module run, with one option
    set and one documented result.
  alternative: >-
    Use keeplocal.traffic.hairpin_facts with gather_subset=[outbound_flows]; its outbound_flows key
    holds this module's result without local_addresses, which is its addresses key.
author:
  - keeplocal.traffic contributors (@keeplocal)
extends_documentation_fragment:
  - keeplocal.traffic.detect
  - keeplocal.traffic.detect.internal_cidrs
  - keeplocal.traffic.detect.public_addresses
seealso:
  - module: keeplocal.traffic.hairpin_facts
"""

EXAMPLES = r"""
- name: List connections to public addresses and to this host
  keeplocal.traffic.outbound_flows_info:
  become: true
  register: outbound

- name: Show the connections to the gateway's forwarded address
  ansible.builtin.debug:
    msg: "{{ outbound.to_public | selectattr('remote_ip', 'eq', '198.51.100.1') }}"

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
  description: Connections whose peer is public (outside O(internal_cidrs) or one of O(public_addresses)), by peer address and port.
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._host_facts import (
    NETWORK_OPTIONS,
    local_addresses,
    networks,
    outbound_flows,
)


def main():
    module = AnsibleModule(argument_spec=dict(**NETWORK_OPTIONS), supports_check_mode=True)
    internal, public = networks(module)
    addresses = local_addresses(module)
    module.exit_json(changed=False, local_addresses=addresses, **outbound_flows(module, internal, public, addresses))


if __name__ == '__main__':
    main()
