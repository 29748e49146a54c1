"""unix_sockets on the lab: svc-b's nginx talks to gunicorn over a Unix socket, switched under load
with no failed request, after a forced failure that rolled back with no failed request."""
import json

import pytest

EVIDENCE = '/root/keeplocal-evidence'
SOCKET = '/run/app/gunicorn.sock'
MIN_REQUESTS = 5000


def evidence(lab, name):
    return lab('svc-a').file('%s/%s' % (EVIDENCE, name)).content_string


def in_window(load, window):
    """Requests (ok, failed) completed between the role's start and end."""
    ok = failed = 0
    for key, (good, bad) in load['buckets'].items():
        if window['start'] <= int(key) / 10.0 <= window['end']:
            ok += good
            failed += bad
    return ok, failed


@pytest.mark.parametrize('name', ['failure', 'switch', 'revert'])
def test_load_during_the_change_had_no_failure(lab, name):
    load = json.loads(evidence(lab, 'load-%s.json' % name))
    window = json.loads(evidence(lab, 'window-%s.json' % name))
    ok, failed = in_window(load, window)
    print('%s: %d requests during the %.1f s change (%d failed); whole run %d requests, %d failed, %.0f req/s, p50 %s ms, p99 %s ms, max %s ms'
          % (name, ok + failed, window['end'] - window['start'], failed, load['requests'], load['failed'], load['rps'],
             load['latency_ms']['p50'], load['latency_ms']['p99'], load['latency_ms']['max']))
    assert load['failed'] == 0, load['failures'][:10]
    assert ok + failed >= MIN_REQUESTS
    if name == 'failure':
        message = window['message']
        assert 'nginx -t rejected the edited configuration' in message, message
        assert 'keeplocal_forced_failure' in message and 'Rolled back' in message, message
        # gunicorn listens on TCP again, no socket unit is left, nginx's line is the original one.
        assert window['state_after'] == ['1', 'no-socket-unit', '1'], window['state_after']
    elif name == 'revert':
        [result] = json.loads(window['message'])
        assert result['state'] == 'reverted', result
        # nginx's site and the unit as systemd reads it are byte-identical to before the first switch,
        # and no socket unit or drop-in is left.
        assert window['state_after'][0] == 'identical', window['state_after']
    else:
        assert window['message'] == ''


def test_a_killed_cutover_is_completed_by_the_next_run(lab):
    """The switch window above had two SIGKILLed runs and the run that completed the cutover."""
    kills = json.loads(evidence(lab, 'kills.json'))
    first, second = kills['kills']
    print(json.dumps(kills['kills'], indent=1))
    assert first['run']['killed'] and 'Stop the service gracefully' in first['run']['task']
    # nginx was on the handover copy, the record said the cutover was under way.
    assert first['left'] == ['server unix:/run/app/gunicorn.handover.sock', 'cutover']
    assert second['run']['killed'] and 'Wait for the workers from before the reload' in second['run']['task']
    # The rerun picked up from the handover copy: nginx's files name the final socket, not yet done.
    assert second['left'] == ['server unix:/run/app/gunicorn.sock', 'cutover']
    [completed] = kills['completed']
    assert completed['state'] == 'switched (completed the cutover an earlier run left)', completed
    # The record says switched and keeps the backups of the original files.
    record = json.loads(lab('svc-b').file('/var/lib/keeplocal/unix_sockets.json').content_string)
    entry = record['pairs']['127.0.0.1:8000']
    assert entry['state'] == 'switched' and entry['socket'] == SOCKET
    assert any(path.endswith('/etc/nginx/sites-available/app') for path in entry['backups'].values()), entry['backups']


def test_gunicorn_serves_the_socket_only(lab):
    svc_b = lab('svc-b')
    sock = svc_b.file(SOCKET)
    assert sock.is_socket
    assert (sock.user, sock.group, sock.mode) == ('app', 'www-data', 0o660)
    run_dir = svc_b.file('/run/app')
    assert run_dir.mode & 0o005 == 0o005  # nginx's workers (others) traverse it
    assert svc_b.service('app.socket').is_running and svc_b.service('app.socket').is_enabled
    assert svc_b.service('app.service').is_running
    # The TCP port is closed.
    assert svc_b.check_output("ss -Hltn 'sport = :8000'") == ''
    assert svc_b.run('curl -sS -m 3 http://127.0.0.1:8000/').rc == 7  # connection refused
    # nginx points at the socket, its configuration passes nginx -t, and a backup of the original is kept
    # outside nginx's configuration.
    site = svc_b.file('/etc/nginx/sites-available/app').content_string
    assert 'server unix:/run/app/gunicorn.sock;' in site and '127.0.0.1:8000' not in site
    assert svc_b.run('nginx -t').rc == 0
    assert svc_b.check_output('find /etc/nginx -name "*~"') == ''
    backups = svc_b.check_output('ls /var/backups/keeplocal/nginx/*/etc/nginx/sites-available/app').split()
    assert any('server 127.0.0.1:8000;' in svc_b.file(path).content_string for path in backups), backups
    # The handover copy is gone (units and the enabled socket's link).
    assert svc_b.check_output('find /run/systemd/system /etc/systemd/system -name "*keeplocal-handover*" | wc -l') == '0'
    # gunicorn took the socket from systemd; nginx logged no upstream error during the changes.
    log = svc_b.check_output('journalctl -u app.service --no-pager -n 50')
    assert 'Listening at: unix:/run/app/gunicorn.sock' in log
    assert svc_b.check_output("grep -c -e 'connect() to' -e 'upstream' /var/log/nginx/error.log || true") == '0'


def test_requests_use_no_tcp_to_the_old_port(lab):
    svc_a, svc_b = lab('svc-a'), lab('svc-b')
    count = "ss -Htan '( dport = :8000 or sport = :8000 )' | wc -l"
    before = int(svc_b.check_output(count))
    out = svc_a.check_output('for i in $(seq 200); do curl -s -o /dev/null -w "%{http_code}\\n" http://192.168.1.20/n$i; done | sort | uniq -c')
    assert out.split() == ['200', '200']
    assert svc_b.check_output("ss -Htan '( dport = :8000 or sport = :8000 )' | grep -v TIME-WAIT || true") == ''
    assert int(svc_b.check_output(count)) <= before


def test_responses_identical(lab):
    before = json.loads(evidence(lab, 'answer-before.json'))
    after = json.loads(evidence(lab, 'answer-after.json'))
    assert before == after
    assert (after['status'], after['content_type']) == (200, 'application/json')
    assert json.loads(after['body']) == {'backend': 'svc-b', 'client': '192.168.1.10'}


def test_check_mode_changed_nothing_and_showed_the_diff(lab):
    record = json.loads(evidence(lab, 'check-mode.json'))
    assert record['before'] == record['after']
    assert '127.0.0.1:8000' in record['before'] and 'app.socket' not in record['before']
    (result,) = record['result']
    assert result['state'] == 'would switch'
    assert result['nginx_changes'] == [{'file': '/etc/nginx/sites-enabled/app', 'line': 3, 'directive': 'server',
                                        'before': '    server 127.0.0.1:8000;', 'after': '    server unix:/run/app/gunicorn.sock;'}]
    output = evidence(lab, 'check-mode.txt')
    assert '-    server 127.0.0.1:8000;' in output and '+    server unix:/run/app/gunicorn.sock;' in output
    assert '+ListenStream=/run/app/gunicorn.sock' in output
    assert 'svc-b' in output and 'failed=0' in output
