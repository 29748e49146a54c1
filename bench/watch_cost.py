# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: one run of the hairpin watch collector next to one hairpin_facts run on the same
250,000-entry conntrack table, in one run; and the collector with its sock_diag socket listing (the
client byte counters) next to the same collector listing /proc/net/tcp. Not a test; needs root,
iproute2, iptables, conntrack, GNU time and ansible (the venv of scripts/env.sh) on this host.

    . scripts/env.sh && python bench/watch_cost.py [--entries 250000] [--sockets 1000] [--repeat 5]

The table is conntrack_parse.py's throwaway namespace (kltest-bench), filled with conntrack
accounting on: 2 internal and 2 outside sockets send one 1-byte UDP datagram to each of entries/4
ports of 198.51.100.1, ports 1000-1999 DNATed to 10.77.0.20, so 2,000 entries are hairpin (1,000
pairs), each counting 29 bytes (IPv4 + UDP headers + 1 byte). A holder process in the namespace keeps
--sockets TCP connections from 10.77.0.1 to a second public address, 198.51.100.2:8080 on lo, each
after 100 bytes sent and 100 received: 2 x sockets + 1 TCP sockets to list, the client halves
counted as hairpin bytes. Then, repeated and interleaved, each process in the namespace (ip netns
exec) under GNU time:

  hairpin_facts (AnsiballZ)       detection's one module run per host, as Ansible starts it (every
                                  subset: NAT rules, conntrack health, the hairpin scan, sockets)
  collector (python3 -I)          the tree the hairpin_watch role installs (the module_utils closure
                                  of _watch and the entry script), run as its systemd unit runs it;
                                  its byte counters kept between runs, as on a host
  collector, sock_diag off        the same tree, sock_diag made unavailable (_sock_diag.diag_socket
                                  raises as on a kernel without it): sockets from /proc/net/tcp,
                                  no client bytes; its own counters
  collector, empty table          the same in an empty namespace (start-up baseline)
  conntrack -L > /dev/null        the yardstick of bench/results/conntrack_parse.md

and, in one process in the namespace, the socket listing alone (_sock_diag.tcp_sockets) through
sock_diag and through the /proc fallback, alternated.

Writes bench/results/watch_cost.md. The namespaces are deleted at the end (also on failure).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import conntrack_parse as bench

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FACTS = 'hairpin_facts (AnsiballZ), all subsets'
COLLECTOR = 'hairpin watch collector (python3 -I, as its timer runs it)'
COLLECTOR_PROC = 'hairpin watch collector, sock_diag off (sockets from /proc/net/tcp, no client bytes)'
COLLECTOR_EMPTY = 'hairpin watch collector, empty table (start-up baseline)'
BASE = 'conntrack -L > /dev/null'
TOP_PAIRS = 20
HAIRPIN_BYTES = 29      # one datagram: 20 bytes IPv4, 8 bytes UDP, 1 byte payload
TCP_PUBLIC = '198.51.100.2'
TCP_PORT = 8080
EXCHANGE = 100          # bytes each way per held connection
# tcp_info's bytes_acked counts the SYN too.
CLIENT_BYTES = 2 * EXCHANGE + 1

HOLDER = r'''
import socket, sys, time
count, ready = int(sys.argv[1]), sys.argv[2]
srv = socket.socket()
srv.bind(("%s", %d))
srv.listen(1024)
held = []
for dummy in range(count):
    client = socket.socket()
    client.bind(("%s", 0))
    client.connect(("%s", %d))
    conn = srv.accept()[0]
    client.sendall(b"q" * %d)
    conn.recv(%d, socket.MSG_WAITALL)
    conn.sendall(b"a" * %d)
    client.recv(%d, socket.MSG_WAITALL)
    held += [client, conn]
time.sleep(0.5)
open(ready, "w").close()
time.sleep(3600)
''' % (TCP_PUBLIC, TCP_PORT, bench.CLIENT, TCP_PUBLIC, TCP_PORT, EXCHANGE, EXCHANGE, EXCHANGE, EXCHANGE)

# The collector with sock_diag unavailable, as on a kernel without it: LIB CONFIG.
WITHOUT_SOCK_DIAG = r'''
import errno, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.keeplocal.traffic.plugins.module_utils import _sock_diag, _watch
def unavailable():
    raise OSError(errno.EPROTONOSUPPORT, "sock_diag made unavailable by the benchmark")
_sock_diag.diag_socket = unavailable
sys.exit(_watch.main(["--config", sys.argv[2]]))
'''

# The socket listing alone, alternated through sock_diag and the /proc fallback: LIB ROUNDS.
LISTING = r'''
import errno, json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.keeplocal.traffic.plugins.module_utils import _sock_diag
def unavailable():
    raise OSError(errno.EPROTONOSUPPORT, "off")
real = _sock_diag.diag_socket
times = {"sock_diag": [], "proc": []}
sizes = {}
for dummy in range(int(sys.argv[2])):
    for name, opener in (("sock_diag", real), ("proc", unavailable)):
        _sock_diag.diag_socket = opener
        start = time.process_time()
        listing = _sock_diag.tcp_sockets()
        times[name].append(time.process_time() - start)
        assert listing["source"] == name, listing["msg"]
        sizes[name] = len(listing["sockets"])
print(json.dumps({name: {"median_ms": 1000 * statistics.median(values), "sockets": sizes[name]}
                  for name, values in times.items()}))
'''


def install_collector(root, closure, entry):
    """The tree the hairpin_watch role installs under /usr/local/lib/keeplocal-watch, in ``root``."""
    package = os.path.join(root, 'ansible_collections', 'keeplocal', 'traffic', 'plugins', 'module_utils')
    os.makedirs(package)
    directory = package
    while directory != root:
        open(os.path.join(directory, '__init__.py'), 'w').close()
        directory = os.path.dirname(directory)
    for path in closure:
        shutil.copy(path, package)
    shutil.copy(entry, root)
    return os.path.join(root, os.path.basename(entry))


def collector_config(tmp, name, internal):
    """A configuration file with its own textfile and state directories."""
    for sub in ('textfile', 'state'):
        os.makedirs(os.path.join(tmp, name, sub))
    path = os.path.join(tmp, name, 'config.json')
    with open(path, 'w') as out:
        json.dump({'interval': 60, 'textfile_directory': os.path.join(tmp, name, 'textfile'),
                   'state_directory': os.path.join(tmp, name, 'state'), 'public_addresses': [bench.PUBLIC, TCP_PUBLIC],
                   'internal_cidrs': internal, 'top_pairs': TOP_PAIRS, 'label_overrides': {}, 'app_servers': ['gunicorn'],
                   'price_per_gb': 0.045, 'currency': 'USD'}, out)
    return path


def metric_sum(text, name, match=''):
    return sum(float(line.rsplit(' ', 1)[1]) for line in text.splitlines()
               if (line.startswith(name + '{') or line.startswith(name + ' ')) and match in line)


def hold_connections(count, tmp):
    """Start the holder in the bench namespace (cleanup() kills it with the namespace's processes)."""
    ready = os.path.join(tmp, 'held')
    bench.sh(*bench.ns_exec(bench.NS, 'ip', 'addr', 'add', TCP_PUBLIC + '/32', 'dev', 'lo'))
    holder = subprocess.Popen(bench.ns_exec(bench.NS, bench.HOST_PYTHON, '-c', HOLDER, str(count), ready))
    deadline = time.monotonic() + 60 + count / 50.0
    while not os.path.exists(ready):
        if holder.poll() is not None or time.monotonic() > deadline:
            sys.exit('the connection holder did not start (exit %r)' % holder.poll())
        time.sleep(0.1)
    return holder


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--entries', type=int, default=250000)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--sockets', type=int, default=1000, help='TCP connections held to a public address')
    parser.add_argument('--output', default=os.path.join(HERE, 'results', 'watch_cost.md'))
    opts = parser.parse_args()

    collections = os.environ.get('KEEPLOCAL_COLLECTIONS')
    if not collections:
        sys.exit('source scripts/env.sh first (needs the collection tree in KEEPLOCAL_COLLECTIONS)')
    if not os.path.exists(bench.GNU_TIME):
        sys.exit('%s (GNU time) is needed for CPU time and peak RSS: apt-get install time' % bench.GNU_TIME)
    sys.path.insert(0, collections)
    # pylint: disable=import-outside-toplevel
    from ansible_collections.keeplocal.traffic.plugins.filter.hairpin_watch import module_utils_closure
    from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import DEFAULT_INTERNAL_CIDRS

    host_max = int(bench.read('/proc/sys/net/netfilter/nf_conntrack_max'))
    if host_max < opts.entries + opts.sockets + 1000:
        sys.exit('nf_conntrack_max is %d (global; read-only in child namespaces): below %d entries. Raise it on the '
                 'host for the run and restore it after.' % (host_max, opts.entries + opts.sockets + 1000))

    bench.cleanup()
    tmp = tempfile.mkdtemp(prefix='kltest-watch-')
    rows = {}
    try:
        table = bench.build_table(opts.entries, accounting=True)
        facts_payload = bench.build_payload(tmp, 'facts', {'public_addresses': [bench.PUBLIC]},
                                            module='keeplocal.traffic.hairpin_facts')
        entry = install_collector(os.path.join(tmp, 'lib'), module_utils_closure('_watch'),
                                  os.path.join(REPO, 'roles', 'hairpin_watch', 'files', 'keeplocal_hairpin_watch.py'))
        hold_connections(opts.sockets, tmp)
        config = collector_config(tmp, 'table', DEFAULT_INTERNAL_CIDRS)
        config_proc = collector_config(tmp, 'proc', DEFAULT_INTERNAL_CIDRS)
        config_empty = collector_config(tmp, 'empty', DEFAULT_INTERNAL_CIDRS)
        lib = os.path.dirname(entry)
        collector = [bench.HOST_PYTHON, '-I', entry, '--config']
        collector_proc = [bench.HOST_PYTHON, '-I', '-c', WITHOUT_SOCK_DIAG, lib, config_proc]
        usage = os.path.join(tmp, 'usage')
        first = bench.timed(bench.ns_exec(bench.NS, *(collector + [config])), usage_file=usage)
        bench.timed(bench.ns_exec(bench.NS, *collector_proc), usage_file=usage)
        bench.timed(bench.ns_exec(bench.NS_EMPTY, *(collector + [config_empty])), usage_file=usage)
        commands = [
            (BASE, bench.ns_exec(bench.NS, 'conntrack', '-L')),
            (FACTS, bench.ns_exec(bench.NS, bench.HOST_PYTHON, facts_payload)),
            (COLLECTOR, bench.ns_exec(bench.NS, *(collector + [config]))),
            (COLLECTOR_PROC, bench.ns_exec(bench.NS, *collector_proc)),
            (COLLECTOR_EMPTY, bench.ns_exec(bench.NS_EMPTY, *(collector + [config_empty]))),
        ]
        facts = None
        for dummy in range(opts.repeat):
            for label, argv in commands:
                elapsed, cpu, rss, out = bench.timed(argv, stdout=label == FACTS, usage_file=usage)
                rows.setdefault(label, []).append((elapsed, cpu, rss))
                if label == FACTS:
                    facts = json.loads(out)
        with open(os.path.join(tmp, 'table', 'textfile', 'keeplocal_hairpin.prom')) as handle:
            metrics = handle.read()
        with open(os.path.join(tmp, 'table', 'state', 'result.json')) as handle:
            result = json.load(handle)
        with open(os.path.join(tmp, 'proc', 'state', 'result.json')) as handle:
            result_proc = json.load(handle)
        listing = json.loads(bench.sh(*bench.ns_exec(bench.NS, bench.HOST_PYTHON, '-I', '-c', LISTING, lib,
                                                     str(20 * opts.repeat))).stdout)
        count_after = int(bench.sh(*bench.ns_exec(bench.NS, 'cat', '/proc/sys/net/netfilter/nf_conntrack_count')).stdout)
    finally:
        bench.cleanup()
        shutil.rmtree(tmp)

    med = {label: (statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals), max(v[2] for v in vals))
           for label, vals in rows.items()}
    facts_wall, facts_cpu = med[FACTS][:2]
    base_wall = med[BASE][0]
    ratio_wall = med[COLLECTOR][0] / facts_wall
    ratio_cpu = med[COLLECTOR][1] / facts_cpu
    flows = facts['hairpin_flows']
    hairpin_entries = metric_sum(metrics, 'keeplocal_hairpin_entries')
    # Per kind from the collector's per-pair counts (a pair past the first top_pairs counts in the
    # series "other", whose counted_by is "other" too); the series together hold every byte.
    counted = sum(pair['bytes'] for pair in result['cost']['pairs'] if pair['counted_by'] == 'gateway')
    counted_client = sum(pair['bytes'] for pair in result['cost']['pairs'] if pair['counted_by'] == 'client')
    series_total = metric_sum(metrics, 'keeplocal_hairpin_bytes_total')
    diag_wall = med[COLLECTOR][0] / med[COLLECTOR_PROC][0]
    diag_cpu = med[COLLECTOR][1] / med[COLLECTOR_PROC][1]
    lines = [
        '# Hairpin watch collector cost',
        '',
        'Command (root, from the repository root): `. scripts/env.sh && python bench/watch_cost.py --entries %d '
        '--sockets %d --repeat %d`' % (opts.entries, opts.sockets, opts.repeat),
        '',
        'Run %s on kernel %s, %d CPUs (load average %s at the end); the processes run with %s (Python %s).' % (
            datetime.datetime.now().strftime('%Y-%m-%d %H:%M'), platform.release(), os.cpu_count(),
            ' '.join(bench.read('/proc/loadavg').split()[:3]), bench.HOST_PYTHON,
            bench.sh(bench.HOST_PYTHON, '-c', 'import platform; print(platform.python_version())').stdout.strip()),
        '',
        'Table: %d entries in conntrack_parse.py\'s throwaway namespace, with conntrack accounting on (filled in %.1f s; '
        '%d still there after the runs): UDP to %s ports 1..%d from 2 internal and 2 outside sockets, ports %d-%d DNATed '
        'to %s, so %d entries are hairpin, %d bytes each.' % (
            table['count'], table['fill_seconds'], count_after, bench.PUBLIC, opts.entries // 4, bench.HAIRPIN_PORTS[0],
            bench.HAIRPIN_PORTS[1], bench.BACKEND, 2 * (bench.HAIRPIN_PORTS[1] - bench.HAIRPIN_PORTS[0] + 1),
            HAIRPIN_BYTES),
        '',
        'Median of %d interleaved runs; wall time of each process, CPU time user + system and peak RSS from GNU time. '
        'The collector\'s counters are kept between its runs, as on a host (its first run on this table, counting every '
        'entry as new: %.3f s wall, %.3f s CPU).' % (opts.repeat, first[0], first[1]),
        '',
        '| what | wall s | wall vs hairpin_facts | CPU s | CPU vs hairpin_facts | peak RSS MiB |',
        '|---|---:|---:|---:|---:|---:|',
    ]
    for label, (secs, cpu, rss) in med.items():
        lines.append('| %s | %.3f | %.2fx | %.3f | %.2fx | %.1f |' % (
            label, secs, secs / facts_wall, cpu, cpu / facts_cpu, rss / 1024.0))
    lines += [
        '',
        'Ratio: the collector costs **%.2fx** hairpin_facts in wall time and %.2fx in CPU time on the same table '
        '(%.2fx `conntrack -L` in wall time); its start-up on an empty table is %.3f s of its %.3f s.' % (
            ratio_wall, ratio_cpu, med[COLLECTOR][0] / base_wall, med[COLLECTOR_EMPTY][0], med[COLLECTOR][0]),
        '',
        'Same table, same findings: hairpin_facts found %d hairpin entries in %d pairs (source %s, total_entries %d); the '
        'collector exported keeplocal_hairpin_entries %d (source %s), %d series; its byte counters hold %d bytes '
        'counted by the gateway (conntrack accounting), against %d x %d = %d sent.' % (
            flows['hairpin_entries'], len(flows['pairs']), flows['source'], flows['total_entries'], hairpin_entries,
            result['hairpin']['source'], result['series'], counted,
            2 * (bench.HAIRPIN_PORTS[1] - bench.HAIRPIN_PORTS[0] + 1), HAIRPIN_BYTES,
            2 * (bench.HAIRPIN_PORTS[1] - bench.HAIRPIN_PORTS[0] + 1) * HAIRPIN_BYTES),
        '',
        'Why the collector is cheaper: it is started by systemd with python3 -I, without the AnsiballZ payload and '
        'ansible-core\'s imports, and it reads only what the metrics need (no NAT rules, no kernel log). The scan itself '
        'is the same code: the kernel-filtered ctnetlink dump of the DNATed entries.',
        '',
        '## The sock_diag socket listing (client byte counters)',
        '',
        'Same namespace, %d held TCP connections to %s:%d (%d TCP sockets listed by sock_diag, %d by /proc/net/tcp). '
        'The collector with sock_diag costs **%.2fx** the same collector listing /proc/net/tcp in wall time and %.2fx '
        'in CPU time (%.3f vs %.3f s wall, %.3f vs %.3f s CPU, medians of the interleaved runs above).' % (
            opts.sockets, TCP_PUBLIC, TCP_PORT, listing['sock_diag']['sockets'], listing['proc']['sockets'], diag_wall,
            diag_cpu, med[COLLECTOR][0], med[COLLECTOR_PROC][0], med[COLLECTOR][1], med[COLLECTOR_PROC][1]),
        '',
        'The listing alone, in one process in the namespace, alternated %d times: _sock_diag.tcp_sockets() through '
        'sock_diag %.2f ms CPU (median), through the /proc fallback %.2f ms: **%.2fx**.' % (
            20 * opts.repeat, listing['sock_diag']['median_ms'], listing['proc']['median_ms'],
            listing['sock_diag']['median_ms'] / listing['proc']['median_ms']),
        '',
        'What the client side counted: %d bytes (counted_by="client"), against %d connections x %d (%d bytes sent, %d '
        'received, 1 for the SYN) = %d. All keeplocal_hairpin_bytes_total series (top %d pairs of both kinds and '
        '"other") sum to %d = %d + %d. result.client_bytes %s. The run without sock_diag: %s.' % (
            counted_client, opts.sockets, CLIENT_BYTES, EXCHANGE, EXCHANGE, opts.sockets * CLIENT_BYTES, TOP_PAIRS,
            series_total, counted, counted_client,
            json.dumps(result['client_bytes'], sort_keys=True), json.dumps(result_proc['client_bytes'], sort_keys=True)),
        '',
    ]
    os.makedirs(os.path.dirname(opts.output), exist_ok=True)
    with open(opts.output, 'w') as out:
        out.write('\n'.join(lines))
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
