# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: hairpin_flows_info on a real 250,000-entry conntrack table, side by side with
conntrack -L, in one run. Not a test; needs root, iproute2, iptables, conntrack, ansible (the venv
of scripts/env.sh) on this host.

    . scripts/env.sh && python bench/conntrack_parse.py [--entries 250000] [--repeat 3]

A throwaway network namespace (kltest-bench) gets a veth pair, a DNAT rule (198.51.100.1 UDP
ports 1000-1999 forwarded to the internal 10.77.0.20) and a raised UDP timeout; 4 sockets (2 on
the internal 10.77.0.1, 2 on the outside 198.18.0.1) send one datagram to each of entries/4 ports
of 198.51.100.1, so 0.8 % of the table is hairpin and 1.6 % DNATed. Then, repeated and interleaved:

  cat /proc/net/nf_conntrack          the kernel's own text generation
  conntrack -L / -L -o extended       the tool (netlink dump + formatting)
  conntrack -L -s 10.77.0.1 -d 198.51.100.1   filtered dumps (half the table,
  conntrack -L -s 10.77.0.1 -r 10.77.0.20     and the hairpin entries only)
  hairpin_flows_info, AnsiballZ       the module as Ansible starts it: the payload ansible builds
    source=auto (netlink), proc,      (kept with ANSIBLE_KEEP_REMOTE_FILES), run by the managed
    conntrack, and on an empty table  host's python inside the namespace
  netlink scan in this process        _host_facts._scan_netlink (dump of the DNATed entries,
                                      decode, classify); the same dump received and dropped (the
                                      kernel's share); the dump without the kernel filter (what a
                                      kernel before 5.19 sends), filtered here
  HairpinScanner over a saved copy    /proc text parse only, in this process

with wall time (median), CPU time (user + system, median; the kernel's share of a dump is system
time of the reading process) and peak RSS per process (GNU time). nf_conntrack_max is global and
read-only in a child namespace: the bench reads it and stops if it is too small instead of changing
it. Writes bench/results/conntrack_parse.md. The namespaces are deleted at the end (also on failure).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import glob
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
NS = 'kltest-bench'
NS_EMPTY = 'kltest-bench-empty'
PUBLIC = '198.51.100.1'
CLIENT = '10.77.0.1'
OUTSIDE = '198.18.0.1'     # a non-internal source: half the table is outside traffic
BACKEND = '10.77.0.20'
HAIRPIN_PORTS = (1000, 1999)
MODULE = 'keeplocal.traffic.hairpin_flows_info'
# The managed host's python runs the payload (no ansible installed there), as on a real gateway.
HOST_PYTHON = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
CLONE_NEWNET = 0x40000000
BASE = 'conntrack -L > /dev/null'
CAT = 'cat /proc/net/nf_conntrack > /dev/null'
MODULE_AUTO = 'hairpin_flows_info (AnsiballZ) source=auto: netlink'
MODULE_PROC = 'hairpin_flows_info (AnsiballZ) source=proc'
MODULE_CONNTRACK = 'hairpin_flows_info (AnsiballZ) source=conntrack'
MODULE_EMPTY = 'hairpin_flows_info (AnsiballZ) source=auto, empty table (start-up baseline)'
SCAN = 'netlink scan in process (_scan_netlink: kernel-filtered dump, decode, classify)'
DUMP_ONLY = 'netlink dump in process, received and dropped (the kernel\'s share of the scan)'
SCAN_UNFILTERED = 'netlink scan in process, kernel filter off (every entry sent, as by Linux < 5.19; filtered here)'
PARSE_COPY = 'HairpinScanner.feed over a saved copy of /proc/net/nf_conntrack (in-process parse only)'


def sh(*args, check=True, **kwargs):
    return subprocess.run(list(args), check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kwargs)


def ns_exec(ns, *args):
    return ['ip', 'netns', 'exec', ns] + list(args)


def read(path):
    with open(path) as f:
        return f.read().strip()


def cleanup():
    for ns in (NS, NS_EMPTY):
        pids = sh('ip', 'netns', 'pids', ns, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
        sh('ip', 'netns', 'del', ns, check=False)


def build_table(entries, accounting=False):
    """Fill the bench namespace's table; ``accounting`` turns on nf_conntrack_acct first (byte
    counters on every entry, as on a gateway that counts hairpin bytes)."""
    sh('ip', 'netns', 'add', NS)

    def run(*args):
        return sh(*ns_exec(NS, *args))

    run('ip', 'link', 'set', 'lo', 'up')
    run('ip', 'link', 'add', 'b0', 'type', 'veth', 'peer', 'name', 'b1')
    run('ip', 'addr', 'add', CLIENT + '/16', 'dev', 'b0')
    run('ip', 'addr', 'add', OUTSIDE + '/32', 'dev', 'b0')
    run('ip', 'link', 'set', 'b0', 'up')
    run('ip', 'link', 'set', 'b1', 'up')
    for neigh in ('10.77.0.254', BACKEND):
        run('ip', 'neigh', 'add', neigh, 'lladdr', '02:00:00:00:00:01', 'dev', 'b0', 'nud', 'permanent')
    run('ip', 'route', 'add', '198.51.100.0/24', 'via', '10.77.0.254')
    run('iptables', '-t', 'nat', '-A', 'OUTPUT', '-d', PUBLIC, '-p', 'udp', '--dport', '%d:%d' % HAIRPIN_PORTS,
        '-j', 'DNAT', '--to-destination', BACKEND)
    run('iptables', '-A', 'OUTPUT', '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'ACCEPT')
    run('sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout=900')
    if accounting:
        run('sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1')
    netns_max = sh(*ns_exec(NS, 'cat', '/proc/sys/net/netfilter/nf_conntrack_max')).stdout.strip()
    write = sh(*ns_exec(NS, 'sh', '-c', 'echo 1000 > /proc/sys/net/netfilter/nf_conntrack_max'), check=False)
    sender = r'''
import socket, sys
n = int(sys.argv[1])
socks = []
for source in ("%s", "%s", "%s", "%s"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    socks.append(s)
ports = n // 4
for s in socks:
    for port in range(1, ports + 1):
        try:
            s.sendto(b"x", ("%s", port))
        except OSError:
            pass
''' % (CLIENT, CLIENT, OUTSIDE, OUTSIDE, PUBLIC)
    start = time.perf_counter()
    sh(*ns_exec(NS, sys.executable, '-c', sender, str(entries)))
    fill = time.perf_counter() - start
    count = int(sh(*ns_exec(NS, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count')).stdout)
    sh('ip', 'netns', 'add', NS_EMPTY)
    sh(*ns_exec(NS_EMPTY, 'iptables', '-A', 'OUTPUT', '-m', 'conntrack', '--ctstate', 'NEW', '-j', 'ACCEPT'))
    return {'fill_seconds': fill, 'count': count, 'netns_max': netns_max,
            'netns_max_write': (write.stderr.strip() or 'exit %d' % write.returncode)}


GNU_TIME = '/usr/bin/time'


def timed(argv, stdout=None, usage_file=None):
    """(seconds, CPU seconds, peak RSS in KiB, stdout text or None) of one process.

    CPU time and peak RSS come from GNU time (%U %S %M), which forks the command from its own small
    process: a child forked from this Python process would count this process's pages in its ru_maxrss.
    """
    argv = [GNU_TIME, '-f', '%U %S %M', '-o', usage_file] + list(argv)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE if stdout else subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            universal_newlines=True)
    out = proc.stdout.read() if stdout else None
    rc = proc.wait()
    elapsed = time.perf_counter() - start
    if rc != 0:
        raise RuntimeError('%s exited %d' % (' '.join(argv), rc))
    with open(usage_file) as f:
        user, system, rss = f.read().split()[-3:]
    os.unlink(usage_file)
    return elapsed, float(user) + float(system), int(rss), out


def build_payload(tmp, name, args, module=MODULE):
    """The AnsiballZ payload ansible writes for ``module`` with ``args`` (built by an ad-hoc run in the
    empty namespace, kept with ANSIBLE_KEEP_REMOTE_FILES)."""
    remote_tmp = os.path.join(tmp, 'remote-' + name)
    env = dict(os.environ, ANSIBLE_KEEP_REMOTE_FILES='1', ANSIBLE_REMOTE_TMP=remote_tmp, ANSIBLE_PIPELINING='0')
    subprocess.run(ns_exec(NS_EMPTY, 'ansible', 'localhost', '-c', 'local', '-i', 'localhost,', '-e',
                           'ansible_python_interpreter=' + HOST_PYTHON, '-m', module, '-a', json.dumps(args)),
                   check=True, stdout=subprocess.DEVNULL, env=env)
    found = glob.glob(os.path.join(remote_tmp, '*', 'AnsiballZ_%s.py' % module.rsplit('.', 1)[-1]))
    if len(found) != 1:
        raise RuntimeError('expected one AnsiballZ payload under %s, found %s' % (remote_tmp, found))
    payload = os.path.join(tmp, 'AnsiballZ-%s.py' % name)
    os.rename(found[0], payload)
    return payload


def import_profile(argv):
    """Self time (ms) of the imports in one run (python -X importtime), by origin."""
    stderr = subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True).stderr
    groups = {'ansible-core': 0.0, 'this collection': 0.0, 'standard library': 0.0}
    for line in stderr.splitlines():
        if not line.startswith('import time:') or 'self [us]' in line:
            continue
        self_us, dummy, name = line[len('import time:'):].split('|')
        name = name.strip()
        if name.startswith('ansible_collections.'):
            group = 'this collection'
        elif name == 'ansible' or name.startswith('ansible.'):
            group = 'ansible-core'
        else:
            group = 'standard library'
        groups[group] += int(self_us) / 1000.0
    return groups


def in_netns(ns, func, *args):
    """Call ``func`` with this thread in network namespace ``ns``: sockets it opens stay there."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open('/proc/self/ns/net') as own, open('/var/run/netns/' + ns) as target:
        if libc.setns(target.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), 'setns ' + ns)
        try:
            return func(*args)
        finally:
            libc.setns(own.fileno(), CLONE_NEWNET)


def scan_in_process(scan):
    """(seconds, CPU seconds, result) of one in-process scan of the bench table."""
    start, cpu = time.perf_counter(), time.process_time()
    result = in_netns(NS, scan)
    return time.perf_counter() - start, time.process_time() - cpu, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--entries', type=int, default=250000)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--output', default=os.path.join(HERE, 'results', 'conntrack_parse.md'))
    opts = parser.parse_args()

    collections = os.environ.get('KEEPLOCAL_COLLECTIONS') or os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(':')[0]
    if not collections:
        sys.exit('source scripts/env.sh first (needs the collection tree on ANSIBLE_COLLECTIONS_PATH)')
    if not os.path.exists(GNU_TIME):
        sys.exit('%s (GNU time) is needed for CPU time and peak RSS: apt-get install time' % GNU_TIME)
    sys.path.insert(0, collections)
    # pylint: disable=import-outside-toplevel
    from ansible_collections.keeplocal.traffic.plugins.module_utils import _host_facts
    from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_table import HairpinScanner
    from ansible_collections.keeplocal.traffic.plugins.module_utils._ctnetlink import IPS_DST_NAT, NLMSG_DONE, Dump, dump_request

    def netlink_scan():
        scanner = HairpinScanner(public_addresses=[PUBLIC])
        count, kernel_filter = _host_facts._scan_netlink(scanner)  # pylint: disable=protected-access
        return dict(scanner.result(), total_entries=count, kernel_filter=kernel_filter)

    def netlink_dump_only():
        """Datagrams of the kernel-filtered dump, received and dropped: how long the kernel takes."""
        datagrams = 0
        with _host_facts.netlink_socket() as sock:
            sock.send(dump_request(1))
            while True:
                data = sock.recv(65536)
                datagrams += 1
                pos = last = 0
                while pos + 16 <= len(data):
                    length, last = struct.unpack_from('=IH', data, pos)
                    pos += (length + 3) & ~3
                if last == NLMSG_DONE:
                    return datagrams

    def netlink_dump(status):
        """(entries the kernel sent, hairpin entries) of a dump asking for ``status`` (None: every entry),
        decoded and filtered on IPS_DST_NAT here."""
        scanner = HairpinScanner(public_addresses=[PUBLIC])
        dump = Dump(1)
        with _host_facts.netlink_socket() as sock:
            sock.send(dump_request(1, status))
            while not dump.done:
                scanner.feed_entries(dump.feed(sock.recv(65536)))
        return dump.read, scanner.hairpin_entries

    host_max = int(read('/proc/sys/net/netfilter/nf_conntrack_max'))
    if host_max < opts.entries + 1000:
        sys.exit('nf_conntrack_max is %d (global; read-only in child namespaces): below %d entries. '
                 'Raise it on the host for the run (sysctl -w net.netfilter.nf_conntrack_max=...) and restore it after.'
                 % (host_max, opts.entries))

    cleanup()
    tmp = tempfile.mkdtemp(prefix='kltest-bench-')
    rows = {}
    try:
        table = build_table(opts.entries)
        payloads = {name: build_payload(tmp, name, {'source': name, 'public_addresses': [PUBLIC], 'limit': 100})
                    for name in ('auto', 'proc', 'conntrack')}
        copy = os.path.join(tmp, 'nf_conntrack.txt')
        with open(copy, 'w') as f:
            f.write(sh(*ns_exec(NS, 'cat', '/proc/net/nf_conntrack')).stdout)
        table['copy_lines'] = sum(1 for dummy in open(copy))

        commands = [
            (CAT, ns_exec(NS, 'cat', '/proc/net/nf_conntrack')),
            (BASE, ns_exec(NS, 'conntrack', '-L')),
            ('conntrack -L -o extended > /dev/null', ns_exec(NS, 'conntrack', '-L', '-o', 'extended')),
            ('conntrack -L -s %s -d %s > /dev/null (filtered dump)' % (CLIENT, PUBLIC),
             ns_exec(NS, 'conntrack', '-L', '-s', CLIENT, '-d', PUBLIC)),
            ('conntrack -L -s %s -r %s > /dev/null (filtered dump: hairpin only)' % (CLIENT, BACKEND),
             ns_exec(NS, 'conntrack', '-L', '-s', CLIENT, '-r', BACKEND)),
            (MODULE_AUTO, ns_exec(NS, HOST_PYTHON, payloads['auto'])),
            (MODULE_PROC, ns_exec(NS, HOST_PYTHON, payloads['proc'])),
            (MODULE_CONNTRACK, ns_exec(NS, HOST_PYTHON, payloads['conntrack'])),
            (MODULE_EMPTY, ns_exec(NS_EMPTY, HOST_PYTHON, payloads['auto'])),
        ]
        results = {}
        for dummy in range(opts.repeat):
            for label, argv in commands:
                is_module = 'hairpin_flows_info' in label
                elapsed, cpu, rss, out = timed(argv, stdout=is_module, usage_file=os.path.join(tmp, 'usage'))
                rows.setdefault(label, []).append((elapsed, cpu, rss))
                if is_module:
                    results[label] = json.loads(out)
            elapsed, cpu, results[SCAN] = scan_in_process(netlink_scan)
            rows.setdefault(SCAN, []).append((elapsed, cpu, 0))
            elapsed, cpu, datagrams = scan_in_process(netlink_dump_only)
            rows.setdefault(DUMP_ONLY, []).append((elapsed, cpu, 0))
            elapsed, cpu, unfiltered = scan_in_process(lambda: netlink_dump(None))
            rows.setdefault(SCAN_UNFILTERED, []).append((elapsed, cpu, 0))
            start, cpu = time.perf_counter(), time.process_time()
            scanner = HairpinScanner(public_addresses=[PUBLIC])
            with open(copy) as f:
                scanner.feed(f)
            rows.setdefault(PARSE_COPY, []).append((time.perf_counter() - start, time.process_time() - cpu, 0))
        sent = in_netns(NS, netlink_dump, IPS_DST_NAT)
        start = time.perf_counter()
        imports = import_profile(ns_exec(NS_EMPTY, HOST_PYTHON, '-X', 'importtime', payloads['auto']))
        imports_wall = time.perf_counter() - start
        filtered = len(sh(*ns_exec(NS, 'conntrack', '-L', '-s', CLIENT, '-d', PUBLIC)).stdout.splitlines())
        filtered_hairpin = len(sh(*ns_exec(NS, 'conntrack', '-L', '-s', CLIENT, '-r', BACKEND)).stdout.splitlines())
        count_after = int(sh(*ns_exec(NS, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count')).stdout)
    finally:
        cleanup()
        shutil.rmtree(tmp)

    med = {label: (statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals), max(v[2] for v in vals))
           for label, vals in rows.items()}
    base, base_cpu = med[BASE][:2]
    auto, proc_res, ct_res, scan = results[MODULE_AUTO], results[MODULE_PROC], results[MODULE_CONNTRACK], results[SCAN]
    scan_ratio = med[SCAN][0] / base
    module_ratio = med[MODULE_AUTO][0] / base
    lines = [
        '# conntrack table parsing benchmark',
        '',
        'Command (root, from the repository root): `. scripts/env.sh && python bench/conntrack_parse.py --entries %d --repeat %d`'
        % (opts.entries, opts.repeat),
        '',
        'Run %s on kernel %s, %d CPUs (load average %s at the end), Python %s (the payloads run with %s, Python %s), '
        'conntrack-tools `%s`.' % (
            datetime.datetime.now().strftime('%Y-%m-%d %H:%M'), platform.release(), os.cpu_count(),
            ' '.join(read('/proc/loadavg').split()[:3]), platform.python_version(), HOST_PYTHON,
            sh(HOST_PYTHON, '-c', 'import platform; print(platform.python_version())').stdout.strip(),
            sh('conntrack', '--version', check=False).stdout.strip() or sh('conntrack', '--version', check=False).stderr.strip()),
        '',
        'Table: %d entries in a throwaway namespace (filled in %.1f s; %d still there after the runs): UDP to %s '
        'ports 1..%d from 4 sockets, 2 on the internal %s and 2 on the outside %s; ports %d-%d are DNATed to %s, '
        'so %d entries are hairpin (internal client) and as many are outside clients of the same forward.' % (
            table['count'], table['fill_seconds'], count_after, PUBLIC, opts.entries // 4, CLIENT, OUTSIDE, HAIRPIN_PORTS[0],
            HAIRPIN_PORTS[1], BACKEND, auto['hairpin_entries']),
        'nf_conntrack_max: %d in the initial namespace; %s in the child namespace, where writing it fails (%s): '
        'it is global and was large enough, so it was not changed.' % (host_max, table['netns_max'], table['netns_max_write']),
        '',
        'Median of %d interleaved runs. Wall time of each process (or in-process call); CPU time is user + system '
        '(GNU time %%U %%S; the kernel walks the table for a dump in the reading process, as system time); '
        'peak RSS from GNU time (%%M). Processes run inside the namespace with `ip netns exec`.' % opts.repeat,
        '',
        '| what | wall s | wall vs `conntrack -L` | CPU s | CPU vs `conntrack -L` | peak RSS MiB |',
        '|---|---:|---:|---:|---:|---:|',
    ]
    for label, (secs, cpu, rss) in med.items():
        lines.append('| %s | %.3f | %.2fx | %.3f | %.2fx | %s |' % (
            label, secs, secs / base, cpu, cpu / base_cpu, '%.1f' % (rss / 1024.0) if rss else '-'))
    lines += [
        '',
        'Results: source=auto answered with source=%s, kernel_filter=%s, total_entries=%d, hairpin_entries=%d, pairs=%d, '
        'flows=%d; source=proc total_entries=%d hairpin_entries=%d; source=conntrack total_entries=%d hairpin_entries=%d; '
        'the in-process scan: hairpin_entries=%d. The kernel sent %d entries for the filtered dump and %d without the '
        'filter (%d hairpin either way). The filtered `conntrack -L` dumps printed %d and %d lines.' % (
            auto['source'], auto['kernel_filter'], auto['total_entries'], auto['hairpin_entries'], len(auto['pairs']),
            len(auto['flows']), proc_res['total_entries'], proc_res['hairpin_entries'], ct_res['total_entries'],
            ct_res['hairpin_entries'], scan['hairpin_entries'], sent[0], unfiltered[0], unfiltered[1], filtered,
            filtered_hairpin),
        '',
        'Ratios against `conntrack -L` (wall): netlink scan in process %.3f (target <= 0.10: %s); the module as Ansible '
        'runs it %.2f (target <= 0.25: %s). Before, with the module reading /proc/net/nf_conntrack (source=proc, the '
        'previous default): %.2f; after (netlink): %.2f, %.1fx faster. CPU time: scan %.3f, module %.2f, module with '
        'source=proc %.2f.' % (
            scan_ratio, 'met' if scan_ratio <= 0.10 else 'missed', module_ratio, 'met' if module_ratio <= 0.25 else 'missed',
            med[MODULE_PROC][0] / base, module_ratio, med[MODULE_PROC][0] / med[MODULE_AUTO][0],
            med[SCAN][1] / base_cpu, med[MODULE_AUTO][1] / base_cpu, med[MODULE_PROC][1] / base_cpu),
        '',
        'Where the scan goes: the kernel answers the filtered dump (%d datagrams, received and dropped) in %.3f s wall, '
        '%.3f s CPU (%.3fx `conntrack -L`): walking the whole table is the kernel\'s work and the floor of any scan. '
        'Decoding the %d entries it sends and classifying them takes the rest, %.3f s CPU (%.1f us an entry); the '
        '0.10x target leaves %.3f s CPU for that.' % (
            datagrams, med[DUMP_ONLY][0], med[DUMP_ONLY][1], med[DUMP_ONLY][0] / base, sent[0],
            med[SCAN][1] - med[DUMP_ONLY][1], 1e6 * (med[SCAN][1] - med[DUMP_ONLY][1]) / sent[0],
            max(0.0, 0.10 * base_cpu - med[DUMP_ONLY][1])),
        '',
        'Where the module run goes: start-up (python, the AnsiballZ payload, ansible imports, argument checks) on an '
        'empty table takes %.3f s wall, %.3f s CPU (%.2fx `conntrack -L`) of the module\'s %.3f s, %.3f s CPU; the scan '
        'of the full table adds %.3f s CPU. Peak RSS: %.1f MiB with the full table over netlink, %.1f MiB with an empty '
        'table, %.1f MiB reading /proc.' % (
            med[MODULE_EMPTY][0], med[MODULE_EMPTY][1], med[MODULE_EMPTY][0] / base, med[MODULE_AUTO][0],
            med[MODULE_AUTO][1], med[MODULE_AUTO][1] - med[MODULE_EMPTY][1], med[MODULE_AUTO][2] / 1024.0,
            med[MODULE_EMPTY][2] / 1024.0, med[MODULE_PROC][2] / 1024.0),
        'Import profile of one start-up (`python -X importtime`, empty table, %.3f s with the profiling): imports take '
        '%.0f ms self time: ansible-core %.0f ms, this collection %.0f ms, the standard library %.0f ms. AnsiballZ '
        'ships the sources in a zip archive, so each run compiles every module it imports.' % (
            imports_wall, sum(imports.values()), imports['ansible-core'], imports['this collection'],
            imports['standard library']),
        '',
    ]
    os.makedirs(os.path.dirname(opts.output), exist_ok=True)
    with open(opts.output, 'w') as f:
        f.write('\n'.join(lines))
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
