# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What runme.sh's runs must have found, read from their outputs in OUT:

    check.py OUT

facts/HOST.json (detect's facts per host), detect/plan.json and plan/plan.json (the plans of
detect.yml and plan.yml), detect.log, shortcut.json and conntrack.json (JSON callback output of the
local_shortcut and conntrack_tuning runs). Writes OUT/shortcut-cli1.nft, the nftables rules the
local_shortcut role rendered for cli1. Exits 1 listing every problem.
"""

import json
import os
import re
import sys

# (gateway, proto, public ip, public port) -> (private ip, private port): every forward of every source.
FORWARDS = {
    ('gw1', 'tcp', '198.18.81.1', 80): ('10.81.0.20', 80),        # nft, plain rule in a user chain
    ('gw1', 'tcp', '198.18.81.1', 5432): ('10.81.0.30', 15432),   # nft, address.port map
    # the output hook jumps to port_forwards for both addresses of a named set: the gateway's own
    # connections to .2:80 are forwarded too
    ('gw1', 'tcp', '198.18.81.2', 80): ('10.81.0.20', 80),
    ('gw1', 'tcp', '198.18.81.2', 8080): ('10.81.0.20', 8080),    # nft, address map on the port
    ('gw1', 'tcp', '198.18.81.2', 8081): ('10.81.0.20', 18081),   # nft, address and port maps
    ('gw1', 'tcp', '198.18.81.2', 2222): ('10.81.0.30', 22),      # nft, concatenated set
    ('gw1', 'tcp', '198.18.81.2', 2223): ('10.81.0.30', 22),
    ('gw1', 'tcp', '198.18.81.2', 9000): ('10.81.0.30', 9000),    # nft, named port set
    ('gw1', 'tcp', '198.18.81.2', 9001): ('10.81.0.30', 9001),
    ('gw2', 'tcp', '198.18.82.1', 80): ('10.82.0.20', 80),        # iptables-nft
    ('gw2', 'tcp', '198.18.82.1', 5432): ('10.82.0.30', 15432),   # nft, named map
    ('gw2', 'tcp', '198.18.82.1', 8080): ('10.82.0.20', 80),      # iptables-legacy
}
# (client, public ip, public port) -> (fix, backend host, backend port, names)
PAIRS = {
    ('cli1', '198.18.81.1', 80): ('split_dns', 'web1', 80, ['app1.example.test']),
    ('cli1', '198.18.81.1', 5432): ('local_shortcut', 'db1', 15432, ['db1.example.test']),
    ('cli2', '198.18.82.1', 80): ('split_dns', 'web2', 80, ['app2.example.test']),
    ('cli2', '198.18.82.1', 5432): ('local_shortcut', 'db2', 15432, ['db2.example.test']),
    ('cli2', '198.18.82.1', 8080): ('local_shortcut', 'web2', 80, []),
}
# (client) -> nft rules the shortcut must hold
SHORTCUTS = {
    'cli1': ['ip daddr 198.18.81.1 tcp dport 5432 dnat to 10.81.0.30:15432'],
    'cli2': ['ip daddr 198.18.82.1 tcp dport 5432 dnat to 10.82.0.30:15432',
             'ip daddr 198.18.82.1 tcp dport 8080 dnat to 10.82.0.20:80'],
}


def read(out, *parts):
    with open(os.path.join(out, *parts), encoding='utf-8') as handle:
        return handle.read()


def check_facts(out, problems):
    for gateway in ('gw1', 'gw2'):
        facts = json.loads(read(out, 'facts', gateway + '.json'))
        nat = facts['nat_rules']
        found = {(gateway, f['proto'], f['public_ip'], f['public_port']): (f['private_ip'], f['private_port'])
                 for f in nat['forwards']}
        wanted = {key: value for key, value in FORWARDS.items() if key[0] == gateway}
        if found != wanted:
            problems.append('%s: forwards %s, expected %s' % (gateway, sorted(found.items()), sorted(wanted.items())))
        if not any(rule['out_interface'] is None for rule in nat['snat_rules']):
            problems.append('%s: no hairpin SNAT rule read (SNAT rules read: %s)' % (gateway, [r['rule'] for r in nat['snat_rules']]))
        conntrack = facts['conntrack']
        if not conntrack['available'] or not conntrack['count'] or conntrack['max'] is None:
            problems.append('%s: conntrack not read: %s' % (gateway, conntrack))
        flows = facts['hairpin_flows']
        if not flows['available'] or not flows['hairpin_entries']:
            problems.append('%s: no hairpin flows read from conntrack: %s' % (gateway, flows))
        print('%s: source %s, %d forwards, %d SNAT rules, conntrack %d/%d, %d hairpin entries'
              % (gateway, nat['source'], len(nat['forwards']), len(nat['snat_rules']),
                 conntrack['count'], conntrack['max'], flows['hairpin_entries']))
    undecoded = re.findall(r'NAT rule not decoded.*', read(out, 'detect.log'))
    if undecoded:
        problems.append('detect.yml warned about rules it could not decode: %s' % undecoded)


def check_plan(out, problems):
    plan = json.loads(read(out, 'detect', 'plan.json'))
    found = {}
    for pair in plan['pairs']:
        key = (pair['client']['host'], pair['public']['ip'], pair['public']['port'])
        found[key] = (pair['fix'], pair['backend']['host'], pair['backend']['port'], pair['public']['names'])
        print('plan: %s %s (%s)' % (pair['id'], pair['fix'], pair['recommendation']['mode'] if pair['recommendation'] else '-'))
        if 'forward not in any rule set read' in pair['reason']:
            problems.append('plan: %s: the forward was not read from the gateway\'s rules' % pair['id'])
        if pair['status'] != 'active' or pair['gateway'] != 'gw' + key[0][-1]:
            problems.append('plan: %s is %s through %s, expected active through gw%s' % (pair['id'], pair['status'], pair['gateway'], key[0][-1]))
    if found != PAIRS:
        problems.append('plan: pairs %s, expected %s' % (sorted(found.items()), sorted(PAIRS.items())))
    gateways = {gw['host']: gw for gw in plan['gateways'] if gw['is_gateway']}
    for gateway in ('gw1', 'gw2'):
        if gateway not in gateways or not gateways[gateway]['available'] or not gateways[gateway]['hairpin_entries']:
            problems.append('plan: %s not a gateway with conntrack read: %s' % (gateway, gateways.get(gateway)))
    if plan['summary']['not_observed']:
        problems.append('plan: hosts not observed: %s' % plan['not_observed'])
    if read(out, 'plan', 'plan.json') != read(out, 'detect', 'plan.json'):
        problems.append('plan.yml (from the fact cache) planned differently from detect.yml')


def results_of(out, name):
    """(task name, host, result) of a JSON-callback run, and its stats."""
    data = json.loads(read(out, name))
    rows = [(task['task']['name'], host, result)
            for play in data['plays'] for task in play['tasks'] for host, result in task['hosts'].items()]
    return rows, data['stats']


def check_shortcut(out, problems):
    rows, stats = results_of(out, 'shortcut.json')
    for host, counts in stats.items():
        if counts['failures'] or counts['unreachable']:
            problems.append('remediate --tags local_shortcut: %s failed: %s' % (host, counts))
    rendered = {}
    for task, host, result in rows:
        if 'Write the rules' in task and not result.get('skipped'):
            diffs = result.get('diff', [])
            rendered[host] = ''.join(diff.get('after', '') for diff in (diffs if isinstance(diffs, list) else [diffs]))
    if sorted(rendered) != sorted(SHORTCUTS):
        problems.append('local_shortcut rendered rules for %s, expected %s' % (sorted(rendered), sorted(SHORTCUTS)))
    for host, rules in SHORTCUTS.items():
        text = rendered.get(host, '')
        lines = [line.strip() for line in text.splitlines() if ' dnat to ' in line]
        if [line.split(' comment ')[0] for line in lines] != rules:
            problems.append('local_shortcut on %s would load %s, expected %s' % (host, lines, rules))
        print('local_shortcut --check on %s: %s' % (host, '; '.join(lines)))
    with open(os.path.join(out, 'shortcut-cli1.nft'), 'w', encoding='utf-8') as handle:
        handle.write(rendered.get('cli1', ''))


def check_conntrack(out, problems):
    rows, stats = results_of(out, 'conntrack.json')
    if stats.get('gw1', {}).get('failures', 1):
        problems.append('conntrack_tuning --check on gw1 failed: %s' % stats)
    results = [result['ansible_facts']['conntrack_tuning_result'] for task, host, result in rows
               if 'conntrack_tuning_result' in result.get('ansible_facts', {})]
    if not results:
        problems.append('conntrack_tuning --check on gw1 recorded no result')
        return
    result = results[0]
    if not (result['available'] and result['check_mode'] and result['before']['count'] and result['before']['max']):
        problems.append('conntrack_tuning --check on gw1: table not read: %s' % result)
    print('conntrack_tuning --check on gw1: count %s, max %s, writable %s: %s'
          % (result['before']['count'], result['before']['max'], result['writable'], result['message']))


def main(out):
    problems = []
    for check in (check_facts, check_plan, check_shortcut, check_conntrack):
        check(out, problems)
    if problems:
        print('\n'.join('nft_gateway: ' + problem for problem in problems), file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main(sys.argv[1])
