#!/usr/bin/env python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx -> gunicorn over TCP loopback vs a Unix socket, side by side on the lab.

    bench/unix_socket.py [--rounds 6] [--duration 10] [--connections 16] [--threads 2]

Takes the lab lock, brings the lab up, runs bench/unix_socket.yml (gunicorn on both, nginx :8081 over
TCP and :8082 over the socket, same master and workers), then runs wrk from svc-a against svc-b,
alternating the two paths round by round (ABBA order, after one discarded warm-up round each) so drift
in the machine's load hits both alike. Prints requests/s and p50/p99 per round and the medians, and
writes bench/results/unix_socket.md. The lab is destroyed at the end.
"""
import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCK = '/var/lock/keeplocal-lab.lock'
TARGETS = {'tcp': 'http://192.168.1.20:8081/bench', 'unix': 'http://192.168.1.20:8082/bench'}


def sh(cmd):
    done = subprocess.run(cmd, shell=True, executable='/bin/bash', text=True, capture_output=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-6000:] + done.stderr[-3000:])
        raise SystemExit('failed (rc %d): %s' % (done.returncode, cmd))
    return done.stdout


def ms(text):
    value, unit = re.match(r'([\d.]+)(us|ms|s)', text).groups()
    return float(value) * {'us': 0.001, 'ms': 1.0, 's': 1000.0}[unit]


def wrk(target, args):
    out = sh('podman exec svc-a wrk --latency -t%d -c%d -d%ds %s' % (args.threads, args.connections, args.duration, target))
    result = {
        'rps': float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)),
        'p50': ms(re.search(r'\s50%\s+(\S+)', out).group(1)),
        'p99': ms(re.search(r'\s99%\s+(\S+)', out).group(1)),
        'requests': int(re.search(r'(\d+) requests in', out).group(1)),
        'errors': 0,
    }
    errors = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', out)
    if errors:
        result['errors'] += sum(int(n) for n in errors.groups())
    non2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    if non2xx:
        result['errors'] += int(non2xx.group(1))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=6)
    parser.add_argument('--duration', type=int, default=10)
    parser.add_argument('--connections', type=int, default=16)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    if os.environ.get('KEEPLOCAL_LAB_LOCKED') != '1':
        env = dict(os.environ, KEEPLOCAL_LAB_LOCKED='1')
        os.execvpe('flock', ['flock', LOCK, sys.executable] + sys.argv, env)

    env = 'cd %s && . scripts/env.sh && ' % REPO
    inventory = '-i molecule/resources/lab/inventory.yml'
    try:
        print('lab up ...', flush=True)
        sh(env + 'ansible-playbook %s molecule/resources/lab/up.yml' % inventory)
        print('setup (unix_sockets role with TCP kept, bench servers) ...', flush=True)
        sh(env + 'ansible-playbook %s bench/unix_socket.yml' % inventory)
        versions = sh("podman exec svc-b bash -c 'nginx -v 2>&1; gunicorn --version; nproc; uname -r'").split('\n')
        for name in TARGETS:  # warm-up, discarded
            wrk(TARGETS[name], argparse.Namespace(**dict(vars(args), duration=3)))
        rounds = []
        for index in range(args.rounds):
            order = ['tcp', 'unix'] if index % 4 in (0, 3) else ['unix', 'tcp']
            row = {}
            for name in order:
                row[name] = wrk(TARGETS[name], args)
                print('round %d %-4s %8.1f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d'
                      % (index + 1, name, row[name]['rps'], row[name]['p50'], row[name]['p99'], row[name]['errors']), flush=True)
            rounds.append(row)
    finally:
        sh(env + 'ansible-playbook molecule/resources/lab/destroy.yml')

    med = dict((name, dict((key, statistics.median(row[name][key] for row in rounds)) for key in ('rps', 'p50', 'p99')))
               for name in TARGETS)
    wins = sum(1 for row in rounds if row['unix']['rps'] > row['tcp']['rps'])
    ratio = med['unix']['rps'] / med['tcp']['rps']
    summary = ('median requests/s: TCP %.1f, Unix socket %.1f -> ratio unix/tcp %.3f (%+.1f %%); p50 %.2f vs %.2f ms; '
               'p99 %.2f vs %.2f ms; the socket was faster in %d of %d rounds'
               % (med['tcp']['rps'], med['unix']['rps'], ratio, (ratio - 1) * 100, med['tcp']['p50'], med['unix']['p50'],
                  med['tcp']['p99'], med['unix']['p99'], wins, len(rounds)))
    print(summary)
    command = 'bench/unix_socket.py --rounds %d --duration %d --connections %d --threads %d' % (
        args.rounds, args.duration, args.connections, args.threads)
    lines = [
        '# nginx -> gunicorn: TCP loopback vs Unix socket',
        '',
        'Measured %s on the lab (podman containers on one host). %s' % (
            datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
            'svc-b: %s, gunicorn %s, %s CPUs, kernel %s.' % (versions[0].replace('nginx version: ', ''),
                                                             versions[1].replace('gunicorn (version ', '').rstrip(')'),
                                                             versions[2], versions[3])),
        '',
        'Command: `%s`' % command,
        '',
        'Setup: `bench/unix_socket.yml` runs the unix_sockets role with `unix_sockets_drop_tcp: false`, so one gunicorn',
        '(2 sync workers, socket-activated) serves both 127.0.0.1:8000 and /run/app/gunicorn.sock; nginx on svc-b gets',
        ':8081 -> `proxy_pass http://127.0.0.1:8000` and :8082 -> `proxy_pass http://unix:/run/app/gunicorn.sock`',
        '(access log off on both). wrk runs on svc-a (`wrk --latency -t%d -c%d -d%ds`, keep-alive to nginx); nginx opens'
        % (args.threads, args.connections, args.duration),
        'a new upstream connection per request (no upstream keepalive), as in the lab site. One 3 s warm-up per path,',
        'then %d rounds alternating the order (ABBA) so drift hits both paths alike.' % args.rounds,
        '',
        '| round | path | requests/s | p50 ms | p99 ms | errors |',
        '|---|---|---|---|---|---|',
    ]
    for index, row in enumerate(rounds, 1):
        for name in ('tcp', 'unix'):
            result = row[name]
            lines.append('| %d | %s | %.1f | %.2f | %.2f | %d |' % (index, name, result['rps'], result['p50'], result['p99'], result['errors']))
    lines += ['', '**Result:** ' + summary + '.', '']
    path = os.path.join(REPO, 'bench', 'results', 'unix_socket.md')
    with open(path, 'w') as handle:
        handle.write('\n'.join(lines))
    print('written', path)


if __name__ == '__main__':
    main()
