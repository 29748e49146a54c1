"""Run ansible-playbook and SIGKILL it (its whole process group, as a cancelled or OOM-killed job
ends) once a task has started: the Nth header line ``TASK [... <text>...]``, after --delay seconds.

Prints JSON: {killed, task, occurrence, returncode, tail}. Exits 1 when the task never started
(the kill point was not reached, so the run it was meant to interrupt did not happen).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--task', required=True, help='text inside the task header')
    parser.add_argument('--occurrence', type=int, default=1)
    parser.add_argument('--delay', type=float, default=0.0)
    parser.add_argument('command', nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ['--'] else args.command
    env = dict(os.environ, PYTHONUNBUFFERED='1', ANSIBLE_FORCE_COLOR='0')
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
                            start_new_session=True)
    seen, lines, killed_at = 0, [], None
    for line in proc.stdout:
        lines.append(line.rstrip('\n'))
        if line.startswith('TASK [') and args.task in line:
            seen += 1
            if seen == args.occurrence:
                time.sleep(args.delay)
                os.killpg(proc.pid, signal.SIGKILL)
                killed_at = line.strip()
                break
    proc.wait()
    result = {'killed': killed_at is not None, 'task': killed_at, 'occurrence': args.occurrence,
              'returncode': proc.returncode, 'tail': lines[-15:]}
    print(json.dumps(result))
    return 0 if killed_at else 1


if __name__ == '__main__':
    sys.exit(main())
