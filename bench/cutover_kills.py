"""The Unix-socket cutover killed at each of its tasks, on the lab, under load.

For each kill point (--points; --reboot-points the same with svc-b restarted between the kill and
the rerun): put svc-b's pair back on TCP (the role with state absent), start a counted load from svc-a
through nginx, run the role and SIGKILL its ansible-playbook process group once the task has run
for --delay seconds, note where the kill left the pair, optionally restart the svc-b container,
run the role again, stop the load, check the pair converged. Prints a Markdown table (task killed
at -> state left -> rerun result -> failed requests, and the downtime when there was one).

Needs the lab up (scripts/lab.sh up) and takes it for itself (the lab lock). Example:
    . scripts/env.sh && flock /var/lock/keeplocal-lab.lock python3 bench/cutover_kills.py --points '' --reboot-points 3
With --revert-points (--revert-reboot-points) the way back to TCP (state absent) is killed the same
way, from the switched state, and the rerun of the revert must leave the pair on TCP.
"""
import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIO = os.path.join(REPO, 'molecule', 'unix_sockets')
INVENTORY = os.path.join(REPO, 'molecule', 'resources', 'lab', 'inventory.yml')
ROLE_PLAYBOOK = os.path.join(SCENARIO, 'role.yml')
KILL_AT = os.path.join(SCENARIO, 'files', 'kill_at.py')
# The scenario's load against svc-b's pair, the same in its tests and here.
LOAD_ARGS = os.path.join(SCENARIO, 'files', 'lab_load.args')
RECORD = '/var/lib/keeplocal/unix_sockets.json'
ADDRESS = '127.0.0.1:8000'

# The cutover's tasks in the order a fresh run starts them: (text in the task header, occurrence).
KILL_POINTS = [
    ('Update the record of', 1),
    ("Write the handover copy's socket and service", 1),
    ('Start the handover socket', 1),
    ('Start the handover copy of', 1),
    ('Wait for the app server to answer on', 1),
    ('Point nginx at the handover copy', 1),
    ('Update the record of', 2),
    ('Wait for the workers from before the reload to finish', 1),
    ('Stop the service gracefully', 1),
    ('Write app.socket', 1),
    ("Write the drop-in with the app server's new listener", 1),
    ('Start app.socket', 1),
    ('Start the service on the socket', 1),
    ('Point nginx at the final socket', 1),
    ('Wait for the app server to answer on', 2),
    ('Wait for the workers from before the reload to finish', 2),
    ('Stop the handover copy (graceful)', 1),
    ('Remove the handover units', 1),
    ('Update the record of', 3),
]


# The revert (unix_sockets_state: absent) from the switched state, in the same way: the handover copy
# answers while the service goes back to TCP, then nginx follows it.
REVERT_KILL_POINTS = [
    ("Write the handover copy's socket and service", 1),
    ('Start the handover copy of', 1),
    ('Point nginx at the handover copy', 1),
    ('Wait for the workers from before the reload to finish', 1),
    ('Stop app.service', 1),
    ('Remove the socket unit and the drop-in', 1),
    ('Start the service with its original ExecStart', 1),
    ("Rewrite nginx's socket lines to the TCP address", 1),
    ('Wait for the workers from before the reload to finish', 2),
    ('Stop the handover copy (graceful)', 1),
    ('Forget the cutover in the record', 1),
]


def run(argv, check=True, **kwargs):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, **kwargs)
    if check and result.returncode != 0:
        sys.exit('failed (%d): %s\n%s' % (result.returncode, ' '.join(argv), result.stdout[-3000:]))
    return result


def on(host, script, check=True):
    return run(['podman', 'exec', host, 'bash', '-c', script], check=check).stdout.strip()


def role(*extra, check=True):
    return run(['ansible-playbook', '-i', INVENTORY, ROLE_PLAYBOOK] + list(extra), check=check)


def pair_state():
    """Where nginx points and what the record says (or 'none')."""
    line = on('svc-b', "grep -o 'server [^;]*' /etc/nginx/sites-available/app | head -n1", check=False)
    record = on('svc-b', "python3 -c \"import json; print(json.load(open('%s'))['pairs']['%s']['state'])\" 2>/dev/null || echo none"
                % (RECORD, ADDRESS), check=False)
    return '%s; record %s' % (line.replace('server ', ''), record)


def problems_after(revert):
    """What keeps the pair from the state a completed run leaves. The cutover: nginx on the final
    socket, the record switched, the TCP port closed. The revert: nginx on the TCP address, no record
    of the pair, no socket unit or drop-in, the port listening. Both: no handover unit in /etc or
    /run, a request through nginx answered."""
    problems = []
    nginx_line = 'server %s;' % ADDRESS if revert else 'server unix:/run/app/gunicorn.sock;'
    if on('svc-b', "grep -c '%s' /etc/nginx/sites-available/app" % nginx_line, check=False) != '1':
        problems.append('nginx not on %s' % nginx_line)
    record = 'record none' if revert else 'record switched'
    if record not in pair_state():
        problems.append('not %s' % record)
    if revert and on('svc-b', 'ls /etc/systemd/system/app.socket /etc/systemd/system/app.service.d 2>/dev/null | wc -l') != '0':
        problems.append('socket unit or drop-in left')
    if on('svc-b', 'find /etc/systemd/system /run/systemd/system -name "*keeplocal-handover*" | wc -l') != '0':
        problems.append('handover units left')
    port_open = on('svc-b', "ss -Hltn 'sport = :8000' | wc -l") != '0'
    if port_open != revert:
        problems.append('TCP port open' if port_open else 'TCP port closed')
    if on('svc-a', 'curl -s -o /dev/null -w "%{http_code}" -m 5 http://192.168.1.20/after-run', check=False) != '200':
        problems.append('no 200 through nginx')
    return problems


def load_start():
    with open(LOAD_ARGS) as handle:
        load_args = handle.read().strip()
    on('svc-a', 'rm -f /root/kill-load.json /root/kill-load.json.running; systemd-run --unit keeplocal-kill-load --collect '
                '/usr/bin/python3 /root/http_load.py %s --out /root/kill-load.json' % load_args)
    for dummy in range(300):
        if on('svc-a', 'test -e /root/kill-load.json.running && echo yes || true') == 'yes':
            return
        time.sleep(0.1)
    sys.exit('the load client never answered')


def load_stop():
    on('svc-a', 'systemctl stop keeplocal-kill-load')
    for dummy in range(300):
        text = on('svc-a', 'cat /root/kill-load.json 2>/dev/null || true')
        if text:
            return json.loads(text)
        time.sleep(0.1)
    sys.exit('the load client wrote no counts')


def failed_between(load, start, end):
    return sum(bad for key, (good, bad) in load['buckets'].items() if start <= int(key) / 10.0 < end)


def downtime(load):
    """Seconds from the first to the last 100 ms bucket with a failed request (0 when none)."""
    keys = sorted(int(key) for key, (good, bad) in load['buckets'].items() if bad)
    return 0.0 if not keys else (keys[-1] - keys[0] + 1) / 10.0


def one(task, occurrence, reboot, delay, revert=False):
    """One kill of the cutover (or, with revert, of the way back to TCP) and its rerun."""
    state = ['-e', 'unix_sockets_state=absent'] if revert else []
    role(*(() if revert else ('-e', 'unix_sockets_state=absent')))
    load_start()
    t_kill = time.time()
    killed = json.loads(run([sys.executable, KILL_AT, '--task', task, '--occurrence', str(occurrence), '--delay', str(delay),
                             '--', 'ansible-playbook', '-i', INVENTORY, ROLE_PLAYBOOK] + state,
                            check=False).stdout.strip().splitlines()[-1])
    left = pair_state()
    t_reboot = time.time()
    served_again_s = None
    if reboot:
        run(['podman', 'restart', '--time', '30', 'svc-b'])
        # Serving again without the rerun? The rerun starts once nginx answers, or after 2 min without an answer.
        for dummy in range(240):
            if on('svc-a', 'curl -s -o /dev/null -w "%{http_code}" -m 2 http://192.168.1.20/after-reboot', check=False) == '200':
                served_again_s = round(time.time() - t_reboot, 1)
                break
            time.sleep(0.5)
    t_rerun = time.time()
    rerun = role(*state, check=False)
    t_done = time.time()
    time.sleep(2)
    load = load_stop()
    if rerun.returncode != 0:
        problems = ['rerun failed: ' + rerun.stdout[-400:].replace('\n', ' ')]
    else:
        problems = problems_after(revert)
    return {
        'path': 'revert' if revert else 'cutover', 'task': task, 'occurrence': occurrence, 'reboot': reboot, 'killed': killed['killed'], 'left': left,
        'rerun_rc': rerun.returncode, 'rerun_s': round(t_done - t_rerun, 1), 'converged': not problems, 'problems': problems,
        'requests': load['requests'], 'failed': load['failed'],
        'failed_kill_run': failed_between(load, t_kill, t_reboot), 'failed_reboot': failed_between(load, t_reboot, t_rerun),
        'failed_rerun': failed_between(load, t_rerun, t_done + 3), 'downtime_s': downtime(load), 'served_again_s': served_again_s,
        # A request sent while svc-b was down can end (timed out) after the rerun began: counted in the rerun, caused before it.
        'failed_rerun_sent_before': sum(1 for failure in load.get('failures', [])
                                        if failure['time'] >= t_rerun and failure.get('sent', t_rerun) < t_rerun),
        'rerun_reasons': sorted(set(failure['reason'][:80] for failure in load.get('failures', []) if failure['time'] >= t_rerun))[:3],
        'reasons': sorted(set(str(failure.get('reason', failure))[:80] for failure in load.get('failures', [])))[:3],
    }


def rerun_failures(row):
    """The rerun's failed requests, saying how many of them were sent before it began."""
    before = row.get('failed_rerun_sent_before') or 0
    if not row['failed_rerun'] or not before:
        return str(row['failed_rerun'])
    return '%d, %d of them sent before it began' % (row['failed_rerun'], before)


def down(row):
    """The failed span, and with a reboot when nginx answered again (seconds after the restart began)."""
    text = '%.1f s' % row['downtime_s'] if row['downtime_s'] else '-'
    if row['reboot']:
        served = row.get('served_again_s')
        text += '; served again %s' % ('after %.1f s' % served if served is not None else 'not before the rerun')
    return text


def table(rows):
    lines = ['| path | killed at (task, occurrence) | reboot | left (nginx -> ; record) | rerun | converged | requests | failed '
             '(kill run / reboot / rerun) | down |',
             '|---|---|---|---|---|---|---|---|---|']
    for row in rows:
        lines.append('| %s | %s #%d%s | %s | %s | rc %d, %.1f s | %s | %d | %d (%d / %d / %s) | %s |' % (
            row.get('path', 'cutover'), row['task'], row['occurrence'], '' if row['killed'] else ' (not reached)', 'yes' if row['reboot'] else 'no',
            row['left'], row['rerun_rc'], row['rerun_s'], 'yes' if row['converged'] else 'NO: ' + '; '.join(row['problems']),
            row['requests'], row['failed'], row['failed_kill_run'], row['failed_reboot'], rerun_failures(row),
            down(row)))
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--points', default='all', help='comma-separated indexes into the kill points (0-based), or all')
    parser.add_argument('--reboot-points', default='',
                        help='indexes run (again) with a restart of svc-b between kill and rerun, or all')
    parser.add_argument('--delay', type=float, default=1.0, help='seconds the killed task runs before the kill')
    parser.add_argument('--revert-points', default='',
                        help='indexes into the revert kill points (0-based), or all: the way back to TCP killed')
    parser.add_argument('--revert-reboot-points', default='', help='revert kill points run with a restart of svc-b, or all')
    parser.add_argument('--json', help='write the rows here too')
    args = parser.parse_args()

    def chosen(value, points):
        return range(len(points)) if value == 'all' else [int(i) for i in value.split(',') if i]
    run(['podman', 'cp', os.path.join(REPO, 'molecule', 'resources', 'files', 'http_load.py'), 'svc-a:/root/http_load.py'])
    runs = [(KILL_POINTS[index], False, False) for index in chosen(args.points, KILL_POINTS)]
    runs += [(KILL_POINTS[index], True, False) for index in chosen(args.reboot_points, KILL_POINTS)]
    runs += [(REVERT_KILL_POINTS[index], False, True) for index in chosen(args.revert_points, REVERT_KILL_POINTS)]
    runs += [(REVERT_KILL_POINTS[index], True, True) for index in chosen(args.revert_reboot_points, REVERT_KILL_POINTS)]
    rows = []
    for (task, occurrence), reboot, revert in runs:
        row = one(task, occurrence, reboot, args.delay, revert=revert)
        rows.append(row)
        print(json.dumps(row), flush=True)
    role('-e', 'unix_sockets_state=absent')
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump(rows, handle, indent=1)
    print(table(rows))


if __name__ == '__main__':
    main()
