# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waits on Prometheus's HTTP API, each with a timeout; prints one JSON line per thing seen.

    prom.py URL ready TIMEOUT RULES_FILE       the node target is up and every rule of RULES_FILE is
                                               loaded and healthy
    prom.py URL series TIMEOUT QUERY           the PromQL QUERY returns a sample
    prom.py URL absent QUERY                   the PromQL QUERY returns nothing now (no waiting)
    prom.py URL firing TIMEOUT ALERT LABELS    ALERT with LABELS is firing (/api/v1/alerts)
    prom.py URL resolved TIMEOUT ALERT LABELS  ALERT with LABELS is neither pending nor firing any more
                                               (/api/v1/alerts and the ALERTS series), with the first
                                               and last evaluation ALERTS recorded it firing

LABELS: name=value,... (may be empty). Exits 1 on a timeout, saying what it saw last.
"""

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

POLL_SECONDS = 0.5
HTTP_TIMEOUT_SECONDS = 2


def api(base, path, **params):
    url = '%s/api/v1/%s?%s' % (base, path, urllib.parse.urlencode(params))
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_SECONDS) as response:
        answer = json.load(response)
    if answer.get('status') != 'success':
        raise ValueError('%s: %s' % (url, answer))
    return answer['data']


def parse_labels(text):
    return dict(item.split('=', 1) for item in text.split(',') if item)


def selector(name, labels):
    return '%s{%s}' % (name, ','.join('%s="%s"' % item for item in sorted(labels.items())))


def matching_alerts(base, alert, labels):
    return [item for item in api(base, 'alerts')['alerts']
            if item['labels'].get('alertname') == alert
            and all(item['labels'].get(name) == value for name, value in labels.items())]


def report(event, **fields):
    fields.update(event=event, time=round(time.time(), 3),
                  utc=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    print(json.dumps(fields, sort_keys=True), flush=True)


def wait(timeout, check, describe):
    """Poll ``check`` (returns a truthy result when done) until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + float(timeout)
    seen = None
    while True:
        try:
            result = check()
        except (OSError, ValueError) as exc:
            result, seen = None, 'error: %s' % exc
        if result:
            return result
        if time.monotonic() > deadline:
            if not isinstance(seen, str):
                try:
                    seen = describe()
                except (OSError, ValueError) as exc:
                    seen = 'error: %s' % exc
            sys.stderr.write('prom.py: timed out after %s s; last seen: %s\n' % (timeout, seen))
            sys.exit(1)
        seen = None
        time.sleep(POLL_SECONDS)


def ready(base, timeout, rules_file):
    with open(rules_file) as handle:
        wanted = [rule.get('alert') or rule['record'] for group in yaml.safe_load(handle)['groups'] for rule in group['rules']]

    def check():
        targets = api(base, 'targets')['activeTargets']
        if not targets or any(target['health'] != 'up' for target in targets):
            return None
        rules = [rule for group in api(base, 'rules')['groups'] if group['file'] == rules_file for rule in group['rules']]
        if sorted(rule['name'] for rule in rules) != sorted(wanted) or any(rule['health'] != 'ok' for rule in rules):
            return None
        return rules

    def describe():
        return json.dumps({'targets': api(base, 'targets')['activeTargets'], 'rules': api(base, 'rules')['groups']})

    rules = wait(timeout, check, describe)
    report('ready', rules=len(rules), alert_for={rule['name']: rule['duration'] for rule in rules if rule['type'] == 'alerting'})


def keeplocal_series(base):
    return json.dumps(api(base, 'query', query='{__name__=~"keeplocal_.*"}')['result'])


def series(base, timeout, query):
    found = wait(timeout, lambda: api(base, 'query', query=query)['result'], lambda: keeplocal_series(base))
    report('series', query=query, samples=[[item['metric'], item['value'][1]] for item in found])


def absent(base, query):
    found = api(base, 'query', query=query)['result']
    if found:
        sys.stderr.write('prom.py: %s returns %s, expected nothing yet\n' % (query, json.dumps(found)))
        sys.exit(1)
    report('absent', query=query)


def firing(base, timeout, alert, labels):
    wanted = parse_labels(labels)
    found = wait(timeout, lambda: [item for item in matching_alerts(base, alert, wanted) if item['state'] == 'firing'],
                 lambda: json.dumps(api(base, 'alerts')['alerts']))
    item = found[0]
    report('firing', alert=alert, labels=item['labels'], active_at=item['activeAt'], value=item['value'],
           summary=item['annotations'].get('summary'))


def resolved(base, timeout, alert, labels):
    wanted = parse_labels(labels)
    query = selector('ALERTS', dict(wanted, alertname=alert))
    wait(timeout, lambda: not matching_alerts(base, alert, wanted) and not api(base, 'query', query=query)['result'],
         lambda: json.dumps(matching_alerts(base, alert, wanted)))
    # A range selector in an instant query returns the raw samples, stamped with their evaluation times.
    history = api(base, 'query', query=selector('ALERTS', dict(wanted, alertname=alert, alertstate='firing')) + '[10m]')
    stamps = sorted(float(stamp) for item in history['result'] for stamp, dummy in item['values'])
    if not stamps:
        sys.stderr.write('prom.py: %s never fired (no firing ALERTS samples in the last 10 minutes)\n' % query)
        sys.exit(1)
    report('resolved', alert=alert, labels=wanted, firing_first_evaluation=stamps[0], firing_last_evaluation=stamps[-1])


COMMANDS = {'ready': ready, 'series': series, 'absent': absent, 'firing': firing, 'resolved': resolved}

if __name__ == '__main__':
    COMMANDS[sys.argv[2]](sys.argv[1], *sys.argv[3:])
