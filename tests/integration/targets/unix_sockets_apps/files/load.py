"""Continuous HTTP load against one nginx site inside the apps container, counted.

Threads send GET requests (--pause apart) to 127.0.0.1:PORT, each on a new connection, until SIGTERM
or --max-seconds; a request counts as ok when the answer has the expected status and the body holds
--expect-text, anything else (status, body, connection error, timeout) is a failure with its reason.
Results go to --out as JSON; --out.running appears after the first good answer.
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
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--path', default='/')
    parser.add_argument('--status', type=int, default=200)
    parser.add_argument('--expect-text', default='')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--max-seconds', type=float, default=300)
    # Seconds each thread waits between requests: a paced load leaves the CPU to the run it watches.
    parser.add_argument('--pause', type=float, default=0.0)
    parser.add_argument('--out', required=True)
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *dummy: stop.set())
    signal.signal(signal.SIGINT, lambda *dummy: stop.set())
    lock = threading.Lock()
    counts = {'ok': 0, 'failed': 0}
    failures = []
    first = threading.Event()

    def worker():
        while not stop.is_set():
            reason = None
            try:
                conn = http.client.HTTPConnection('127.0.0.1', args.port, timeout=10)
                conn.request('GET', args.path, headers={'Connection': 'close'})
                response = conn.getresponse()
                body = response.read()
                conn.close()
                if response.status != args.status:
                    reason = 'status %d' % response.status
                elif args.expect_text.encode() not in body:
                    reason = 'unexpected body %r' % body[:200]
            except Exception as exc:  # every failure counts, with its reason
                reason = '%s: %s' % (type(exc).__name__, exc)
            with lock:
                counts['failed' if reason else 'ok'] += 1
                if reason and len(failures) < 50:
                    failures.append({'time': time.time(), 'reason': reason})
            stop.wait(args.pause)
            if reason is None and not first.is_set():
                first.set()
                with open(args.out + '.running', 'w') as handle:
                    handle.write('%f\n' % time.time())

    started = time.time()
    threads = [threading.Thread(target=worker, daemon=True) for dummy in range(args.threads)]
    for thread in threads:
        thread.start()
    stop.wait(args.max_seconds)
    stop.set()
    for thread in threads:
        thread.join(15)
    stopped = time.time()
    with lock:
        result = {'port': args.port, 'path': args.path, 'threads': args.threads, 'seconds': round(stopped - started, 1),
                  'requests': counts['ok'] + counts['failed'], 'ok': counts['ok'], 'failed': counts['failed'],
                  'timed_out': stopped - started >= args.max_seconds, 'failures': failures}
    tmp = args.out + '.tmp'
    with open(tmp, 'w') as handle:
        json.dump(result, handle)
    os.rename(tmp, args.out)


if __name__ == '__main__':
    main()
