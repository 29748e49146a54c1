"""Continuous HTTP load against the lab's app, counted (the unix_sockets scenario's load client).

Threads send GET requests back to back, each on a new connection (``Connection: close``), until
SIGTERM; a request counts as ok when the answer is 200 with the app's JSON naming the expected
backend, anything else (status, body, connection error, timeout) is a failure with its reason.
Completions are counted per 100 ms so a verifier can count the requests inside a time window.
Results go to --out as JSON; --out.running appears after the first answer.
"""
import argparse
import http.client
import json
import os
import signal
import threading
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--host', default='192.168.1.20')
    parser.add_argument('--port', type=int, default=80)
    parser.add_argument('--path', default='/load')
    parser.add_argument('--threads', type=int, default=8)
    parser.add_argument('--backend', default='svc-b')
    parser.add_argument('--out', required=True)
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *dummy: stop.set())
    signal.signal(signal.SIGINT, lambda *dummy: stop.set())
    lock = threading.Lock()
    buckets = {}
    latencies = []
    failures = []
    first = threading.Event()

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
                if response.status != 200:
                    reason = 'status %d' % response.status
                elif json.loads(body.decode()).get('backend') != args.backend:
                    reason = 'unexpected body %r' % body[:200]
            except Exception as exc:  # every failure counts, with its reason
                reason = '%s: %s' % (type(exc).__name__, exc)
            end = time.time()
            with lock:
                bucket = buckets.setdefault(int(end * 10), [0, 0])
                if reason is None:
                    bucket[0] += 1
                    latencies.append(end - start)
                else:
                    bucket[1] += 1
                    if len(failures) < 200:
                        failures.append({'time': end, 'reason': reason})
            if reason is None and not first.is_set():
                first.set()
                with open(args.out + '.running', 'w') as handle:
                    handle.write('%f\n' % end)

    started = time.time()
    threads = [threading.Thread(target=worker, daemon=True) for dummy in range(args.threads)]
    for thread in threads:
        thread.start()
    while not stop.wait(0.5):
        pass
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
        'started': started, 'stopped': stopped, 'requests': ok + failed, 'ok': ok, 'failed': failed,
        'rps': round((ok + failed) / max(stopped - started, 1e-9), 1),
        'latency_ms': {'p50': pct(0.50), 'p99': pct(0.99), 'max': pct(1.0)},
        'failures': failures,
        'buckets': dict((str(key), value) for key, value in sorted(buckets.items())),
    }
    tmp = args.out + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(result, handle)
    os.rename(tmp, args.out)


if __name__ == '__main__':
    main()
