# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: reading nginx's configuration and planning the switch's edits, the single reader
(module_utils/_nginx_conf.py) side by side with the two readings it replaced (crossplane for the
analysis, then a span lexer for the edits), in one run. Not a test.

    pip install --target /tmp/crossplane-0.5.14 nginx-crossplane==0.5.14   # the old path's parser, once
    . scripts/env.sh && python bench/nginx_parse.py --crossplane /tmp/crossplane-0.5.14 [--rounds 15] [--loops 20] [--old-rev REV]

Input: every case of ../shared/realworld/nginx/ (next to the checkout) laid over Debian's stock
/etc/nginx (tests/unit/plugins/module_utils/fixtures/nginx_upstream/, the same layout as
tests/unit/plugins/modules/test_nginx_upstream_corpus.py, in memory: nginx.conf, mime.types,
proxy_params, the default site unless the case drops it, the case's files and links).

  old   _nginx_upstream.py of --old-rev (default: the commit before the action plugin was removed),
        build_payload with crossplane.parse_string per file (as its action plugin called it), then
        rewrite(payload, texts, ...) (which analyzes and lexes the edited files again)
  new   _nginx_conf.read_config, then _nginx_upstream.rewrite(payload, ...) of this tree

each over all cases for the case's switch (ADDRESS -> SOCKET). Rounds are interleaved (old, new,
new, old, ...); a round runs every case --loops times. Before timing, both paths must give the
same new file texts and changed lines on every case, and the statements crossplane and the reader
see (directive, arguments, line) are compared file by file; differences are listed.

With --tasks N (root and Debian's nginx), the whole task too, as a user runs it: ``ansible localhost
-c local -m keeplocal.traffic.nginx_upstream`` switching and then reverting the django-on-docker case
laid out under a temporary root (as test_nginx_upstream_corpus.py lays it out; force=true, since
nothing listens on its address here; nginx -t runs), with the collection of --old-rev (action plugin,
crossplane on the controller, the module run twice) and this tree (the module run once), N
interleaved rounds. Writes bench/results/nginx_parse.md. The collection no longer depends on crossplane: the old path takes it from
--crossplane (a pip --target directory) or from the Python running the bench.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, 'tests', 'unit', 'plugins', 'module_utils', 'fixtures', 'nginx_upstream')
CORPUS = os.path.join(os.path.dirname(REPO), 'shared', 'realworld', 'nginx')
RESULT = os.path.join(REPO, 'bench', 'results', 'nginx_parse.md')
STOCK = (('nginx.conf', 'nginx.conf'), ('mime.types', 'mime.types'), ('proxy_params', 'proxy_params'),
         ('sites-available/default', 'default'), ('sites-enabled/default', 'default'))


def git(*args):
    return subprocess.run(['git', '-C', REPO] + list(args), capture_output=True, text=True, check=True).stdout


def default_old_rev():
    """HEAD while the action plugin is still committed, else the commit before the one that removed it."""
    if git('ls-tree', 'HEAD', 'plugins/action/nginx_upstream.py').strip():
        return 'HEAD'
    removed = git('rev-list', '-1', 'HEAD', '--', 'plugins/action/nginx_upstream.py').strip()
    if not removed:
        sys.exit('no commit has plugins/action/nginx_upstream.py: give --old-rev')
    return removed + '^'


def old_module(rev):
    """_nginx_upstream.py as it was at ``rev``, imported beside this tree's (its imports are this tree's)."""
    module = types.ModuleType('old_nginx_upstream')
    source = git('show', '%s:plugins/module_utils/_nginx_upstream.py' % rev)
    exec(compile(source, 'old:_nginx_upstream.py', 'exec'), module.__dict__)  # pylint: disable=exec-used
    return module


def read(path):
    with open(path) as handle:
        return handle.read()


def case_files(name):
    """The case's switch and the files under /etc/nginx: [{path, content}] (links read through)."""
    directory = os.path.join(CORPUS, name)
    env = {}
    for line in read(os.path.join(directory, 'case.env')).splitlines():
        for word in shlex.split(line, comments=True):
            key, dummy, value = word.partition('=')
            env[key] = value
    tree = dict(('/etc/nginx/' + rel, read(os.path.join(FIXTURES, source))) for rel, source in STOCK)
    top = os.path.join(directory, 'etc-nginx')
    for dirpath, dummy, filenames in os.walk(top):
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            tree['/etc/nginx/' + os.path.relpath(path, top)] = read(path)
    for rel in env['DROP'].split():
        del tree['/etc/nginx/' + rel]
    for link in env['LINKS'].split():
        rel, dummy, target = link.partition('=')
        tree['/etc/nginx/' + rel] = tree[target]
    return env, [{'path': path, 'content': text} for path, text in sorted(tree.items())]


def old_path(old, crossplane, files, port, to):
    """The two readings: crossplane for the analysis, the old rewrite's span lexer for the edits."""
    def parse_one(text, path):
        parsed = crossplane.parse_string(text, filename=path, single=True, comments=False,
                                         check_ctx=False, check_args=False, catch_errors=True)
        return parsed['config'][0], parsed.get('errors') or []

    payload = old.build_payload(files, '/etc/nginx/nginx.conf', parse_one)
    texts = dict((item['path'], item['content']) for item in files)
    return old.rewrite(payload, texts, match_port=port, to=to, local_addresses=['127.0.0.1'])


def new_path(nc, nu, files, port, to):
    """The single reader: read once, the edits from the tokens read."""
    payload = nc.read_config(files, '/etc/nginx/nginx.conf')
    return nu.rewrite(payload, match_port=port, to=to, local_addresses=['127.0.0.1'])


def statements_crossplane(crossplane, text, path):
    parsed = crossplane.parse_string(text, filename=path, single=True, comments=False, check_ctx=False, check_args=False,
                                     catch_errors=True)
    found = []

    def visit(block):
        for stmt in block:
            found.append((stmt['directive'], tuple(stmt['args']), stmt['line']))
            visit(stmt.get('block') or [])

    visit(parsed['config'][0]['parsed'])
    return found, parsed.get('errors') or []


def statements_reader(nc, text, path):
    found = []

    def visit(block):
        for stmt in block:
            found.append((stmt['directive'], tuple(stmt['args']), stmt['line']))
            visit(stmt['block'] or [])

    visit(nc.parse(text, path))
    return found


def task_rounds(rounds, rev, crossplane_dir, collections):
    """Wall seconds of a switch and a revert as ansible tasks: {'old': [...], 'new': [...]} (one entry per round)."""
    # pylint: disable=import-outside-toplevel
    from ansible_collections.keeplocal.traffic.tests.unit.plugins.modules import test_nginx_upstream_corpus as corpus
    corpus.CORPUS = CORPUS  # found from the test's own path, which here is the collection tree's
    work = tempfile.mkdtemp(prefix='kl-nginx-bench-')
    socket_dir = tempfile.mkdtemp(prefix='kl-nginx-bench-', dir='/run')
    try:
        old_tree = os.path.join(work, 'old', 'ansible_collections', 'keeplocal', 'traffic')
        os.makedirs(old_tree)
        archive = subprocess.run(['git', '-C', REPO, 'archive', rev], capture_output=True, check=True).stdout
        subprocess.run(['tar', '-x', '-C', old_tree], input=archive, check=True)
        case = corpus.Case('django-on-docker', os.path.join(work, 'root'), *corpus.read_case('django-on-docker'))
        original = dict((rel, read(os.path.join(case.etc, rel))) for rel in case.expected)
        trees = {'old': (os.path.join(work, 'old'), crossplane_dir or ''), 'new': (collections, '')}
        found = {'old': [], 'new': []}
        for round_ in range(rounds):
            for which in (('old', 'new') if round_ % 2 == 0 else ('new', 'old')):
                tree, extra_path = trees[which]
                env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=tree, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='json',
                           PYTHONPATH=':'.join(item for item in (extra_path, os.environ.get('PYTHONPATH', '')) if item))
                start = time.perf_counter()
                for mode in ('switch', 'revert'):
                    task = {'mode': mode, 'address': case.address, 'socket': socket_dir + '/gunicorn.sock', 'conf': case.conf,
                            'backup_dir': case.backup_dir, 'force': True}
                    out = subprocess.run(['ansible', 'localhost', '-c', 'local', '-i', 'localhost,', '-e',
                                          'ansible_python_interpreter=' + sys.executable, '-m', 'keeplocal.traffic.nginx_upstream',
                                          '-a', json.dumps(task)], env=env, capture_output=True, text=True, check=False)
                    result = json.loads(out.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']
                    if result.get('failed') or not result.get('changed'):
                        sys.exit('%s %s task: %s' % (which, mode, result.get('msg') or 'changed nothing'))
                found[which].append(time.perf_counter() - start)
                if any(read(os.path.join(case.etc, rel)) != text for rel, text in original.items()):
                    sys.exit('%s: the revert did not give the original files back' % which)
        return found
    finally:
        shutil.rmtree(work)
        shutil.rmtree(socket_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument('--loops', type=int, default=20)
    parser.add_argument('--old-rev')
    parser.add_argument('--crossplane', help='a directory holding crossplane (pip install --target DIR nginx-crossplane==0.5.14)')
    parser.add_argument('--tasks', type=int, default=0, help='rounds of the switch and revert as ansible tasks (0: none)')
    args = parser.parse_args()
    collections = os.environ.get('KEEPLOCAL_COLLECTIONS') or os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(':')[0]
    if not collections:
        sys.exit('source scripts/env.sh first (needs the collection tree on ANSIBLE_COLLECTIONS_PATH)')
    sys.path.insert(0, collections)
    if args.crossplane:
        sys.path.insert(0, args.crossplane)
    # pylint: disable=import-outside-toplevel
    from ansible_collections.keeplocal.traffic.plugins.module_utils import _nginx_conf as nc
    from ansible_collections.keeplocal.traffic.plugins.module_utils import _nginx_upstream as nu
    try:
        import crossplane
    except ImportError:
        sys.exit('the old path needs crossplane: pip install --target /tmp/crossplane-0.5.14 nginx-crossplane==0.5.14, '
                 'then --crossplane /tmp/crossplane-0.5.14')
    if not os.path.isdir(CORPUS):
        sys.exit('the real-world corpus is not at %s' % CORPUS)
    rev = args.old_rev or default_old_rev()
    old = old_module(rev)
    cases = []
    for name in sorted(os.listdir(CORPUS)):
        env, files = case_files(name)
        port = int(env['ADDRESS'].rsplit(':', 1)[1])
        cases.append((name, files, port, 'unix:' + env['SOCKET']))

    # Same answers first, and the statements each reader sees.
    mismatches, statement_diffs, files_compared = [], [], 0
    for name, files, port, to in cases:
        before, after = old_path(old, crossplane, files, port, to), new_path(nc, nu, files, port, to)
        if before != after:
            mismatches.append(name)
        for item in files:
            files_compared += 1
            seen_old, errors = statements_crossplane(crossplane, item['content'], item['path'])
            seen_new = statements_reader(nc, item['content'], item['path'])
            if seen_old != seen_new or errors:
                statement_diffs.append('%s %s: crossplane %d statements%s, reader %d; first difference: %s' % (
                    name, item['path'], len(seen_old), ' (errors %s)' % errors if errors else '', len(seen_new),
                    next(((a, b) for a, b in zip(seen_old, seen_new) if a != b), 'lengths')))

    def old_read(files):
        return old.build_payload(files, '/etc/nginx/nginx.conf', lambda text, path: (crossplane.parse_string(
            text, filename=path, single=True, comments=False, check_ctx=False, check_args=False, catch_errors=True)['config'][0], []))

    paths = {
        'old': lambda files, port, to: old_path(old, crossplane, files, port, to),
        'new': lambda files, port, to: new_path(nc, nu, files, port, to),
        'old, reading only': lambda files, port, to: old_read(files),
        'new, reading only': lambda files, port, to: nc.read_config(files, '/etc/nginx/nginx.conf'),
    }
    names = list(paths)
    wall, cpu = dict((name, []) for name in names), dict((name, []) for name in names)
    for round_ in range(args.rounds):
        for which in (names if round_ % 2 == 0 else names[::-1]):
            run = paths[which]
            start, start_cpu = time.perf_counter(), time.process_time()
            for dummy in range(args.loops):
                for name, files, port, to in cases:
                    run(files, port, to)
            wall[which].append((time.perf_counter() - start) / args.loops * 1000)
            cpu[which].append((time.process_time() - start_cpu) / args.loops * 1000)

    median = dict((name, (statistics.median(wall[name]), statistics.median(cpu[name]))) for name in names)
    tasks = task_rounds(args.tasks, rev, args.crossplane, collections) if args.tasks else None
    ratio = median['new'][0] / median['old'][0]
    total_bytes = sum(len(item['content'].encode()) for dummy, files, dummy2, dummy3 in cases for item in files)
    command = '. scripts/env.sh && python bench/nginx_parse.py%s --rounds %d --loops %d%s --old-rev %s' % (
        ' --crossplane ' + args.crossplane if args.crossplane else '', args.rounds, args.loops,
        ' --tasks %d' % args.tasks if args.tasks else '', git('rev-parse', '--short', rev).strip())
    lines = [
        '# nginx configuration: read and plan the switch (old two readings vs the single reader)',
        '',
        'Command (from the repository root): `%s`' % command,
        '',
        'Run %s UTC on %s, %d CPUs (load average %s at the end), Python %s, crossplane %s.' % (
            datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M'), platform.release(), os.cpu_count(),
            ' '.join('%.2f' % value for value in os.getloadavg()), platform.python_version(), crossplane.__version__),
        '',
        'Input: the %d cases of shared/realworld/nginx (%s) over Debian\'s stock /etc/nginx, %d files in their trees, %d bytes; '
        'one pass = every case once: read the files nginx loads, then plan the switch of the case\'s ADDRESS to its '
        'SOCKET (analysis and the edited texts).' % (len(cases), ', '.join(name for name, dummy, dummy2, dummy3 in cases),
                                                     files_compared, total_bytes),
        '',
        '- old (%s): `build_payload` with `crossplane.parse_string` per file, then `rewrite(payload, texts)` '
        '(analysis again, span lexer over the edited files)' % git('rev-parse', '--short', rev).strip(),
        '- new (this tree): `_nginx_conf.read_config`, then `rewrite(payload)` (analysis, edits from the tokens read)',
        '',
        'Median of %d interleaved rounds (each round runs the four paths, in reverse order every other round), each '
        'round %d passes per path; wall time (perf_counter) and CPU time of this process (process_time).' % (args.rounds, args.loops),
        '',
        '| path | wall ms per pass (median) | min | max | wall vs old | CPU ms per pass (median) | CPU vs old |',
        '|---|---:|---:|---:|---:|---:|---:|',
    ]
    for which in names:
        base = 'old' if which in ('old', 'new') else 'old, reading only'
        lines.append('| %s | %.2f | %.2f | %.2f | %.2fx | %.2f | %.2fx |' % (
            which, median[which][0], min(wall[which]), max(wall[which]), median[which][0] / median[base][0],
            median[which][1], median[which][1] / median[base][1]))
    lines += [
        '',
        'Ratio new/old (read and plan, wall): **%.2f**; CPU: %.2f (below 1: the single reader is faster).' % (
            ratio, median['new'][1] / median['old'][1]),
        '',
        'Same result on every case (new texts and changed lines): %s.' % (
            'yes' if not mismatches else 'NO, differing: ' + ', '.join(mismatches)),
        'Statements (directive, arguments, line) crossplane and the reader see, file by file over the %d files: %s' % (
            files_compared, 'identical.' if not statement_diffs else '%d files differ:' % len(statement_diffs)),
    ]
    lines += ['- ' + item for item in statement_diffs]
    if tasks:
        old_s, new_s = statistics.median(tasks['old']), statistics.median(tasks['new'])
        lines += [
            '',
            '## The task as a user runs it',
            '',
            'A switch and a revert of django-on-docker (`ansible localhost -c local -m keeplocal.traffic.nginx_upstream`, '
            'force=true, nginx -t, backups), median of %d interleaved rounds; the revert gives the original bytes back '
            'every round.' % args.tasks,
            '',
            '| collection | switch + revert, s (median) | min | max | vs old |',
            '|---|---:|---:|---:|---:|',
            '| old (%s: action plugin, crossplane on the controller, module run twice per task) | %.2f | %.2f | %.2f | 1.00x |' % (
                git('rev-parse', '--short', rev).strip(), old_s, min(tasks['old']), max(tasks['old'])),
            '| new (this tree: the module run once per task) | %.2f | %.2f | %.2f | %.2fx |' % (
                new_s, min(tasks['new']), max(tasks['new']), new_s / old_s),
        ]
    os.makedirs(os.path.dirname(RESULT), exist_ok=True)
    with open(RESULT, 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
