"""Continuous HTTP load against one URL, counted (the load client of the unix_sockets scenario,
bench/cutover_kills.py and the unix_sockets_apps integration test).

--threads threads each send GET http://HOST:PORT/PATH, one request at a time on a new connection
(``Connection: close``, 10 s timeout), waiting --pause seconds after each answer. A request is ok
when the answer has status --status and its body passes the one body check:
  --expect-text TEXT         the body contains TEXT;
  --expect-json-key KEY=VAL  the body is a JSON object whose KEY is the string VAL.
Anything else (other status, other body, connection error, timeout) is a failure with its reason.
It runs until SIGTERM or SIGINT, or until --max-seconds have passed when given ("stopped_by" says
which); then each thread finishes the request under way (waited for up to 15 s per thread), and
those count too, before it writes its results.

Results go to --out as JSON (written to --out.tmp, then renamed): target, threads, started and
stopped (epoch seconds), stopped_by, requests, ok, failed, rps, latency_ms (p50, p99, max of the
ok requests), failures (the first 200 and the last 200, each with the time it was sent, the time it
ended and the reason), and buckets: per 100 ms of
completion time (key: int(epoch seconds * 10)), [ok, failed], so a reader can count the requests
inside a time window. --out.running appears after the first ok request.
"""
import argparse
import collections
import http.client
import json
import os
import signal
import threading
import time

FAILURES_KEPT = 200


def json_key(text):
    key, sep, value = text.partition('=')
    if not sep or not key:
        raise argparse.ArgumentTypeError('expected KEY=VALUE (e.g. backend=svc-b), got %r' % text)
    return key, value


def body_problem(body, args):
    """Why the body fails the check, or None when it passes."""
    if args.expect_text is not None:
        return None if args.expect_text.encode() in body else 'body without %r: %r' % (args.expect_text, body[:200])
    key, value = args.expect_json_key
    try:
        document = json.loads(body.decode())
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get(key) == value:
        return None
    return 'body without "%s": "%s": %r' % (key, value, body[:200])


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--path', default='/')
    parser.add_argument('--status', type=int, default=200, help='the status an ok answer has')
    check = parser.add_mutually_exclusive_group(required=True)
    check.add_argument('--expect-text', metavar='TEXT', help='an ok body contains TEXT')
    check.add_argument('--expect-json-key', metavar='KEY=VALUE', type=json_key,
                       help='an ok body is a JSON object whose KEY is the string VALUE')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--max-seconds', type=float, help='stop after this long (default: only on SIGTERM/SIGINT)')
    # A paced load leaves the CPU to the run it watches.
    parser.add_argument('--pause', type=float, default=0.0, help='seconds each thread waits after each answer')
    parser.add_argument('--out', required=True, help='the results file (JSON)')
    return parser.parse_args()


def main():
    args = parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *dummy: stop.set())
    signal.signal(signal.SIGINT, lambda *dummy: stop.set())
    lock = threading.Lock()
    buckets = {}
    latencies = []
    failures = []
    last_failures = collections.deque(maxlen=FAILURES_KEPT)
    first_ok = threading.Event()

    def worker():
        while not stop.is_set():
            start = time.time()
            reason = None
            try:
                conn = http.client.HTTPConnection(args.host, args.port, timeout=10)
                conn.request('GET', args.path, headers={'Connection': 'close'})
                response = conn.getresponse()
                body = response.read()
                conn.close()
                if response.status != args.status:
                    reason = 'status %d' % response.status
                else:
                    reason = body_problem(body, args)
            except Exception as exc:  # every failure counts, with its reason
                reason = '%s: %s' % (type(exc).__name__, exc)
            end = time.time()
            with lock:
                bucket = buckets.setdefault(int(end * 10), [0, 0])
                if reason is None:
                    bucket[0] += 1
                    latencies.append(end - start)
                    announce = not first_ok.is_set()
                    first_ok.set()
                else:
                    bucket[1] += 1
                    announce = False
                    failure = {'sent': start, 'time': end, 'reason': reason}
                    if len(failures) < FAILURES_KEPT:
                        failures.append(failure)
                    else:
                        last_failures.append(failure)
            if announce:
                with open(args.out + '.running', 'w') as handle:
                    handle.write('%f\n' % end)
            stop.wait(args.pause)

    started = time.time()
    deadline = None if args.max_seconds is None else time.monotonic() + args.max_seconds
    stopped_by = 'signal'
    threads = [threading.Thread(target=worker, daemon=True) for dummy in range(args.threads)]
    for thread in threads:
        thread.start()
    # Short waits: the signal handlers run in this thread between them.
    while not stop.wait(0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))):
        if deadline is not None and time.monotonic() >= deadline:
            stopped_by = 'max-seconds'
            stop.set()
    for thread in threads:
        thread.join(15)
    stopped = time.time()
    with lock:
        ok = sum(bucket[0] for bucket in buckets.values())
        failed = sum(bucket[1] for bucket in buckets.values())
        ordered = sorted(latencies)

    def pct(q):
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2) if ordered else None

    result = {
        'target': 'http://%s:%d%s' % (args.host, args.port, args.path), 'threads': args.threads,
        'started': started, 'stopped': stopped, 'stopped_by': stopped_by,
        'requests': ok + failed, 'ok': ok, 'failed': failed,
        'rps': round((ok + failed) / max(stopped - started, 1e-9), 1),
        'latency_ms': {'p50': pct(0.50), 'p99': pct(0.99), 'max': pct(1.0)},
        'failures': failures + list(last_failures),
        'buckets': dict((str(key), value) for key, value in sorted(buckets.items())),
    }
    tmp = args.out + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(result, handle)
    os.rename(tmp, args.out)


if __name__ == '__main__':
    main()
