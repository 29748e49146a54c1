# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hairpin watch collector: the I/O around _metrics (stdlib only).

One run reads this host with the detection readers of _host_facts (conntrack health, the hairpin
flows with their byte counters) and _sock_diag (the TCP sockets with theirs), updates the byte counters kept in the
state directory, and writes the metrics for node_exporter's textfile collector: to a temporary file in
the same directory, then renamed over ``keeplocal_hairpin.prom``, so a scrape never reads half a
file (the textfile collector reads only ``*.prom``). A failed run leaves the previous file, whose
``keeplocal_collector_last_success_timestamp_seconds`` then ages: the stale alert catches it.

The keeplocal.traffic.hairpin_watch role installs this file with the module_utils it imports in a
private directory and runs ``main`` from a systemd timer (no Ansible on the host needed); the
hairpin_watch_info module runs ``collect`` in-process and writes nothing.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from ansible_collections.keeplocal.traffic.plugins.module_utils import _host_facts
from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import InternalNetworks
from ansible_collections.keeplocal.traffic.plugins.module_utils._files import write_atomically
from ansible_collections.keeplocal.traffic.plugins.module_utils._metrics import (
    METRICS_FILE,
    CountingScanner,
    build_families,
    costs,
    render,
    socket_entry_bytes,
    update_counters,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._procfs import read_text
from ansible_collections.keeplocal.traffic.plugins.module_utils._sock_diag import SocketsUnavailable, tcp_sockets
from ansible_collections.keeplocal.traffic.plugins.module_utils._sockets import (
    connecting_sockets,
    connections_by_process,
    summarize,
)
from ansible_collections.keeplocal.traffic.plugins.module_utils._watch_settings import SettingsError, check_settings

CONFIG = '/etc/keeplocal-hairpin-watch.json'
COUNTERS_FILE = 'counters.json'
RESULT_FILE = 'result.json'
LOCK_FILE = 'lock'
# What the collector's configuration holds (the role writes it from its variables).
COLLECTOR_SETTINGS = ('interval', 'textfile_directory', 'state_directory', 'public_addresses', 'internal_cidrs',
                      'top_pairs', 'label_overrides', 'app_servers', 'price_per_gb', 'currency')
# Process names (/proc/PID/comm, cut at 15 characters) of node_exporter: upstream's and Debian's
# prometheus-node-exporter.
NODE_EXPORTER_NAMES = ('node_exporter', 'prometheus-node')
DEBIAN_NODE_EXPORTER = 'prometheus-node-exporter'
DEBIAN_TEXTFILE_DIRECTORY = '/var/lib/prometheus/node-exporter'
TEXTFILE_FLAG = '--collector.textfile.directory'
SYSTEMD_RUNTIME = '/run/systemd/system'


class CollectorError(Exception):
    """A run that cannot produce metrics; the message says why and what to do."""


class HostTools:
    """The part of AnsibleModule the detection readers use, for the collector outside Ansible."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.warnings = []

    @staticmethod
    def get_bin_path(name):
        return shutil.which(name, path=os.pathsep.join((os.environ.get('PATH', ''), '/usr/sbin', '/sbin')))

    @staticmethod
    def run_command(args, use_unsafe_shell=False, environ_update=None):
        env = dict(os.environ, **(environ_update or {}))
        proc = subprocess.run(args, shell=use_unsafe_shell, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def warn(self, text):
        self.warnings.append(text)

    @staticmethod
    def fail_json(msg, **dummy):
        raise CollectorError(msg)


# --- one run -------------------------------------------------------------------------------------

def observe(module, settings):
    """What this host shows now: the ``observation`` build_families takes."""
    internal = InternalNetworks(settings['internal_cidrs'])
    public = settings['public_addresses']
    health = _host_facts.conntrack_health(module, kernel_log=False)
    observation = {'conntrack': health, 'accounting': health['accounting'], 'hairpin': None}
    if health['available']:
        hairpin = _host_facts.hairpin_flows(module, internal, public, limit=0, scanner_class=CountingScanner)
        if not hairpin['available']:
            raise CollectorError('the conntrack table cannot be read: %s' % hairpin['msg'])
        observation['hairpin'] = hairpin
    try:
        listing = tcp_sockets(_host_facts.PROC)
    except SocketsUnavailable as exc:
        raise CollectorError(str(exc)) from None
    sockets = listing['sockets']
    observation['client_byte_counters'] = listing['byte_counters']
    observation['sockets'] = {key: listing[key] for key in ('source', 'byte_counters', 'msg')}
    observation['socket_bytes'] = socket_entry_bytes(sockets, public) if listing['byte_counters'] else {}
    # Closed connections whose counters went with their socket (see _metrics).
    observation['sockets']['time_wait_sockets'] = sum(
        1 for sock in connecting_sockets(sockets, public) if sock['state'] == 'TIME_WAIT')
    owners = _host_facts.socket_owners(sock['inode'] for sock in sockets if sock['inode'])
    observation['public_connections'] = connections_by_process(sockets, owners, public)
    app_servers = set(settings['app_servers'])
    observation['same_host'] = [item for item in summarize(sockets, owners, _host_facts.local_addresses(module))['same_host']
                                if item['listener_process'] in app_servers]
    return observation


def collect(module, settings, counters, started):
    """(metrics text, new counters, result) of one run that began at ``started`` (time.monotonic())."""
    observation = observe(module, settings)
    now = time.time()
    hairpin = observation['hairpin']
    entry_bytes = dict(hairpin['entry_bytes']) if hairpin else {}
    entry_bytes.update(observation['socket_bytes'])
    counters = update_counters(counters, entry_bytes, now, settings['top_pairs'])
    duration = time.monotonic() - started
    families = build_families(observation, counters, settings, round(now, 3), duration)
    health = observation['conntrack']
    stats = health.get('stats') or {}
    result = {
        'time': round(now, 3),
        'duration_seconds': round(duration, 6),
        'conntrack': {
            'available': health['available'], 'count': health['count'], 'max': health['max'], 'usage': health['usage'],
            'drop': stats.get('drop'), 'early_drop': stats.get('early_drop'), 'insert_failed': stats.get('insert_failed'),
            'accounting': observation['accounting'],
        },
        'hairpin': None if hairpin is None else {
            'source': hairpin['source'], 'total_entries': hairpin['total_entries'],
            'hairpin_entries': hairpin['hairpin_entries'], 'pairs': len(hairpin['pairs']),
        },
        'public_connections': sum(item['connections'] for item in observation['public_connections']),
        'client_bytes': dict(observation['sockets'], counted_sockets=len(observation['socket_bytes'])),
        'same_host_connections': sum(item['connections'] for item in observation['same_host']),
        'series': sum(len(family.samples) for family in families),
        'cost': costs(counters, now, settings['interval'], settings['price_per_gb'], settings['currency']),
        'warnings': list(getattr(module, 'warnings', [])),
    }
    return render(families), counters, result


# --- files ---------------------------------------------------------------------------------------

def read_json(path, default):
    """The JSON in ``path``, or ``default`` when the file is missing or unreadable."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return default


def load_settings(path):
    """The collector's checked settings from its JSON configuration file."""
    try:
        with open(path) as handle:
            values = json.load(handle)
    except (OSError, ValueError) as exc:
        raise CollectorError('cannot read the configuration %s: %s' % (path, exc)) from None
    missing = [name for name in COLLECTOR_SETTINGS if not isinstance(values, dict) or name not in values]
    if missing:
        raise CollectorError('%s: missing %s (run the keeplocal.traffic.hairpin_watch role again)'
                             % (path, ', '.join(missing)))
    try:
        return check_settings(values, prefix='%s: ' % path)
    except SettingsError as exc:
        raise CollectorError(str(exc)) from None


def run(settings):
    """One collector run: write the metrics, the counters and the result; returns the result."""
    started = time.monotonic()
    state = settings['state_directory']
    os.makedirs(state, mode=0o755, exist_ok=True)
    # A run by hand and the timer's may overlap: the counters are read and written by one at a time.
    with open(os.path.join(state, LOCK_FILE), 'w') as lock, tempfile.TemporaryDirectory(prefix='keeplocal-watch-') as tmp:
        fcntl.flock(lock, fcntl.LOCK_EX)
        counters_path = os.path.join(state, COUNTERS_FILE)
        text, counters, result = collect(HostTools(tmp), settings, read_json(counters_path, {}), started)
        write_atomically(os.path.join(settings['textfile_directory'], METRICS_FILE), text)
        write_atomically(counters_path, json.dumps(counters, sort_keys=True), mode=0o600)
        write_atomically(os.path.join(state, RESULT_FILE), json.dumps(result, indent=1, sort_keys=True) + '\n')
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='keeplocal-hairpin-watch',
        description='One run of the keeplocal.traffic hairpin watch: hairpin and conntrack metrics for '
                    'node_exporter\'s textfile collector.')
    parser.add_argument('--config', default=CONFIG, help='the JSON configuration (default %(default)s)')
    args = parser.parse_args(argv)
    try:
        result = run(load_settings(args.config))
    except (CollectorError, OSError) as exc:
        sys.stderr.write('keeplocal-hairpin-watch: %s\n' % exc)
        return 1
    for warning in result['warnings']:
        sys.stderr.write('keeplocal-hairpin-watch: warning: %s\n' % warning)
    return 0


# --- what the role checks before it installs anything --------------------------------------------

def node_exporter_textfile(argv):
    """(textfile collector enabled, directory or None) from a node_exporter's command line.

    kingpin flags: ``--flag=value`` or ``--flag value``; ``--no-collector.textfile`` turns the
    collector off. Without the flag, Debian's build reads /var/lib/prometheus/node-exporter and
    upstream's reads nothing.
    """
    enabled = '--no-collector.textfile' not in argv
    directory = None
    for index, arg in enumerate(argv):
        if arg.startswith(TEXTFILE_FLAG + '='):
            directory = arg.split('=', 1)[1]
        elif arg == TEXTFILE_FLAG and index + 1 < len(argv):
            directory = argv[index + 1]
    if directory is None and argv and os.path.basename(argv[0]) == DEBIAN_NODE_EXPORTER:
        directory = DEBIAN_TEXTFILE_DIRECTORY
    return enabled, os.path.normpath(directory) if directory else None


def node_exporters(proc):
    """The node_exporters running here: [{pid, process, command, textfile_enabled, textfile_directory}]."""
    found = []
    try:
        pids = sorted((name for name in os.listdir(proc) if name.isdigit()), key=int)
    except OSError:
        return found
    for pid in pids:
        comm = (read_text(os.path.join(proc, pid, 'comm')) or '').strip()
        if comm not in NODE_EXPORTER_NAMES:
            continue
        argv = [arg for arg in (read_text(os.path.join(proc, pid, 'cmdline')) or '').split('\0') if arg]
        enabled, directory = node_exporter_textfile(argv)
        found.append({'pid': int(pid), 'process': comm, 'command': ' '.join(argv), 'textfile_enabled': enabled,
                      'textfile_directory': directory})
    return found


def directory_state(path):
    """{path, exists, usable, message}: can the collector write files in ``path``, or create it?"""
    state = {'path': path, 'exists': os.path.isdir(path), 'usable': False, 'message': None}
    if state['exists']:
        if os.access(path, os.W_OK | os.X_OK):
            state['usable'] = True
        else:
            state['message'] = '%s exists but is not writable here (read-only file system, or no permission: become: true)' % path
        return state
    if os.path.lexists(path):
        state['message'] = '%s exists and is not a directory' % path
        return state
    parent = os.path.dirname(path)
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        state['message'] = '%s does not exist and cannot be created: %s is not a directory' % (path, parent)
    elif not os.access(parent, os.W_OK | os.X_OK):
        state['message'] = ('%s does not exist and cannot be created: %s is not writable here (read-only file system, '
                            'or no permission: become: true)' % (path, parent))
    else:
        state['usable'] = True
    return state


def host_problems(textfile, exporters, systemd):
    """What stops the collector from working here, each naming the setting to change (empty: none)."""
    problems = []
    if not textfile['usable']:
        problems.append('textfile_directory: %s' % textfile['message'])
    for exporter in exporters:
        if not exporter['textfile_enabled']:
            problems.append('textfile_directory: the running node_exporter (pid %d) has its textfile collector off '
                            '(--no-collector.textfile): enable it, or nothing it exports will show the metrics'
                            % exporter['pid'])
        elif exporter['textfile_directory'] is None:
            problems.append('textfile_directory: the running node_exporter (pid %d: %s) reads no textfile directory: '
                            'start it with %s=%s' % (exporter['pid'], exporter['command'], TEXTFILE_FLAG, textfile['path']))
        elif exporter['textfile_directory'] != textfile['path']:
            problems.append('textfile_directory: %s, but the running node_exporter (pid %d) reads %s: set it to %s'
                            % (textfile['path'], exporter['pid'], exporter['textfile_directory'],
                               exporter['textfile_directory']))
    if not systemd:
        problems.append('components: the collector runs from a systemd timer and systemd is not running here (%s is '
                        'missing): leave collector out of the components of this host' % SYSTEMD_RUNTIME)
    return problems


def host_state(textfile_directory):
    """{textfile_directory, node_exporters, systemd, problems} of this host."""
    textfile = directory_state(textfile_directory)
    exporters = node_exporters(_host_facts.PROC)
    systemd = os.path.isdir(SYSTEMD_RUNTIME)
    return {'textfile_directory': textfile, 'node_exporters': exporters, 'systemd': systemd,
            'problems': host_problems(textfile, exporters, systemd)}
