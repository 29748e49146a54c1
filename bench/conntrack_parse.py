# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: hairpin_flows_info on a real 250,000-entry conntrack table, side by side with
conntrack -L, in one run. Not a test; needs root, iproute2, iptables, conntrack on this host.

    . scripts/env.sh && python bench/conntrack_parse.py [--entries 250000] [--repeat 3]

A throwaway network namespace (kltest-bench) gets a veth pair, a DNAT rule (198.51.100.1 UDP
ports 1000-1999 forwarded to the internal 10.77.0.20) and a raised UDP timeout; 4 sockets (2 on
the internal 10.77.0.1, 2 on the outside 198.18.0.1) send one datagram to each of entries/4 ports
of 198.51.100.1, so 0.8 % of the table is hairpin. Then, repeated and interleaved:

  cat /proc/net/nf_conntrack          the kernel's own text generation
  conntrack -L / -L -o extended       the tool (netlink dump + formatting)
  conntrack -L -s 10.77.0.1 -d 198.51.100.1   filtered dumps (half the table,
  conntrack -L -s 10.77.0.1 -r 10.77.0.20     and the hairpin entries only)
  hairpin_flows_info source=proc      the module as a process (python, ansible imports, parse)
  hairpin_flows_info source=conntrack
  HairpinScanner over a saved copy    parse only, in this process

with wall time (median) and peak RSS per process (GNU time %M). nf_conntrack_max is global and read-only
in a child namespace: the bench reads it and stops if it is too small instead of changing it.
Writes bench/results/conntrack_parse.md. The namespace is deleted at the end (also on failure).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
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
MODULE = 'ansible_collections.keeplocal.traffic.plugins.modules.hairpin_flows_info'


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


def build_table(entries):
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


def timed(argv, env=None, stdout=None, rss_file=None):
    """(seconds, peak RSS in KiB, stdout text or None) of one process.

    The peak RSS comes from GNU time (%M), which forks the command from its own small process: a
    child forked from this Python process would count this process's pages in its ru_maxrss.
    """
    if rss_file and os.path.exists(GNU_TIME):
        argv = [GNU_TIME, '-f', '%M', '-o', rss_file] + list(argv)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE if stdout else subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            universal_newlines=True)
    out = proc.stdout.read() if stdout else None
    rc = proc.wait()
    elapsed = time.perf_counter() - start
    if rc != 0:
        raise RuntimeError('%s exited %d' % (' '.join(argv), rc))
    rss = 0
    if rss_file and os.path.exists(rss_file):
        with open(rss_file) as f:
            rss = int(f.read().split()[-1])
        os.unlink(rss_file)
    return elapsed, rss, out


def module_argv(ns, args_file):
    return ns_exec(ns, sys.executable, '-m', MODULE, args_file)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--entries', type=int, default=250000)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--output', default=os.path.join(HERE, 'results', 'conntrack_parse.md'))
    opts = parser.parse_args()

    collections = os.environ.get('KEEPLOCAL_COLLECTIONS') or os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(':')[0]
    if not collections:
        sys.exit('source scripts/env.sh first (needs the collection tree on ANSIBLE_COLLECTIONS_PATH)')
    env = dict(os.environ, PYTHONPATH=collections)
    sys.path.insert(0, collections)
    from ansible_collections.keeplocal.traffic.plugins.module_utils._conntrack_table import HairpinScanner  # pylint: disable=import-outside-toplevel

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
        for name, args in (('proc', {'source': 'proc'}), ('conntrack', {'source': 'conntrack'})):
            with open(os.path.join(tmp, name + '.json'), 'w') as f:
                json.dump({'ANSIBLE_MODULE_ARGS': dict(args, public_addresses=[PUBLIC], limit=100)}, f)
        copy = os.path.join(tmp, 'nf_conntrack.txt')
        with open(copy, 'w') as f:
            f.write(sh(*ns_exec(NS, 'cat', '/proc/net/nf_conntrack')).stdout)
        table['copy_lines'] = sum(1 for dummy in open(copy))

        commands = [
            ('cat /proc/net/nf_conntrack > /dev/null', ns_exec(NS, 'cat', '/proc/net/nf_conntrack')),
            ('conntrack -L > /dev/null', ns_exec(NS, 'conntrack', '-L')),
            ('conntrack -L -o extended > /dev/null', ns_exec(NS, 'conntrack', '-L', '-o', 'extended')),
            ('conntrack -L -s %s -d %s > /dev/null (filtered dump)' % (CLIENT, PUBLIC),
             ns_exec(NS, 'conntrack', '-L', '-s', CLIENT, '-d', PUBLIC)),
            ('conntrack -L -s %s -r %s > /dev/null (filtered dump: hairpin only)' % (CLIENT, BACKEND),
             ns_exec(NS, 'conntrack', '-L', '-s', CLIENT, '-r', BACKEND)),
            ('hairpin_flows_info source=proc', module_argv(NS, os.path.join(tmp, 'proc.json'))),
            ('hairpin_flows_info source=conntrack', module_argv(NS, os.path.join(tmp, 'conntrack.json'))),
            ('hairpin_flows_info source=proc, empty table (baseline)', module_argv(NS_EMPTY, os.path.join(tmp, 'proc.json'))),
        ]
        results = {}
        for dummy in range(opts.repeat):
            for label, argv in commands:
                is_module = 'hairpin_flows_info' in label
                elapsed, rss, out = timed(argv, env=env, stdout=is_module, rss_file=os.path.join(tmp, 'rss'))
                rows.setdefault(label, []).append((elapsed, rss))
                if is_module:
                    results[label] = json.loads(out)
            start = time.perf_counter()
            scanner = HairpinScanner(public_addresses=[PUBLIC])
            with open(copy) as f:
                scanner.feed(f)
            rows.setdefault('HairpinScanner.feed over a saved copy (in-process parse only)', []).append((time.perf_counter() - start, 0))
        filtered = len(sh(*ns_exec(NS, 'conntrack', '-L', '-s', CLIENT, '-d', PUBLIC)).stdout.splitlines())
        filtered_hairpin = len(sh(*ns_exec(NS, 'conntrack', '-L', '-s', CLIENT, '-r', BACKEND)).stdout.splitlines())
        count_after = int(sh(*ns_exec(NS, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count')).stdout)
    finally:
        cleanup()
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)

    med = {label: (statistics.median(v[0] for v in vals), max(v[1] for v in vals)) for label, vals in rows.items()}
    base = med['conntrack -L > /dev/null'][0]
    proc_res = results['hairpin_flows_info source=proc']
    ct_res = results['hairpin_flows_info source=conntrack']
    lines = [
        '# conntrack table parsing benchmark',
        '',
        'Command (root, from the repository root): `. scripts/env.sh && python bench/conntrack_parse.py --entries %d --repeat %d`'
        % (opts.entries, opts.repeat),
        '',
        'Run %s on kernel %s, %d CPUs, Python %s, conntrack-tools `%s`.' % (
            datetime.datetime.now().strftime('%Y-%m-%d %H:%M'), platform.release(), os.cpu_count(), platform.python_version(),
            sh('conntrack', '--version', check=False).stdout.strip() or sh('conntrack', '--version', check=False).stderr.strip()),
        '',
        'Table: %d entries in a throwaway namespace (filled in %.1f s; %d still there after the runs): UDP to %s '
        'ports 1..%d from 4 sockets, 2 on the internal %s and 2 on the outside %s; ports %d-%d are DNATed to %s, '
        'so %d entries are hairpin (internal client) and as many are outside clients of the same forward.' % (
            table['count'], table['fill_seconds'], count_after, PUBLIC, opts.entries // 4, CLIENT, OUTSIDE, HAIRPIN_PORTS[0],
            HAIRPIN_PORTS[1], BACKEND, proc_res['hairpin_entries']),
        'nf_conntrack_max: %d in the initial namespace; %s in the child namespace, where writing it fails (%s): '
        'it is global and was large enough, so it was not changed.' % (host_max, table['netns_max'], table['netns_max_write']),
        '',
        'Median of %d interleaved runs; wall time of each process; peak RSS from GNU time (%%M).' % opts.repeat,
        '',
        '| what | seconds | vs `conntrack -L` | peak RSS MiB |',
        '|---|---:|---:|---:|',
    ]
    for label, (secs, rss) in med.items():
        lines.append('| %s | %.3f | %.2fx | %s |' % (label, secs, secs / base, '%.1f' % (rss / 1024.0) if rss else '-'))
    lines += [
        '',
        'Module results: source=proc total_entries=%d hairpin_entries=%d pairs=%d flows=%d; source=conntrack total_entries=%d '
        'hairpin_entries=%d. The filtered dumps printed %d and %d lines.' % (
            proc_res['total_entries'], proc_res['hairpin_entries'], len(proc_res['pairs']), len(proc_res['flows']),
            ct_res['total_entries'], ct_res['hairpin_entries'], filtered, filtered_hairpin),
        '',
        'Ratios: module (proc) / `conntrack -L` = %.2f; module (conntrack) / `conntrack -L` = %.2f; '
        'module (proc) / `cat /proc/net/nf_conntrack` = %.2f. Peak RSS of the module: %.1f MiB with the full table, '
        '%.1f MiB with an empty one.' % (
            med['hairpin_flows_info source=proc'][0] / base, med['hairpin_flows_info source=conntrack'][0] / base,
            med['hairpin_flows_info source=proc'][0] / med['cat /proc/net/nf_conntrack > /dev/null'][0],
            med['hairpin_flows_info source=proc'][1] / 1024.0,
            med['hairpin_flows_info source=proc, empty table (baseline)'][1] / 1024.0),
        '',
    ]
    os.makedirs(os.path.dirname(opts.output), exist_ok=True)
    with open(opts.output, 'w') as f:
        f.write('\n'.join(lines))
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
