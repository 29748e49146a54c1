#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: hairpin_facts
short_description: Gather everything hairpin detection needs from one host in one module run
version_added: 0.2.0
description:
  - Reads, in one process on the host, the sources hairpin detection needs and returns one key per
    source (a subset, chosen with O(gather_subset) as for C(ansible.builtin.setup)), that is
    RV(conntrack) (connection-tracking health), RV(nat_rules) (port forwards and source NAT),
    RV(hairpin_flows) (hairpin flows in the conntrack table), RV(outbound_flows) (connections to
    public addresses and to the host itself) and RV(dns_answers) (what the host's resolver answers
    for O(names)), plus RV(addresses), always.
  - One module run per host instead of one per source is what keeps detection close to the cost
    of plain fact gathering on a large fleet; the role C(keeplocal.traffic.hairpin_detect) uses it.
  - This is the detection modules' one public surface. M(keeplocal.traffic.nat_rules_info),
    M(keeplocal.traffic.hairpin_flows_info), M(keeplocal.traffic.outbound_flows_info) and
    M(keeplocal.traffic.dns_answers_info) are deprecated; each returns what this module returns
    under one key with O(gather_subset) set to that key, so one option set and one documented
    result cover them all.
  - M(keeplocal.traffic.conntrack_info) stays a module of its own. It is the read half of
    M(keeplocal.traffic.conntrack_limits), run before and after a change by the role
    C(keeplocal.traffic.conntrack_tuning) with the same memory estimate per entry, and returns what
    RV(conntrack) holds here (the same reader and schema).
  - The keys, types and nullability of every returned value are stated once, in
    C(plugins/module_utils/_facts_schema.py); the tests check this module's results against it.
  - Which public peers are the fleet's own NAT is decided on the controller by the
    P(keeplocal.traffic.hairpin_plan#filter) filter, which knows every gateway's forwards, so no
    host needs another host's results first.
  - Only reads; never changes anything. Needs root for the NAT rules and the conntrack table.
author:
  - keeplocal.traffic contributors (@keeplocal)
options:
  gather_subset:
    description:
      - Which sources to read, as in C(ansible.builtin.setup). V(all) reads every one; a name
        (V(conntrack), V(nat_rules), V(hairpin_flows), V(outbound_flows), V(dns_answers)) reads
        that one; a name after V(!) leaves it out, and V(!all) leaves out every one not named.
        Exclusions alone mean the rest of V(all); a name both given and excluded is read.
      - RV(addresses) is always returned, whatever the subset.
      - An unknown name fails the module, and so does V(dns_answers) named while O(names) is empty.
    type: list
    elements: str
    default: [all]
  names:
    description:
      - Host names of the services to resolve through the host's own resolver (C(getaddrinfo), so
        C(/etc/hosts), C(/etc/nsswitch.conf), systemd-resolved and C(/etc/resolv.conf) all apply, as
        for the services themselves). Empty skips RV(dns_answers).
    type: list
    elements: str
    default: []
  flow_limit:
    description:
      - Maximum number of single flows returned in RV(hairpin_flows.flows); RV(hairpin_flows.pairs)
        always counts every hairpin flow.
    type: int
    default: 100
  kernel_log:
    description:
      - Count the kernel's C(table full, dropping packet) messages in C(dmesg), or the kernel
        journal when C(dmesg) is not readable, for RV(conntrack.table_full_messages).
    type: bool
    default: true
  nat_rules_source:
    description:
      - Where to read the NAT rules from. V(auto) reads both iptables (C(iptables-save -t nat),
        C(ip6tables-save -t nat)) and nftables (C(nft -j list ruleset)) and merges what they decode;
        rules that iptables-nft stores in nftables are read through C(iptables-save), which decodes them,
        and legacy tables beside them through C(iptables-legacy-save). nft sets, NAT maps and verdict
        maps give one forward per element.
    type: str
    choices: [auto, iptables, nft]
    default: auto
  hairpin_flows_source:
    description:
      - Where to read the conntrack table from. V(netlink) dumps the DNATed entries over a ctnetlink
        socket (the kernel filters them on Linux 5.19 and later; older kernels send every entry and
        the module filters, see RV(hairpin_flows.kernel_filter)). V(proc) reads
        C(/proc/net/nf_conntrack). V(conntrack) runs C(conntrack -L -o extended).
      - V(auto) tries V(netlink), then V(proc), then V(conntrack), and uses the first that answers.
        On a host with IPVS (C(/proc/net/ip_vs) exists) it starts with V(proc).
    type: str
    choices: [auto, netlink, proc, conntrack]
    default: auto
extends_documentation_fragment:
  - keeplocal.traffic.detect
  - keeplocal.traffic.detect.internal_cidrs
  - keeplocal.traffic.detect.public_addresses
notes:
  - With V(nat_rules) gathered, the conntrack table is scanned only on a host with port forwards,
    with the host's own forwarded addresses added to O(public_addresses), so a gateway whose public
    side lies inside O(internal_cidrs) (carrier-grade NAT) still finds its hairpin flows. Clients
    only know such addresses when they are listed in O(public_addresses). Without V(nat_rules), the
    table is scanned on every host.
  - V(netlink) sees the entries whose destination the kernel's NAT rewrote (status IPS_DST_NAT, what
    iptables and nftables DNAT rules set). Entries rewritten otherwise, by IPVS or inserted with
    C(conntrack -I), lack that status; read those tables with V(proc) or V(conntrack).
  - Rules whose NAT target cannot be decoded (for example iptables-nft rules read through C(nft -j),
    which shows them as opaque C(xt) expressions) are reported as warnings, never guessed.
  - Process names come from C(/proc/PID/fd) (best effort; other users' processes need root with
    CAP_SYS_PTRACE, which containers often lack).
seealso:
  - module: keeplocal.traffic.conntrack_info
"""

EXAMPLES = r"""
- name: Gather the detection facts of every host
  keeplocal.traffic.hairpin_facts:
    names: [app.example.test]
  become: true
  register: facts

- name: Plan the fixes on the controller
  ansible.builtin.set_fact:
    plan: >-
      {{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, ['facts'])))
         | keeplocal.traffic.hairpin_plan }}
  run_once: true

- name: Read only the gateway's port forwards, from nftables
  keeplocal.traffic.hairpin_facts:
    gather_subset: [nat_rules]
    nat_rules_source: nft
  become: true
  register: nat

- name: Everything but the DNS answers and the conntrack table's health
  keeplocal.traffic.hairpin_facts:
    gather_subset: ['!dns_answers', '!conntrack']
  become: true
"""

RETURN = r"""
addresses:
  description: The host's own addresses (no loopback, no link-local), from C(ip -j addr), else C(/proc/net/fib_trie) and C(/proc/net/if_inet6).
  returned: always
  type: list
  elements: str
  sample: [192.168.1.10]
conntrack:
  description:
    - The connection-tracking table's size, use, drops and memory in this network namespace, and
      whether its limits can be written here (only in the initial network namespace).
    - On a kernel without nf_conntrack, RV(conntrack.available=false), the numbers null.
  returned: when gathered
  type: dict
  contains:
    available:
      description: nf_conntrack is present in this kernel and namespace.
      type: bool
      sample: true
    count:
      description: Entries in the table now (nf_conntrack_count).
      type: int
      sample: 123
    max:
      description: The table's limit (nf_conntrack_max).
      type: int
      sample: 262144
    buckets:
      description: Hash buckets (nf_conntrack_buckets, the module parameter hashsize).
      type: int
      sample: 262144
    usage:
      description: count / max.
      type: float
      sample: 0.0005
    initial_netns:
      description: This is the initial network namespace (the host), where the limits can be set; null when nf_conntrack is absent.
      type: bool
      sample: false
    writable:
      description: nf_conntrack_max can be written here (initial namespace, read-write mount, permission).
      type: bool
      sample: false
    accounting:
      description:
        - Conntrack accounting (C(nf_conntrack_acct), per network namespace) is on, so new entries count their packets and
          bytes; null when it cannot be read or nf_conntrack is absent. The plan carries it per gateway.
      type: bool
      sample: false
    stats:
      description:
        - The counters of C(/proc/net/stat/nf_conntrack) summed over CPUs (column names as the kernel prints them).
        - C(entries) is the table size, the same on every row, so it is taken as is rather than summed.
      type: dict
      sample: {entries: 123, found: 0, invalid: 3, insert: 0, insert_failed: 0, drop: 0, early_drop: 0, search_restart: 0}
    per_cpu:
      description: One dict per CPU row of C(/proc/net/stat/nf_conntrack), with C(cpu) (the row index) and every column.
      type: list
      elements: dict
      sample: [{cpu: 0, entries: 123, invalid: 3, drop: 0}]
    memory_bytes:
      description: Estimated kernel memory now, count x 320 + buckets x 8.
      type: int
      sample: 2136512
    max_memory_bytes:
      description: Estimated kernel memory of a full table, max x 320 + buckets x 8.
      type: int
      sample: 85983232
    table_full_messages:
      description: Kernel messages C(table full, dropping packet) found (a lower bound); null when no kernel log was readable.
      type: int
      sample: 0
    kernel_log:
      description: Where table_full_messages was counted, C(dmesg) or C(journal); null when none was readable or O(kernel_log=false).
      type: str
      sample: dmesg
    message:
      description: Why the limits cannot be written here, or why there is no table; null when writable.
      type: str
      sample: null
nat_rules:
  description:
    - The port-forward map (public address and port to private address and port) and the source NAT
      rules in POSTROUTING, followed from the built-in chains through user chains.
  returned: when gathered
  type: dict
  contains:
    source:
      description: Where the rules came from, V(iptables) or V(nft); V(none) when no tool could be run.
      type: str
      sample: iptables
    forwards:
      description: Port forwards (DNAT), one per public address, port and protocol.
      type: list
      elements: dict
      contains:
        proto:
          description: Protocol (V(tcp), V(udp), ...), null when the rule matches any protocol.
          type: str
          sample: tcp
        public_ip:
          description: Public address matched by the rule; null for any local address; a CIDR when the rule matches a network.
          type: str
          sample: 198.51.100.1
        public_port:
          description: Public port (the first of a range); null when any port matches.
          type: int
          sample: 80
        public_port_end:
          description: Last port of a port range, null for a single port.
          type: int
          sample: null
        private_ip:
          description: Address the connection is forwarded to; null when the rule changes the port only.
          type: str
          sample: 192.168.1.20
        private_port:
          description: Port the connection is forwarded to (the public port when the rule keeps it).
          type: int
          sample: 80
        port_translated:
          description: Whether the private port differs from the public port.
          type: bool
          sample: false
        in_interface:
          description: Input interface the rule requires (V(!name) when negated), or null.
          type: str
          sample: null
        rule:
          description: The rule text (nft rules are rendered in nft syntax).
          type: str
          sample: -A PREROUTING -d 198.51.100.1/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.168.1.20:80
    snat_rules:
      description: SNAT and MASQUERADE rules reached from POSTROUTING.
      type: list
      elements: dict
      contains:
        source:
          description: Source network (CIDR, V(!) prefix when negated), null for any.
          type: str
          sample: 192.168.1.0/24
        destination:
          description: Destination network (CIDR, V(!) prefix when negated), null for any.
          type: str
          sample: 192.168.1.20/32
        out_interface:
          description: Output interface the rule requires, or null.
          type: str
          sample: null
        ctstate_dnat:
          description: Whether the rule only matches connections that were destination-NATed.
          type: bool
          sample: true
        target:
          description: V(SNAT) or V(MASQUERADE).
          type: str
          sample: SNAT
        to_source:
          description: The SNAT address (null for MASQUERADE).
          type: str
          sample: 192.168.1.1
        rule:
          description: The rule text.
          type: str
          sample: -A POSTROUTING -s 192.168.1.0/24 -d 192.168.1.20/32 -m conntrack --ctstate DNAT -j SNAT --to-source 192.168.1.1
    msg:
      description: Why no rules could be read.
      returned: when RV(nat_rules.source) is V(none)
      type: str
      sample: "iptables-save: not installed; nft: not installed. Install iptables or nftables, run as root, or skip this host."
hairpin_flows:
  description:
    - The hairpin flows in this network namespace's conntrack table. A flow is hairpin when its
      original source is internal, its original destination is not internal (or is one of
      O(public_addresses)), and its reply source is internal (the destination was NATed to an
      internal backend).
    - A host without a readable table returns RV(hairpin_flows.available=false) with a message; the module does not fail.
  returned: when gathered; with V(nat_rules) gathered too, only on a host with port forwards
  type: dict
  contains:
    available:
      description: Whether a conntrack table could be read.
      type: bool
      sample: true
    msg:
      description: Why the table could not be read, and what to do.
      returned: when RV(hairpin_flows.available) is false
      type: str
      sample: nf_conntrack is not loaded in this kernel/network namespace, so there is no table to read.
    source:
      description: >-
        Where the table was read: V(netlink) (a ctnetlink dump), V(proc) (C(/proc/net/nf_conntrack)) or
        V(conntrack) (C(conntrack -L -o extended)); null when unavailable.
      type: str
      sample: netlink
    kernel_filter:
      description: >-
        Whether the kernel sent only the DNATed entries (V(netlink) on Linux 5.19 and later). False
        when the module read every entry and filtered it itself.
      type: bool
      sample: true
    total_entries:
      description: Entries in the table (with V(netlink), the kernel's count for this network namespace).
      type: int
      sample: 57
    hairpin_entries:
      description: Hairpin flows in the table.
      type: int
      sample: 3
    flows:
      description: Hairpin flows, at most O(flow_limit), in table order.
      type: list
      elements: dict
      contains:
        proto:
          description: Protocol name (V(tcp), V(udp), V(icmp), ...).
          type: str
          sample: tcp
        client_ip:
          description: The internal client (original source).
          type: str
          sample: 192.168.1.10
        client_port:
          description: The client's port; null for protocols without ports.
          type: int
          sample: 41001
        public_ip:
          description: The public address the client dialed (original destination).
          type: str
          sample: 198.51.100.1
        public_port:
          description: The public port; null for protocols without ports.
          type: int
          sample: 80
        backend_ip:
          description: The internal backend that answered (reply source).
          type: str
          sample: 192.168.1.20
        backend_port:
          description: The backend's port; null for protocols without ports.
          type: int
          sample: 80
        snat_ip:
          description: The address the gateway put in place of the client's (reply destination); null without source NAT.
          type: str
          sample: 192.168.1.1
        state:
          description: The TCP or SCTP state, null for protocols without one.
          type: str
          sample: TIME_WAIT
        assured:
          description: The entry is assured (traffic was seen both ways).
          type: bool
          sample: true
    pairs:
      description: Hairpin flows aggregated by client, protocol, public address and port, backend address and port; complete.
      type: list
      elements: dict
      contains:
        client_ip:
          description: The internal client.
          type: str
          sample: 192.168.1.10
        proto:
          description: Protocol name.
          type: str
          sample: tcp
        public_ip:
          description: The public address dialed.
          type: str
          sample: 198.51.100.1
        public_port:
          description: The public port; null for protocols without ports.
          type: int
          sample: 80
        backend_ip:
          description: The internal backend.
          type: str
          sample: 192.168.1.20
        backend_port:
          description: The backend's port; null for protocols without ports.
          type: int
          sample: 80
        snat:
          description: The gateway source-NATed at least one of these flows (without it the backend answers the client directly).
          type: bool
          sample: true
        connections:
          description: Flows of this pair in the table.
          type: int
          sample: 3
outbound_flows:
  description:
    - The host's TCP listeners, its connections to public addresses (outside O(internal_cidrs), or
      listed in O(public_addresses)) and its connections to itself (loopback or an own address) that
      reach a local listener (Unix socket candidates), from C(/proc/net/tcp) and C(/proc/net/tcp6).
  returned: when gathered
  type: dict
  contains:
    listeners:
      description: Listening TCP sockets.
      type: list
      elements: dict
      contains:
        ip:
          description: The address listened on (V(0.0.0.0) or V(::) for any).
          type: str
          sample: 127.0.0.1
        port:
          description: The port listened on.
          type: int
          sample: 8000
        process:
          description: The listening process's name; null when not readable.
          type: str
          sample: gunicorn
        pid:
          description: The listening process's ID; null when not readable.
          type: int
          sample: 812
    to_public:
      description: Connections whose peer is public, by peer address and port.
      type: list
      elements: dict
      contains:
        remote_ip:
          description: The peer's address.
          type: str
          sample: 198.51.100.1
        remote_port:
          description: The peer's port.
          type: int
          sample: 80
        connections:
          description: Connections to this peer.
          type: int
          sample: 2
        process:
          description: The process holding most of them; null when not readable.
          type: str
          sample: curl
    same_host:
      description: Connections whose peer is this host and a local listener, by peer address and port.
      type: list
      elements: dict
      contains:
        remote_ip:
          description: The listener's address as dialed.
          type: str
          sample: 127.0.0.1
        remote_port:
          description: The listener's port.
          type: int
          sample: 8000
        connections:
          description: Connections to it.
          type: int
          sample: 4
        client_process:
          description: The process holding most of them; null when not readable.
          type: str
          sample: nginx
        listener_process:
          description: The listening process; null when not readable.
          type: str
          sample: gunicorn
dns_answers:
  description: What the host's resolver answers for O(names), and whether the answers are the fleet's public addresses.
  returned: when gathered and O(names) are given
  type: dict
  contains:
    resolvers:
      description: Name servers from C(/etc/resolv.conf), in order.
      type: list
      elements: str
      sample: [198.51.100.53]
    answers:
      description: One entry per name, in the order of O(names); a name that does not resolve has an error, the module does not fail.
      type: list
      elements: dict
      contains:
        name:
          description: The name.
          type: str
          sample: app.example.test
        addresses:
          description: The addresses the resolver returned (IPv4 and IPv6, unique, in resolver order).
          type: list
          elements: str
          sample: [198.51.100.1]
        public_match:
          description: Whether an address is one of O(public_addresses).
          type: bool
          sample: true
        private:
          description: Whether the name resolved and every address is inside O(internal_cidrs).
          type: bool
          sample: false
        error:
          description: The resolver's error when the name did not resolve, else null.
          type: str
          sample: null
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.keeplocal.traffic.plugins.module_utils._host_facts import (
    NETWORK_OPTIONS,
    check_names,
    gather_facts,
    networks,
    select_subsets,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            gather_subset=dict(type='list', elements='str', default=['all']),
            names=dict(type='list', elements='str', default=[]),
            flow_limit=dict(type='int', default=100),
            kernel_log=dict(type='bool', default=True),
            nat_rules_source=dict(type='str', default='auto', choices=['auto', 'iptables', 'nft']),
            hairpin_flows_source=dict(type='str', default='auto', choices=['auto', 'netlink', 'proc', 'conntrack']),
            **NETWORK_OPTIONS
        ),
        supports_check_mode=True,
    )
    params = module.params
    internal, public = networks(module)
    names = check_names(module, params['names'])
    subsets = select_subsets(module, params['gather_subset'], names)
    if params['flow_limit'] < 0:
        module.fail_json(msg='flow_limit must be 0 or more, got %d' % params['flow_limit'])
    result = gather_facts(module, subsets, internal, public, names, flow_limit=params['flow_limit'],
                          kernel_log=params['kernel_log'], nat_source=params['nat_rules_source'],
                          flows_source=params['hairpin_flows_source'])
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
