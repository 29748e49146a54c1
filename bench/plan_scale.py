# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the planner (build_plan) against json.loads of the facts it plans from, on synthetic fleets.

    . scripts/env.sh && python bench/plan_scale.py [--sizes 100,500,1000,2000,5000] [--repeat 5] [--profile 100,5000]
                                                   [--baseline old_plan.py]
    . scripts/env.sh && python bench/plan_scale.py --dump-facts 30 > facts.json

The fleet (``fleet()``): sites of about 50 hosts, each behind one NAT gateway with 8 public
addresses and 20 port forwards to the site's backends (two of every five port-translated, e.g.
:5432 -> :54321), plus a port range, an all-port forward, a network forward and one on the
gateway's own addresses. Every 4th site also has IPv6 (ULA inside, 2001:db8::/32 outside) with a
:443 forward. Clients use 15 services each, 60 % in their own site (the gateway's conntrack sees
those, the client's sockets see all) and resolve their names plus a few they do not use (latent
pairs) and a shared name that reaches several backends. Backends run nginx -> gunicorn on
loopback and sometimes call their own public address. Every host reports conntrack (some gateways
near full or dropping); a few hosts are unreachable or have a failed source; two outside hosts use
the public addresses as intended. Host counts are exact; the mix scales linearly with them.

Per size, in rounds (sizes interleaved within each round), median over the rounds: json.loads of
the facts, then the plan of what it returned (with ``--baseline``, another planner's too, whose
plan must be byte-identical), then json.loads of the plan's own JSON: what merely creating
objects of the plan's size costs at C speed, a floor for any Python planner. Printed: sizes,
times, the ratio plan / json.loads (median of the per-round ratios), pairs per second, and the
per-host cost relative to the smallest size (flat = linear). Times are CPU seconds of this process
(time.process_time), which other load on a shared machine does not inflate; every measurement
starts from a collected heap. The first table runs with the garbage collector on, as the filter
runs in Ansible (the planner pauses it while it plans, so the caller's next collection examines
the plan's objects: a column charges json.loads and the plan a collection of the young
generations right after, gc.collect(1)). The second table repeats the measurements with the
collector paused throughout, to show its share.
``--profile 100,5000`` counts the plan's function calls per host at those sizes (constant: its
work is linear in the fleet) and prints cProfile's top entries for the last (collector paused).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import gc
import importlib.util
import ipaddress
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time

PUBLIC_V4 = int(ipaddress.IPv4Address('198.18.0.0'))     # benchmark range: public, never internal
OUTSIDE_V4 = int(ipaddress.IPv4Address('198.19.200.0'))
HOSTS_PER_SITE = 50
SERVICES_PER_SITE = 20
SERVICES_PER_CLIENT = 15
# (public port, private port, client process): two of five translated.
SERVICE_PORTS = ((80, 80, 'curl'), (443, 8443, 'python3'), (5432, 54321, 'psql'), (6379, 6379, 'redis-cli'),
                 (8080, 18080, 'java'))
CLOUD_PUBLIC = '203.0.113.10'      # a cloud NAT no gateway in the fleet knows (the forwards= option does)
LISTED_PUBLIC = '203.0.113.11'     # listed in public_addresses, no forward known anywhere
INTERNET = '192.0.2.80'            # neither: ordinary internet traffic


def v4(value):
    return str(ipaddress.IPv4Address(value))


class Site:
    """One site: a /24 (and a /64 on IPv6 sites) behind one gateway with its forwards."""

    def __init__(self, index, hosts):
        self.index = index
        self.hosts = hosts
        self.prefix = '10.%d.%d.' % (index // 256, index % 256)
        self.ipv6 = index % 4 == 1
        self.gateway = 'gw-%03d' % index
        self.public = [v4(PUBLIC_V4 + index * 8 + slot) for slot in range(8)]
        self.public6 = '2001:db8:%x::1' % (index + 1)
        self.backends = []
        self.clients = []
        self.services = []      # dicts: name, public_ip, port, proto, backend, private_ip, private_port, process

    def address(self, slot):
        return self.prefix + str(slot)

    def address6(self, slot):
        return 'fd00:0:%x::%x' % (self.index + 1, slot)


def _forward(proto, public_ip, public_port, private_ip, private_port, public_port_end=None, private_port_end=None):
    if public_port is None:
        match = ''
    elif public_port_end is None:
        match = ' --dport %d' % public_port
    else:
        match = ' --dport %d:%d' % (public_port, public_port_end)
    target = private_ip if private_port is None else '%s:%s' % (private_ip, private_port)
    return {'proto': proto, 'public_ip': public_ip, 'public_port': public_port, 'public_port_end': public_port_end,
            'private_ip': private_ip, 'private_port': private_port, 'private_port_end': private_port_end,
            'port_translated': private_port is not None and private_port != public_port, 'in_interface': None,
            'rule': '-A PREROUTING%s%s%s -j DNAT --to-destination %s' % (
                ' -d %s' % public_ip if public_ip else '', ' -p %s' % proto if proto else '', match, target)}


def _conntrack(rng, count, maximum, cpus, writable, drop=0):
    stats = {'found': 0, 'invalid': rng.randint(0, 50), 'insert': 0, 'insert_failed': 0, 'drop': drop, 'early_drop': 0,
             'search_restart': rng.randint(0, 9)}
    per_cpu = [dict(stats, cpu=cpu, drop=drop if cpu == 0 else 0) for cpu in range(cpus)]
    return {'available': True, 'count': count, 'max': maximum, 'buckets': maximum, 'usage': round(count / float(maximum), 6),
            'initial_netns': writable, 'writable': writable, 'stats': stats, 'per_cpu': per_cpu,
            'memory_bytes': count * 320 + maximum * 8, 'max_memory_bytes': maximum * 328, 'table_full_messages': 0,
            'kernel_log': 'dmesg', 'message': None if writable else 'read-only: not the initial network namespace'}


def _listeners(rng, items):
    return [{'ip': ip, 'port': port, 'process': process, 'pid': rng.randint(300, 40000)} for ip, port, process in items]


def _layout(hosts):
    """Sites with their host counts: about HOSTS_PER_SITE each, at least two sites, 2 outside hosts."""
    inside = hosts - 2
    count = max(2, round(inside / float(HOSTS_PER_SITE)))
    sizes = [inside // count + (1 if index < inside % count else 0) for index in range(count)]
    return [Site(index, size) for index, size in enumerate(sizes)]


def _services(site, rng):
    backends = site.backends
    for number in range(SERVICES_PER_SITE):
        public_port, private_port, process = SERVICE_PORTS[number // 4]
        backend = backends[number % len(backends)]
        site.services.append({'name': 'svc%d.site%d.example.test' % (number, site.index), 'public_ip': site.public[number % 4],
                              'port': public_port, 'proto': 'tcp', 'backend': backend['host'], 'private_ip': backend['ip'],
                              'private_port': private_port, 'process': process, 'gateway': site.gateway})
    if site.ipv6:
        backend = backends[0]
        site.services.append({'name': 'v6.site%d.example.test' % site.index, 'public_ip': site.public6, 'port': 443, 'proto': 'tcp',
                              'backend': backend['host'], 'private_ip': backend['ip6'], 'private_port': 443,
                              'process': 'curl', 'gateway': site.gateway})
    rng.shuffle(site.services)


def _nat_rules(site):
    forwards = [_forward(svc['proto'], svc['public_ip'], svc['port'], svc['private_ip'], svc['private_port'])
                for svc in site.services]
    first, second = site.backends[0]['ip'], site.backends[-1]['ip']
    forwards += [
        # a port range, proto null (tcp and udp), private ports shifted with it
        _forward(None, site.public[4] + '/32', 30000, first, 30000, 30009, 30009),
        # every port of one address (a DMZ host)
        _forward('tcp', site.public[5], None, second, None),
        # a network: two addresses, one port range, the private port kept
        _forward('tcp', '%s/31' % site.public[6], 9000, first, None, 9100),
        # the gateway's own addresses (no -d): ssh to a backend
        _forward('tcp', None, 2222, second, 22),
        # a rule whose target the parser could not read: ignored
        dict(_forward('tcp', site.public[7], 7000, 'unparsed', 7000), private_ip=None),
    ]
    snat = [{'source': site.prefix + '0/24', 'destination': site.prefix + '0/24', 'out_interface': None, 'ctstate_dnat': True,
             'target': 'SNAT', 'to_source': site.address(1),
             'rule': '-A POSTROUTING -s %s0/24 -d %s0/24 -m conntrack --ctstate DNAT -j SNAT --to-source %s'
                     % (site.prefix, site.prefix, site.address(1))},
            {'source': site.prefix + '0/24', 'destination': None, 'out_interface': 'wan0', 'ctstate_dnat': False,
             'target': 'MASQUERADE', 'to_source': None, 'rule': '-A POSTROUTING -s %s0/24 -o wan0 -j MASQUERADE' % site.prefix}]
    return {'source': 'iptables' if site.index % 3 else 'nft', 'forwards': forwards, 'snat_rules': snat}


def _flows(pairs, limit=100):
    flows = []
    for pair in pairs:
        for number in range(pair['connections']):
            if len(flows) == limit:
                return flows
            flows.append({'proto': pair['proto'], 'client_ip': pair['client_ip'], 'client_port': 40000 + number,
                          'public_ip': pair['public_ip'], 'public_port': pair['public_port'], 'backend_ip': pair['backend_ip'],
                          'backend_port': pair['backend_port'], 'snat_ip': pair['snat_ip'],
                          'state': 'TIME_WAIT' if number % 3 else 'ESTABLISHED', 'assured': True})
    return flows


def _answer(name, addresses, public_match=True):
    return {'name': name, 'addresses': addresses, 'public_match': public_match, 'private': False}


def fleet(hosts, seed=7, services_per_client=SERVICES_PER_CLIENT):
    """``({host: hairpin_detect_facts}, name_ports)`` for a synthetic fleet of exactly ``hosts`` hosts (at least 20).

    ``name_ports`` maps every service name to its port, as a fleet's detect run passes it.
    """
    if hosts < 20:
        raise ValueError('a fleet needs at least 20 hosts (two sites with clients), got %d' % hosts)
    rng = random.Random(seed)
    sites = _layout(hosts)
    facts = {}
    for site in sites:
        backends = max(2, site.hosts // 10)
        for slot in range(backends):
            name = 'app-%03d-%02d' % (site.index, slot)
            site.backends.append({'host': name, 'ip': site.address(10 + slot), 'ip6': site.address6(10 + slot)})
        site.clients = ['cli-%03d-%03d' % (site.index, slot) for slot in range(site.hosts - 1 - backends)]
        _services(site, rng)
    services = [svc for site in sites for svc in site.services]
    name_ports = {svc['name']: [svc['port']] for svc in services}
    gateway_pairs = {site.gateway: [] for site in sites}

    for site in sites:
        # backends: nginx in front of gunicorn on loopback, nginx's own front listener, sometimes a call home
        for slot, backend in enumerate(site.backends):
            own = [svc for svc in site.services if svc['backend'] == backend['host']]
            same_host = [{'remote_ip': '127.0.0.1', 'remote_port': 8000, 'connections': rng.randint(1, 40),
                          'client_process': 'nginx', 'listener_process': 'gunicorn'},
                         {'remote_ip': '127.0.0.1', 'remote_port': 80, 'connections': 1, 'client_process': None,
                          'listener_process': 'nginx'}]
            if slot % 3 == 1:
                same_host.append({'remote_ip': '::1', 'remote_port': 9000, 'connections': 2, 'client_process': 'php-fpm',
                                  'listener_process': 'uwsgi'})
            to_public = []
            if slot == 0 and own:
                svc = own[0]
                to_public.append({'remote_ip': svc['public_ip'], 'remote_port': svc['port'], 'connections': 3, 'process': 'cron'})
                gateway_pairs[site.gateway].append((backend['ip'], svc, 3))
            addresses = [backend['ip'], '172.17.0.1'] + ([backend['ip6']] if site.ipv6 else [])
            facts[backend['host']] = {
                'host': backend['host'], 'addresses': addresses,
                'conntrack': _conntrack(rng, rng.randint(100, 5000), 262144, 4, True),
                'outbound_flows': {'local_addresses': addresses,
                                   'listeners': _listeners(rng, [('0.0.0.0', 80, 'nginx'), ('0.0.0.0', 22, 'sshd'),
                                                                 ('127.0.0.1', 8000, 'gunicorn')]
                                                           + [('0.0.0.0', svc['private_port'], 'app') for svc in own]),
                                   'to_public': to_public, 'same_host': same_host},
            }
        # clients
        away = [svc for svc in services if svc['gateway'] != site.gateway and ':' not in svc['public_ip']]
        for slot, client in enumerate(site.clients):
            ip = site.address(60 + slot)
            ip6 = site.address6(60 + slot) if site.ipv6 and slot % 2 == 0 else None
            home = [svc for svc in site.services if ':' not in svc['public_ip'] or ip6]
            local_count = min(len(home), int(round(services_per_client * 0.6)))
            used = rng.sample(home, local_count) + rng.sample(away, min(len(away), services_per_client - local_count))
            to_public = []
            for number, svc in enumerate(used):
                connections = rng.randint(1, 30)
                local = svc['gateway'] == site.gateway
                if local:
                    source = ip6 if ':' in svc['public_ip'] else ip
                    gateway_pairs[site.gateway].append((source, svc, connections + rng.randint(0, 3)))
                if local and number % 10 == 9:
                    continue    # closed on the client, still in the gateway's table
                to_public.append({'remote_ip': svc['public_ip'], 'remote_port': svc['port'], 'connections': connections,
                                  'process': svc['process']})
            if slot % 5 == 0:
                to_public.append({'remote_ip': CLOUD_PUBLIC, 'remote_port': 443, 'connections': 2, 'process': 'curl'})
                to_public.append({'remote_ip': LISTED_PUBLIC, 'remote_port': 443, 'connections': 1, 'process': 'curl'})
            to_public.append({'remote_ip': INTERNET, 'remote_port': 443, 'connections': 4, 'process': 'apt'})
            to_public.append({'remote_ip': site.public[0], 'remote_port': 22, 'connections': 1, 'process': 'ssh'})
            names = set(svc['name'] for svc in used)
            unused = [svc for svc in rng.sample(away, 6) if svc['name'] not in names][:3]
            answers = [_answer(svc['name'], [svc['public_ip']]) for svc in used + unused]
            if slot % 4 == 0:
                answers.append(_answer('www.site%d.example.test.' % site.index, [site.public[slot % 4]]))
            answers.append(_answer('cdn.example.org', [INTERNET], public_match=False))
            addresses = [ip, '172.17.0.1'] + ([ip6] if ip6 else [])
            conntrack = _conntrack(rng, rng.randint(10, 900), 65536, 2, slot % 2 == 0)
            if slot % 50 == 7:
                conntrack = {'available': False, 'count': None, 'max': None, 'buckets': None, 'usage': None, 'stats': {},
                             'per_cpu': [], 'message': 'nf_conntrack is not loaded'}
            facts[client] = {
                'host': client, 'addresses': addresses,
                'conntrack': conntrack,
                'outbound_flows': {'local_addresses': addresses,
                                   'listeners': _listeners(rng, [('0.0.0.0', 22, 'sshd'), ('127.0.0.53', 53, 'systemd-resolve'),
                                                                 ('127.0.0.1', 631, 'cupsd')]),
                                   'to_public': to_public, 'same_host': []},
                'dns_answers': {'resolvers': [site.address(1)], 'answers': answers},
            }
        # the gateway
        pairs = []
        merged = {}
        for source, svc, connections in gateway_pairs[site.gateway]:
            key = (source, svc['public_ip'], svc['port'])
            if key in merged:
                merged[key]['connections'] += connections
                continue
            merged[key] = {'client_ip': source, 'proto': svc['proto'], 'public_ip': svc['public_ip'], 'public_port': svc['port'],
                           'backend_ip': svc['private_ip'], 'backend_port': svc['private_port'],
                           'snat_ip': site.address6(1) if ':' in source else site.address(1), 'snat': True,
                           'connections': connections}
            pairs.append(merged[key])
        flows = _flows(pairs)
        for pair in pairs:
            del pair['snat_ip']
        hairpin = sum(pair['connections'] for pair in pairs)
        count = hairpin + rng.randint(1000, 20000)
        maximum = 262144
        if site.index % 7 == 3:
            count = int(maximum * 0.82)
        addresses = [site.address(1)] + site.public + ([site.address6(1), site.public6] if site.ipv6 else [])
        facts[site.gateway] = {
            'host': site.gateway, 'addresses': addresses,
            'nat_rules': _nat_rules(site),
            'conntrack': _conntrack(rng, count, maximum, 8, site.index % 2 == 0, drop=12 if site.index % 11 == 5 else 0),
            'hairpin_flows': {'source': 'netlink', 'total_entries': count, 'hairpin_entries': hairpin, 'flows': flows, 'pairs': pairs},
            'outbound_flows': {'local_addresses': addresses, 'listeners': _listeners(rng, [('0.0.0.0', 22, 'sshd'), ('0.0.0.0', 53, 'dnsmasq')]),
                               'to_public': [], 'same_host': []},
            'dns_answers': {'resolvers': ['192.0.2.53'], 'answers': [_answer(svc['name'], [svc['public_ip']]) for svc in site.services[:3]]},
        }
    # outside hosts: public addresses, clients of the forwards as intended
    for number in range(2):
        name = 'ext-%d' % number
        ip = v4(OUTSIDE_V4 + number)
        used = rng.sample(services, 4)
        facts[name] = {'host': name, 'addresses': [ip],
                       'outbound_flows': {'local_addresses': [ip], 'listeners': [], 'same_host': [],
                                          'to_public': [{'remote_ip': svc['public_ip'], 'remote_port': svc['port'], 'connections': 1,
                                                         'process': 'curl'} for svc in used]},
                       'dns_answers': {'resolvers': ['192.0.2.53'], 'answers': [_answer(svc['name'], [svc['public_ip']]) for svc in used]}}
    _odd_shapes(facts, sites)
    return facts, name_ports


def _odd_shapes(facts, sites):
    """Shapes real fleets produce now and then, at fixed places so that every fleet has them."""
    first, last = sites[0], sites[-1]
    client = facts[first.clients[0]]
    client['outbound_flows']['to_public'][0]['remote_ip'] = '::ffff:' + client['outbound_flows']['to_public'][0]['remote_ip']
    client['outbound_flows']['to_public'].append({'remote_ip': first.public[4], 'remote_port': 30003, 'proto': 'udp',
                                                  'local_ip': first.address(60), 'connections': '2', 'process': 'syslog'})
    client['outbound_flows']['to_public'].append({'remote_ip': first.public[5], 'remote_port': 3389, 'connections': 1,
                                                  'process': 'xfreerdp'})
    client['outbound_flows']['to_public'].append({'remote_ip': first.public[7], 'remote_port': 9050, 'connections': 1,
                                                  'process': 'nc'})
    facts[first.clients[1]]['outbound_flows'] = {'failed': True, 'msg': 'permission denied reading /proc/net/tcp'}
    facts[first.clients[2]] = None
    # a gateway result without the aggregate: the planner counts the (capped) flows
    del facts[last.gateway]['hairpin_flows']['pairs']


def _cpu(function, *args, **kwargs):
    """(CPU seconds, result) of one call, from a collected heap: each measurement starts alike."""
    gc.collect()
    start = time.process_time()
    result = function(*args, **kwargs)
    return time.process_time() - start, result


def _then_collect_young(function, *args, **kwargs):
    """Call ``function``, then collect the young generations, where what it made and the collector has not examined is."""
    result = function(*args, **kwargs)
    gc.collect(1)
    return result


def _load_planner(path):
    spec = importlib.util.spec_from_file_location('baseline_plan', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_plan


def _measure(rounds, sizes, texts, options, build_plan, baseline):
    """{size: {measure: [CPU seconds per round]}}, sizes interleaved within each round."""
    times = {size: {} for size in sizes}
    plan_texts = {}
    for round_number in range(rounds):
        for size in sizes:
            row = times[size]

            def note(measure, function, *args, **kwargs):
                seconds, result = _cpu(function, *args, **kwargs)
                row.setdefault(measure, []).append(seconds)
                return result

            facts = note('loads', json.loads, texts[size])
            plan = note('plan', build_plan, facts, **options[size])
            if size not in plan_texts:
                plan_texts[size] = json.dumps(plan)
            # each measurement next to the facts only, as the plan was made: another plan alive
            # would lengthen every collection during the next one
            del plan
            if baseline:
                before = note('baseline', baseline, facts, **options[size])
                if json.dumps(before) != plan_texts[size]:
                    sys.exit('%d hosts: the baseline planner and this one disagree' % size)
                del before
            note('loads plan JSON', json.loads, plan_texts[size])
            del facts
            # The planner pauses the collector while it runs, so its objects are examined after it
            # returns, in the caller's next collection: charge it (and json.loads alike) that one.
            facts = note('loads + collection', _then_collect_young, json.loads, texts[size])
            plan = note('plan + collection', _then_collect_young, build_plan, facts, **options[size])
            del facts, plan
            gc.disable()
            try:
                facts = note('loads paused', json.loads, texts[size])
                note('plan paused', build_plan, facts, **options[size])
                note('loads plan JSON paused', json.loads, plan_texts[size])
            finally:
                gc.enable()
            del facts
            sys.stderr.write('round %d/%d, %d hosts: %s\n' % (round_number + 1, rounds, size, ', '.join(
                '%s %.3f s' % (measure, values[-1]) for measure, values in row.items())))
    return times, plan_texts


def _ratio(row, measure, base):
    """Median of the per-round ratios (drift within a run hits both sides of a round alike)."""
    return statistics.median(value / reference for value, reference in zip(row[measure], row[base]))


def _report(opts, sizes, texts, times, plan_texts, pairs):
    median = statistics.median
    print('Run %s, Python %s, %s, %d CPUs, load average %.1f; median of %d interleaved rounds; CPU seconds of this '
          'process (time.process_time), each measurement from a collected heap.\n' % (
              datetime.datetime.now().strftime('%Y-%m-%d %H:%M'), platform.python_version(), platform.machine(),
              os.cpu_count(), os.getloadavg()[0], opts.repeat))
    baseline = ' | baseline plan s | baseline / json.loads' if opts.baseline else ''
    print('Garbage collector on, as Ansible runs the filter:\n')
    print('| hosts | pairs | facts JSON MB | plan JSON MB | json.loads s | plan s | **plan / json.loads** | pairs/s '
          '| plan us/host | plan us/host vs %d hosts | json.loads of the plan JSON / json.loads '
          '| plan / json.loads, each with the young collection after it%s |' % (sizes[0], baseline))
    print('|---:' * (12 + (2 if opts.baseline else 0)) + '|')
    first = None
    for size in sizes:
        row = times[size]
        per_host = median(row['plan']) / size * 1e6
        first = first or per_host
        cells = [size, pairs[size], '%.1f' % (len(texts[size]) / 1e6), '%.1f' % (len(plan_texts[size]) / 1e6),
                 '%.4f' % median(row['loads']), '%.4f' % median(row['plan']), '**%.2fx**' % _ratio(row, 'plan', 'loads'),
                 '%.0f' % (pairs[size] / median(row['plan'])), '%.1f' % per_host, '%.2fx' % (per_host / first),
                 '%.2fx' % _ratio(row, 'loads plan JSON', 'loads'), '%.2fx' % _ratio(row, 'plan + collection', 'loads + collection')]
        if opts.baseline:
            cells += ['%.3f' % median(row['baseline']), '%.1fx' % _ratio(row, 'baseline', 'loads')]
        print('| %s |' % ' | '.join(str(cell) for cell in cells))
    print('\nGarbage collector paused (gc.disable) for every measurement of this table:\n')
    print('| hosts | json.loads s | plan s | plan / json.loads | json.loads of the plan JSON / json.loads |')
    print('|---:|---:|---:|---:|---:|')
    for size in sizes:
        row = times[size]
        print('| %d | %.4f | %.4f | %.2fx | %.2fx |' % (
            size, median(row['loads paused']), median(row['plan paused']), _ratio(row, 'plan paused', 'loads paused'),
            _ratio(row, 'loads plan JSON paused', 'loads paused')))


def _profile(sizes, build_plan, services_per_client):
    """Function calls per host at each size (constant: the planner's work is linear) and where the time goes.

    The collector is paused: cProfile would charge its pauses to whichever call allocates when one
    starts; its share is the difference between the two tables above.
    """
    print('\ncProfile of the plan (collector paused): function calls per host\n')
    print('| hosts | function calls | per host |')
    print('|---:|---:|---:|')
    for size in sizes:
        facts, name_ports = fleet(size, services_per_client=services_per_client)
        facts = json.loads(json.dumps(facts))
        gc.collect()
        gc.disable()
        try:
            profile = cProfile.Profile()
            profile.runcall(build_plan, facts, name_ports=name_ports)
        finally:
            gc.enable()
        stats = pstats.Stats(profile, stream=sys.stdout)
        print('| %d | %d | %.1f |' % (size, stats.total_calls, stats.total_calls / float(size)))
    print('\nTop 25 by internal time, %d hosts:\n\n```' % sizes[-1])
    stats.strip_dirs().sort_stats('tottime').print_stats(25)
    print('```')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--sizes', default='100,500,1000,2000,5000')
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--profile', metavar='HOSTS[,HOSTS...]',
                        help='cProfile the plan of these fleet sizes: function calls per host, and the top entries of the last')
    parser.add_argument('--dump-facts', type=int, metavar='HOSTS',
                        help='print {facts, name_ports} of a fleet this size as JSON and stop')
    parser.add_argument('--services-per-client', type=int, default=SERVICES_PER_CLIENT)
    parser.add_argument('--baseline', metavar='PLAN_PY',
                        help='another _plan.py (e.g. from git show REV:plugins/plugin_utils/_plan.py) to time alongside; '
                             'its plans must equal this one\'s')
    opts = parser.parse_args()
    if opts.dump_facts:
        facts, name_ports = fleet(opts.dump_facts, services_per_client=opts.services_per_client)
        json.dump({'facts': facts, 'name_ports': name_ports}, sys.stdout, indent=0, separators=(',', ':'))
        sys.stdout.write('\n')
        return

    collections = os.environ.get('KEEPLOCAL_COLLECTIONS') or os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(':')[0]
    if not collections:
        sys.exit('source scripts/env.sh first (needs the collection tree on ANSIBLE_COLLECTIONS_PATH)')
    sys.path.insert(0, collections)
    from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import build_plan  # pylint: disable=import-outside-toplevel

    sizes = [int(size) for size in opts.sizes.split(',')]
    texts = {}
    options = {}
    for size in sizes:
        facts, name_ports = fleet(size, services_per_client=opts.services_per_client)
        texts[size] = json.dumps(facts)
        options[size] = {'name_ports': name_ports}
    del facts
    baseline = _load_planner(opts.baseline) if opts.baseline else None
    times, plan_texts = _measure(opts.repeat, sizes, texts, options, build_plan, baseline)
    pairs = {size: json.loads(plan_texts[size])['summary']['pairs'] for size in sizes}
    _report(opts, sizes, texts, times, plan_texts, pairs)

    if opts.profile:
        _profile([int(size) for size in opts.profile.split(',')], build_plan, opts.services_per_client)


if __name__ == '__main__':
    main()
