# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: one run of the hairpin watch collector next to one hairpin_facts run on the same
250,000-entry conntrack table, in one run. Not a test; needs root, iproute2, iptables, conntrack,
GNU time and ansible (the venv of scripts/env.sh) on this host.

    . scripts/env.sh && python bench/watch_cost.py [--entries 250000] [--repeat 5]

The table is conntrack_parse.py's throwaway namespace (kltest-bench), filled with conntrack
accounting on: 2 internal and 2 outside sockets send one 1-byte UDP datagram to each of entries/4
ports of 198.51.100.1, ports 1000-1999 DNATed to 10.77.0.20, so 2,000 entries are hairpin (1,000
pairs), each counting 29 bytes (IPv4 + UDP headers + 1 byte). Then, repeated and interleaved, each
process in the namespace (ip netns exec) under GNU time:

  hairpin_facts (AnsiballZ)       detection's one module run per host, as Ansible starts it (every
                                  subset: NAT rules, conntrack health, the hairpin scan, sockets)
  collector (python3 -I)          the tree the hairpin_watch role installs (the module_utils closure
                                  of _watch and the entry script), run as its systemd unit runs it;
                                  its byte counters kept between runs, as on a host
  collector, empty table          the same in an empty namespace (start-up baseline)
  conntrack -L > /dev/null        the yardstick of bench/results/conntrack_parse.md

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
import sys
import tempfile

import conntrack_parse as bench

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FACTS = 'hairpin_facts (AnsiballZ), all subsets'
COLLECTOR = 'hairpin watch collector (python3 -I, as its timer runs it)'
COLLECTOR_EMPTY = 'hairpin watch collector, empty table (start-up baseline)'
BASE = 'conntrack -L > /dev/null'
HAIRPIN_BYTES = 29      # one datagram: 20 bytes IPv4, 8 bytes UDP, 1 byte payload


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
                   'state_directory': os.path.join(tmp, name, 'state'), 'public_addresses': [bench.PUBLIC],
                   'internal_cidrs': internal, 'top_pairs': 20, 'label_overrides': {}, 'app_servers': ['gunicorn'],
                   'price_per_gb': 0.045, 'currency': 'USD'}, out)
    return path


def metric_sum(text, name):
    return sum(float(line.rsplit(' ', 1)[1]) for line in text.splitlines()
               if line.startswith(name + '{') or line.startswith(name + ' '))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--entries', type=int, default=250000)
    parser.add_argument('--repeat', type=int, default=5)
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
    if host_max < opts.entries + 1000:
        sys.exit('nf_conntrack_max is %d (global; read-only in child namespaces): below %d entries. Raise it on the '
                 'host for the run and restore it after.' % (host_max, opts.entries))

    bench.cleanup()
    tmp = tempfile.mkdtemp(prefix='kltest-watch-')
    rows = {}
    try:
        table = bench.build_table(opts.entries, accounting=True)
        facts_payload = bench.build_payload(tmp, 'facts', {'public_addresses': [bench.PUBLIC]},
                                            module='keeplocal.traffic.hairpin_facts')
        entry = install_collector(os.path.join(tmp, 'lib'), module_utils_closure('_watch'),
                                  os.path.join(REPO, 'roles', 'hairpin_watch', 'files', 'keeplocal_hairpin_watch.py'))
        config = collector_config(tmp, 'table', DEFAULT_INTERNAL_CIDRS)
        config_empty = collector_config(tmp, 'empty', DEFAULT_INTERNAL_CIDRS)
        collector = [bench.HOST_PYTHON, '-I', entry, '--config']
        usage = os.path.join(tmp, 'usage')
        first = bench.timed(bench.ns_exec(bench.NS, *(collector + [config])), usage_file=usage)
        bench.timed(bench.ns_exec(bench.NS_EMPTY, *(collector + [config_empty])), usage_file=usage)
        commands = [
            (BASE, bench.ns_exec(bench.NS, 'conntrack', '-L')),
            (FACTS, bench.ns_exec(bench.NS, bench.HOST_PYTHON, facts_payload)),
            (COLLECTOR, bench.ns_exec(bench.NS, *(collector + [config]))),
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
    counted = metric_sum(metrics, 'keeplocal_hairpin_bytes_total')
    lines = [
        '# Hairpin watch collector cost',
        '',
        'Command (root, from the repository root): `. scripts/env.sh && python bench/watch_cost.py --entries %d --repeat %d`'
        % (opts.entries, opts.repeat),
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
        'collector exported keeplocal_hairpin_entries %d (source %s), %d series, and keeplocal_hairpin_bytes_total summed '
        'to %d bytes over its series, against %d x %d = %d sent.' % (
            flows['hairpin_entries'], len(flows['pairs']), flows['source'], flows['total_entries'], hairpin_entries,
            result['hairpin']['source'], result['series'], counted,
            2 * (bench.HAIRPIN_PORTS[1] - bench.HAIRPIN_PORTS[0] + 1), HAIRPIN_BYTES,
            2 * (bench.HAIRPIN_PORTS[1] - bench.HAIRPIN_PORTS[0] + 1) * HAIRPIN_BYTES),
        '',
        'Why the collector is cheaper: it is started by systemd with python3 -I, without the AnsiballZ payload and '
        'ansible-core\'s imports, and it reads only what the metrics need (no NAT rules, no kernel log). The scan itself '
        'is the same code: the kernel-filtered ctnetlink dump of the DNATed entries.',
        '',
    ]
    os.makedirs(os.path.dirname(opts.output), exist_ok=True)
    with open(opts.output, 'w') as out:
        out.write('\n'.join(lines))
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
