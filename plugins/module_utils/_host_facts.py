# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read one host's detection facts: the I/O half of the info modules (stdlib only).

Each reader takes the running AnsibleModule (for get_bin_path, run_command, warn, fail_json and
tmpdir) and returns one facts key's value in the shape _facts_schema states. gather_facts runs the
readers of the subsets hairpin_facts is asked for in one process, so detection costs one module
execution per host; the single-source modules call one reader each. The parsing lives in the pure
helpers (_conntrack_stats, _nat_rules, _conntrack_table, _ctnetlink, _sockets); the path constants
below are what the unit tests point at fake trees, and netlink_socket what they replace with
captured kernel answers.
"""

from __future__ import annotations

import errno
import os
import shlex
import socket
import tempfile

from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import (
    DEFAULT_INTERNAL_CIDRS,
    InternalNetworks,
    normalize_ip,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_stats import (
    build_info,
    count_table_full,
    unavailable_result,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_table import HairpinScanner
from ansible_collections.keeplocal.traffic.plugins.module_utils._ctnetlink import (
    NETLINK_NETFILTER,
    Dump,
    NetlinkError,
    dump_request,
    global_entries,
    stats_request,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._facts_schema import SECTIONS
from ansible_collections.keeplocal.traffic.plugins.module_utils._nat_rules import (
    LEGACY_TABLES_PRESENT,
    forwarded_addresses,
    merge,
    parse_iptables_save,
    parse_nft_json,
    saved_by_iptables_nft,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._procfs import (
    read_int,
    read_netns_state,
    read_text,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._sockets import (
    parse_fib_trie,
    parse_if_inet6,
    parse_ip_addr_json,
    parse_proc_net_tcp,
    summarize,
)

PROC = '/proc'
NETFILTER_SYSCTL = '/proc/sys/net/netfilter'
CONNTRACK_STAT = '/proc/net/stat/nf_conntrack'
CONNTRACK_TABLE = '/proc/net/nf_conntrack'
IPVS_TABLE = '/proc/net/ip_vs'
RESOLV_CONF = '/etc/resolv.conf'

# The options every detection module shares (documented in the keeplocal.traffic.detect doc fragment).
NETWORK_OPTIONS = dict(
    internal_cidrs=dict(type='list', elements='str', default=list(DEFAULT_INTERNAL_CIDRS)),
    public_addresses=dict(type='list', elements='str', default=[]),
)

_NEEDS_ROOT = ('ermission denied', 'not permitted', 'must be root')


def sysctl_path(name):
    return os.path.join(NETFILTER_SYSCTL, name)


def _tool_failure(err, out, rc):
    text = (err or out or '').strip().splitlines()
    detail = text[-1] if text else 'exit code %d' % rc
    if any(word in detail for word in _NEEDS_ROOT):
        detail += ' (run as root: become: true)'
    return detail


# --- options -----------------------------------------------------------------------------------

def networks(module):
    """(InternalNetworks, [public addresses]) from the module's options; a bad value fails the
    module with the option named and the fix."""
    params = module.params
    try:
        internal = InternalNetworks(params['internal_cidrs'])
    except ValueError as exc:
        module.fail_json(msg='internal_cidrs: %s. Give networks in CIDR notation.' % exc)
    public = []
    for addr in params.get('public_addresses') or []:
        try:
            public.append(normalize_ip(addr))
        except ValueError:
            module.fail_json(msg='public_addresses: %r is not an IP address (give addresses such as 198.51.100.1, no ports)' % addr)
    return internal, public


def check_names(module, names):
    """The names stripped; an empty or spaced name fails the module."""
    for name in names:
        if not name or not name.strip() or ' ' in name.strip():
            module.fail_json(msg='names: %r is not a host name' % name)
    return [name.strip() for name in names]


SUBSETS = tuple(SECTIONS)


def select_subsets(module, gather_subset, names):
    """The subsets to gather, read from gather_subset as ansible.builtin.setup reads its own: 'all'
    adds every subset, a name adds it, '!name' leaves it out, '!all' leaves out every subset not
    named; only exclusions mean the rest of 'all'; a name given both ways is gathered.

    An unknown name fails the module, excluded or not (a misspelt exclusion would gather the
    subset), and so does dns_answers named without ``names`` (it would return nothing).
    """
    added, excluded, named = set(), set(), set()
    for item in gather_subset:
        text = item.strip()
        exclude = text.startswith('!')
        name = text[1:].strip() if exclude else text
        if name == 'all':
            (excluded if exclude else added).update(SUBSETS)
            continue
        if name not in SUBSETS:
            module.fail_json(msg="gather_subset: %r is not a subset; give all, %s, or one of them after '!' to leave it out"
                             % (item, ', '.join(SUBSETS)))
        if exclude:
            excluded.add(name)
        else:
            added.add(name)
            named.add(name)
    if 'dns_answers' in named and not names:
        module.fail_json(msg='gather_subset: dns_answers resolves the names given in names, which is empty')
    if not added:
        added.update(SUBSETS)
    return added - (excluded - named)


# --- conntrack health (conntrack_info) -----------------------------------------------------------

def read_kernel_log(module):
    """(text, source) of the kernel log, or (None, None) when neither dmesg nor the journal answers.

    An empty answer counts as none: a kernel log always holds the boot messages, while a container's
    own journal answers `journalctl -k` with nothing (its journald cannot read /dev/kmsg).
    """
    dmesg = module.get_bin_path('dmesg')
    if dmesg:
        rc, out, dummy = module.run_command([dmesg], environ_update={'LC_ALL': 'C'})
        if rc == 0 and out.strip():
            return out, 'dmesg'
    journalctl = module.get_bin_path('journalctl')
    if journalctl:
        rc, out, err = module.run_command([journalctl, '-k', '-b', '-o', 'cat', '--no-pager', '-q'], environ_update={'LC_ALL': 'C'})
        if rc == 0 and out.strip() and 'No journal files' not in err:
            return out, 'journal'
    return None, None


def conntrack_health(module, bytes_per_entry=320, kernel_log=True):
    """The conntrack_info result for this host and network namespace."""
    if bytes_per_entry < 1:
        module.fail_json(msg='bytes_per_entry must be a positive integer (320 is the documented estimate), got %d'
                         % bytes_per_entry)
    max_entries = read_int(sysctl_path('nf_conntrack_max'))
    stat_text = read_text(CONNTRACK_STAT)
    if max_entries is None and stat_text is None:
        return unavailable_result()
    log_text, log_source = read_kernel_log(module) if kernel_log else (None, None)
    try:
        return build_info(
            count=read_int(sysctl_path('nf_conntrack_count')),
            max_entries=max_entries,
            buckets=read_int(sysctl_path('nf_conntrack_buckets')),
            stat_text=stat_text,
            netns=read_netns_state(sysctl_path('nf_conntrack_max')),
            table_full_messages=count_table_full(log_text),
            kernel_log=log_source,
            bytes_per_entry=bytes_per_entry,
            accounting=read_int(sysctl_path('nf_conntrack_acct')),
        )
    except ValueError as exc:
        module.fail_json(msg='cannot parse %s: %s' % (CONNTRACK_STAT, exc))


# --- NAT rules (nat_rules_info) ------------------------------------------------------------------

def _run_tool(module, tool, args, problems):
    """(stdout, stderr) of a tool; stdout None when it is not installed or failed (said in ``problems``)."""
    path = module.get_bin_path(tool)
    if path is None:
        problems.append('%s: not installed' % tool)
        return None, None
    rc, out, err = module.run_command([path] + args)
    if rc != 0:
        problems.append('%s: %s' % (tool, _tool_failure(err, out, rc)))
        return None, err
    return out, err


def _has_rules(result):
    return bool(result and (result['forwards'] or result['snat_rules']))


def _dedupe(result):
    seen = set()
    forwards = []
    for forward in result['forwards']:
        key = tuple((k, v) for k, v in sorted(forward.items()) if k != 'rule')
        if key not in seen:
            seen.add(key)
            forwards.append(forward)
    result['forwards'] = forwards
    return result


def _read_iptables(module, problems):
    """(rules of iptables-save and ip6tables-save, whether they are the nf_tables variants).

    Legacy tables beside iptables-nft's are read too: iptables-nft-save only says they exist.
    """
    results = []
    nf_tables = False
    for tool in ('iptables-save', 'ip6tables-save'):
        if tool == 'ip6tables-save' and module.get_bin_path(tool) is None:
            continue
        out, err = _run_tool(module, tool, ['-t', 'nat'], problems)
        if out is None:
            continue
        results.append(parse_iptables_save(out))
        nf_tables = nf_tables or saved_by_iptables_nft(out)
        if LEGACY_TABLES_PRESENT in (err or ''):
            legacy, dummy = _run_tool(module, tool.replace('-save', '-legacy-save'), ['-t', 'nat'], problems)
            if legacy is not None:
                results.append(parse_iptables_save(legacy))
    return (merge(results) if results else None), nf_tables


def _read_nft(module, problems, iptables_nft_read):
    out, dummy = _run_tool(module, 'nft', ['-j', 'list', 'ruleset'], problems)
    if out is None:
        return None
    try:
        return parse_nft_json(out, iptables_nft_read=iptables_nft_read)
    except ValueError as exc:
        problems.append('nft: unreadable JSON (%s)' % exc)
        return None


def nat_rules(module, source='auto'):
    """The nat_rules_info result: forwards and SNAT rules from iptables-save and/or nft."""
    problems = []
    ipt, nf_tables = _read_iptables(module, problems) if source in ('auto', 'iptables') else (None, False)
    # Rules iptables-nft wrote show in nft as opaque targets: in auto mode iptables-save decoded them.
    nft = _read_nft(module, problems, source == 'auto' and nf_tables) if source in ('auto', 'nft') else None

    if source == 'auto' and ipt is not None:
        used = [r for r in (ipt, nft) if _has_rules(r)] or [ipt]
        name = 'iptables' if _has_rules(ipt) or not _has_rules(nft) else 'nft'
    elif ipt is not None:
        used, name = [ipt], 'iptables'
    elif nft is not None:
        used, name = [nft], 'nft'
    else:
        used, name = [], 'none'

    result = _dedupe(merge(used))
    for text in result.pop('unparsed'):
        module.warn('NAT rule not decoded, left out: %s' % text)
    for problem in problems:
        if name != 'none' and 'not installed' not in problem:
            module.warn(problem)
    result['source'] = name
    if name == 'none':
        result['msg'] = '; '.join(problems) + '. Install iptables or nftables, run as root, or skip this host.'
    return result


# --- hairpin flows (hairpin_flows_info) ----------------------------------------------------------

class Unavailable(Exception):
    pass


NETLINK_TIMEOUT = 30    # seconds of silence before a dump counts as failed
_DATAGRAM = 65536       # a dump datagram is at most 32 KiB


def netlink_socket():
    """A bound NETLINK_NETFILTER socket for ctnetlink requests."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    try:
        sock.settimeout(NETLINK_TIMEOUT)
        sock.bind((0, 0))
    except OSError:
        sock.close()
        raise
    return sock


def _scan_netlink(scanner):
    """Stream the kernel's DNATed entries into ``scanner``: (entries in the table, whether the kernel
    did the filtering)."""
    try:
        sock = netlink_socket()
    except OSError as exc:
        raise Unavailable('netlink: no NETLINK_NETFILTER socket: %s' % exc) from None
    # The scanner's own test lets the decoder skip most of an entry that is not hairpin.
    dump = Dump(1, wanted=scanner.hairpin)
    try:
        with sock:
            sock.send(dump_request(1))
            while not dump.done:
                scanner.feed_entries(dump.feed(sock.recv(_DATAGRAM)))
            sock.send(stats_request(2))
            count = global_entries(sock.recv(_DATAGRAM), 2)
    except NetlinkError as exc:
        detail = os.strerror(exc.errno)
        if exc.errno == errno.EPERM:
            detail += ' (ctnetlink needs CAP_NET_ADMIN: run as root, become: true)'
        raise Unavailable('netlink: the kernel refused the conntrack dump: %s' % detail) from None
    except (OSError, ValueError) as exc:
        raise Unavailable('netlink: conntrack dump failed: %s' % exc) from None
    return count, dump.kernel_filter


def _scan_proc(scanner, path):
    try:
        with open(path, 'r') as table:
            scanner.feed(table)
    except PermissionError:
        raise Unavailable('%s is not readable: run as root (become: true)' % path) from None
    except FileNotFoundError:
        raise Unavailable('%s does not exist (kernel without CONFIG_NF_CONNTRACK_PROCFS): use source=conntrack '
                          'with the conntrack tool installed' % path) from None
    except OSError as exc:
        raise Unavailable('%s could not be read: %s' % (path, exc)) from None


def _scan_conntrack_tool(module, scanner):
    path = module.get_bin_path('conntrack')
    if path is None:
        raise Unavailable(
            '%s is absent (kernel without CONFIG_NF_CONNTRACK_PROCFS) and the conntrack tool is not installed: '
            'install the conntrack package (conntrack-tools)' % CONNTRACK_TABLE)
    # The dump goes to a file in the module's temporary directory and is read back line by line,
    # so memory stays bounded by the hairpin flows (run_command would hold the whole dump).
    handle, dump = tempfile.mkstemp(prefix='conntrack-', suffix='.txt', dir=module.tmpdir)
    os.close(handle)
    try:
        command = '%s -L -o extended > %s' % (shlex.quote(path), shlex.quote(dump))
        rc, out, err = module.run_command(command, use_unsafe_shell=True, environ_update={'LC_ALL': 'C'})
        if rc != 0:
            raise Unavailable('conntrack -L failed: %s' % _tool_failure(err, out, rc))
        with open(dump, 'r') as table:
            scanner.feed(table)
    finally:
        os.unlink(dump)


def hairpin_flows(module, internal, public, source='auto', limit=100, scanner_class=HairpinScanner):
    """The hairpin_flows_info result: the hairpin flows in this namespace's conntrack table.

    ``source='auto'`` tries netlink, then /proc/net/nf_conntrack, then conntrack -L, and reports the
    first that answers (the messages of all of them when none does). ``scanner_class`` is a
    HairpinScanner or a subclass that keeps more of each hairpin entry (the hairpin watch's byte
    counters), its ``result()`` merged into the returned dict.
    """
    if limit < 0:
        module.fail_json(msg='limit must be 0 or more, got %d' % limit)
    result = dict(available=False, source=None, kernel_filter=False, total_entries=0, hairpin_entries=0, flows=[],
                  pairs=[])
    if not os.path.exists(CONNTRACK_TABLE) and not os.path.exists(sysctl_path('nf_conntrack_max')):
        result['msg'] = ('nf_conntrack is not loaded in this kernel/network namespace, so there is no table to read '
                         '(no NAT or stateful firewall rule uses it here); not a gateway, or load it with modprobe nf_conntrack')
        return result
    if source != 'auto':
        sources = [source]
    elif os.path.exists(IPVS_TABLE):
        # IPVS rewrites destinations without the conntrack NAT status the netlink dump asks for.
        sources = ['proc', 'conntrack']
    else:
        sources = ['netlink', 'proc', 'conntrack']
    problems = []
    for name in sources:
        scanner = scanner_class(internal, public, limit)
        try:
            if name == 'netlink':
                count, kernel_filter = _scan_netlink(scanner)
            elif name == 'proc':
                _scan_proc(scanner, CONNTRACK_TABLE)
            else:
                _scan_conntrack_tool(module, scanner)
        except Unavailable as exc:
            problems.append(str(exc))
            continue
        result.update(scanner.result())
        if name == 'netlink':
            result.update(total_entries=count, kernel_filter=kernel_filter)
        result.update(available=True, source=name)
        return result
    result['msg'] = '; '.join(problems)
    return result


# --- outbound connections (outbound_flows_info) --------------------------------------------------

def local_addresses(module):
    """The host's own addresses: `ip -j addr` when iproute2 is there, else /proc."""
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


def outbound_flows(module, internal, public, addresses):
    """The outbound_flows facts: listeners, connections to public addresses (outside ``internal`` or
    listed in ``public``) and same-host connections to a local listener; ``addresses`` are the
    host's own (local_addresses), which make a peer this host."""
    tcp = read_text(os.path.join(PROC, 'net/tcp'))
    if tcp is None:
        module.fail_json(msg='%s/net/tcp is not readable: is /proc mounted?' % PROC)
    sockets = parse_proc_net_tcp(tcp) + parse_proc_net_tcp(read_text(os.path.join(PROC, 'net/tcp6')) or '')
    owners = socket_owners(sock['inode'] for sock in sockets if sock['inode'])
    return summarize(sockets, owners, addresses, public, internal)


# --- DNS answers (dns_answers_info) --------------------------------------------------------------

def read_resolvers(path):
    servers = []
    for line in (read_text(path) or '').splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == 'nameserver':
            try:
                servers.append(normalize_ip(fields[1]))
            except ValueError:
                servers.append(fields[1])
    return servers


def resolve(name):
    """(addresses, error) for one name through getaddrinfo."""
    try:
        infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return [], str(exc)
    addresses = []
    for info in infos:
        addr = normalize_ip(info[4][0])
        if addr not in addresses:
            addresses.append(addr)
    return addresses, None


def dns_answers(names, internal, public):
    """The dns_answers_info result: what this host's resolver answers for ``names``."""
    public = set(public)
    answers = []
    for name in names:
        addresses, error = resolve(name)
        answers.append({
            'name': name,
            'addresses': addresses,
            'public_match': any(addr in public for addr in addresses),
            'private': bool(addresses) and all(internal.contains(addr) for addr in addresses),
            'error': error,
        })
    return {'resolvers': read_resolvers(RESOLV_CONF), 'answers': answers}


# --- everything in one run (hairpin_facts) --------------------------------------------------------

def gather_facts(module, subsets, internal, public, names, flow_limit=100, kernel_log=True, nat_source='auto',
                 flows_source='auto'):
    """The hairpin_facts result: ``addresses`` (the planner knows a host by them) and one key per
    subset in ``subsets`` that applies here.

    With ``nat_rules`` gathered, the conntrack table is scanned only on a host with port forwards,
    and their public addresses count as public in the scan (a gateway whose public side lies inside
    ``internal`` still finds its hairpin flows); without it, on every host. ``dns_answers`` needs
    ``names``.
    """
    addresses = local_addresses(module)
    result = {'addresses': addresses}
    if 'conntrack' in subsets:
        result['conntrack'] = conntrack_health(module, kernel_log=kernel_log)
    scan = 'hairpin_flows' in subsets
    scan_public = public
    if 'nat_rules' in subsets:
        result['nat_rules'] = nat_rules(module, nat_source)
        forwards = result['nat_rules']['forwards']
        scan = scan and bool(forwards)
        scan_public = sorted(set(public + forwarded_addresses(forwards)))
    if scan:
        result['hairpin_flows'] = hairpin_flows(module, internal, scan_public, flows_source, flow_limit)
    if 'outbound_flows' in subsets:
        result['outbound_flows'] = outbound_flows(module, internal, public, addresses)
    if 'dns_answers' in subsets and names:
        result['dns_answers'] = dns_answers(names, internal, public)
    return result
