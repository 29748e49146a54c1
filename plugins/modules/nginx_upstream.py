#!/usr/bin/python
# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_upstream
short_description: Find nginx to app server pairs (gunicorn, uvicorn, uWSGI, Puma) on one host and move them between TCP and a Unix socket
version_added: 0.1.0
description:
  - O(mode=discover) reports the same-host backends nginx proxies to (C(upstream) servers, direct
    C(proxy_pass) URLs and C(uwsgi_pass) targets pointing at loopback, C(localhost) or the host's own addresses),
    joined with what listens there (process, systemd unit, the app server's command line, environment and config
    file), and says which pairs cannot safely be switched and why (an unknown server, other clients on the port,
    reachable from other hosts, non-HTTP use, the address named elsewhere in the configuration, ...).
    Backends on other hosts are listed under RV(remote).
  - B(App servers.) gunicorn (any worker class; with uvicorn's workers, C(-k uvicorn.workers.UvicornWorker), too),
    uvicorn standalone (C(uvicorn APP) or C(python -m uvicorn APP)) and uWSGI (C(--http-socket) behind C(proxy_pass),
    C(--socket)/C(--uwsgi-socket) behind C(uwsgi_pass)) and Puma (Ruby; C(puma -b tcp://HOST:PORT) or C(-p PORT)), each
    run directly by the ExecStart of a systemd service. The
    proposed ExecStart takes the listener from systemd's socket activation (the C(<app>.socket) unit holds the Unix
    socket), for gunicorn C(--bind unix:PATH) (gunicorn adopts the descriptors systemd passes), uvicorn C(--fd 3)
    (C(--host), C(--port), C(--uds) removed), uWSGI C(--http-socket PATH --protocol=http) or C(--socket PATH) (uWSGI
    adopts the passed descriptor and, by its name, does not bind it again; C(--protocol=http) because adopted sockets
    speak the default protocol), Puma C(-b unix://PATH) in place of the pair's C(-b)/C(-p) (Puma adopts the passed
    descriptor whose address a bind names). The handover copy runs the same way on its own socket unit (uvicorn again with
    C(--fd 3); uWSGI without C(--pidfile), C(--stats), C(--master-fifo) and C(--daemonize); Puma without C(--pidfile),
    C(--state), C(--control-url) and C(--control-token)). Every other word of
    ExecStart keeps its spelling.
  - uvicorn, and gunicorn with uvicorn's workers, apply C(X-Forwarded-For) and C(X-Forwarded-Proto) only from the peers in
    C(forwarded-allow-ips) (default C(127.0.0.1,::1)); a Unix socket peer has no address, so over the socket the app
    would lose the client address and the https scheme. Where nginx's TCP address is trusted now, the proposed
    ExecStart sets C(--forwarded-allow-ips *) (C(proposed.trust_forwarded), and a warning); who may connect is decided
    by the socket's owner, group and mode.
  - Refused, with the unit and the fix in the reason, are an ExecStart that runs a wrapper script or shell instead of the
    server (C(exec_start_unsupported)), a server this module does not know (C(unknown_server)), uvicorn's
    C(--reload) (C(development_server)), uvicorn before 0.15 with C(--workers) or C(--reload), which ignores C(--fd)
    there (C(server_version)), uvicorn with O(drop_tcp=false) (one listener only, C(keep_tcp_unsupported)), uWSGI's
    HTTP router C(--http) and the emperor (C(server_option_unsupported)), a uWSGI listener set in an ini file or a
    C(UWSGI_*) variable, which no ExecStart can take back (C(config_file_binds), move it to ExecStart), a Puma whose
    ExecStart gives no C(-b)/C(-p) (its bind is in C(config/puma.rb), C(-C FILE) or the default, C(config_file_binds);
    a bind on ExecStart replaces the config file's), Puma's C(ssl://) binds (C(https)), a config file
    that cannot be read or is not ini (C(config_file_unsupported)), uWSGI's C(pidfile), C(stats) or C(master-fifo) in
    the ini file, which the handover copy would share (C(handover_conflict)), and nginx speaking another protocol than
    the server (C(protocol_mismatch)).
  - Checked with gunicorn 27.0.1, uvicorn 0.54.0 (and the source of 0.14 and 0.15), uWSGI 2.0.31 and Puma 5.6.5, each started with
    the original and with the proposed commands under socket activation (tests/unit/plugins/module_utils/test__app_servers_real.py).
  - O(mode=switch) rewrites every place that names the backend at O(address) (and the sockets in
    O(replace_sockets)) to C(unix:O(socket)); O(mode=revert) rewrites O(socket) (and O(replace_sockets))
    back to O(address). Only the address argument of the affected directives changes (and
    O(server_parameters) on C(server) lines); comments, blank lines, indentation and every other byte
    stay as they were.
  - Edited files are backed up (O(backup)) into a directory of their own for each run, O(backup_dir)/RUN/ followed by the
    file's absolute path (for example C(/var/backups/keeplocal/nginx/20260101T100000.000042Z-4242/etc/nginx/sites-available/app)),
    never next to the file, where an include such as Debian's C(include /etc/nginx/sites-enabled/*;) would load the copy
    as configuration; RV(backup_files) says which file went where, and the newest O(backup_keep) runs are kept. Then
    C(nginx -t) validates the whole configuration; when it fails, the previous files are put back and the task fails with
    the file and line nginx names. nginx is not reloaded.
  - B(What the app receives.) For every C(proxy_pass) that reaches a TCP pair, discovery compares what nginx sends now with
    what it would send over the socket. nginx sends the C(proxy_set_header) lines of the innermost level that has any (a
    level with one inherits none from the levels around it), and its default C(Host $proxy_host) where they set no Host;
    includes are followed. C($proxy_host) is the upstream's name for C(proxy_pass http://NAME), which a switch leaves
    alone (it edits the C(server) lines), and C(host:port) as written for C(proxy_pass http://127.0.0.1:8000), which
    becomes C(localhost) for C(http://unix:/path:), with C($proxy_port) empty.
  - A Host header, or any header built from C($proxy_host) or C($proxy_port), that would change makes the pair unsafe
    (codes C(host_header_changes), C(proxy_header_changes)). An app that checks Host, such as Django with
    C(ALLOWED_HOSTS), answers 400 from the moment nginx uses the socket. The reason names the C(proxy_pass) (file and
    line), both values, and the line that keeps the value, for example C(proxy_set_header Host 127.0.0.1:8000;), and where
    it goes; O(force) switches anyway.
  - The module does not add that line itself. In a block without C(proxy_set_header) it would stop the inheritance of
    every C(proxy_set_header) of the levels around it, and anywhere it would be the one edit that adds a line instead of
    changing an address, which a revert to byte-identical files would have to find and take out again.
  - gunicorn reports the connection's peer as C(REMOTE_ADDR), C(127.0.0.1) (the address nginx dials) over TCP and an
    empty string over a Unix socket, whatever nginx sends (uWSGI's C(--http-socket) C(0.0.0.0), uvicorn no client at
    all; behind C(uwsgi_pass) nginx passes the client's address itself and nothing changes). No nginx setting keeps it,
    so it is not a reason but a
    C(pairs[].warnings) entry, which names the headers that carry the client's address (C(X-Forwarded-For),
    C(X-Real-IP), C(Forwarded)) and stay the same, or the C(proxy_pass) lines that pass none.
  - Which process holds a socket is read from C(/proc/PID/fd), which for other users' processes needs root with
    C(CAP_SYS_PTRACE). Without it (a hardened host, a container started without C(--cap-add SYS_PTRACE)) the pair is
    unsafe with code C(owners_unreadable), and the reason names the missing capability (C(CapEff) in
    C(/proc/self/status), bit 19) or, when the task does not run as root, says to use become.
  - Nothing changes when the configuration is broken already (C(nginx -t) fails; the message names the file, the line and
    the fix), when nginx loads a backup copy (a name ending in C(~), as ansible's C(backup) options and editors leave them
    next to a file) from a directory it includes as a whole, when nginx does not proxy to O(address), or when O(address)
    is not C(host:port) with a port in 1-65535 on this host.
  - B(How the configuration is read.) The module runs once, on the host. C(nginx -T) names the files nginx loads (so
    includes and globs are resolved by nginx itself), and one reader parses them with nginx's own token rules, keeping
    the characters each argument came from. Discovery, the reasons and the rewrite all work on that one parse, and an
    edit replaces the characters of the changed argument only, so nothing has to match one reading of a file against
    another and every other byte stays as it was. Check mode takes the same decisions and stops before writing; a real
    run writes a file only when it still has the checksum read at the start. The host needs only Python's standard
    library and nginx, the controller nothing besides ansible-core.
author:
  - keeplocal.traffic contributors (@keeplocal)
requirements:
  - On the host, nginx (C(nginx -T) and C(nginx -t) run as the task's user; use become).
options:
  mode:
    description:
      - V(discover) only reads; V(switch) moves the backend to the Unix socket; V(revert) moves it back to TCP.
    type: str
    choices: [discover, switch, revert]
    default: discover
  address:
    description:
      - The backend's TCP address as C(host:port) (for example V(127.0.0.1:8000)). Every reference to
        that port on a loopback address, a C(localhost) name or an address of this host counts.
      - Required for O(mode=switch) and O(mode=revert); with O(mode=discover) it only narrows RV(pairs).
    type: str
  socket:
    description:
      - The Unix socket path. C({app}) is replaced with the name of the systemd service serving the
        backend, without C(.service), and C({server}) with the app server (C(gunicorn), C(uvicorn), C(uwsgi), C(puma)).
      - A path that still names C({app}) or C({server}) (no recognised server under systemd) is refused by O(mode=switch).
      - With O(mode=switch) it must be under C(/run) (emptied at every boot, so no stale socket outlives its service;
        C(/tmp) is hidden from services with C(PrivateTmp)), and its directory must exist when the files are written.
    type: str
    default: /run/{app}/{server}.sock
  replace_sockets:
    description:
      - Other Unix socket paths that count as the same backend (rewritten too), for example the
        temporary handover socket used during a cutover.
      - With O(mode=discover) and O(address), the pairs on these sockets are returned with the pair of O(address)
        (besides the sockets switched from O(address) by the C(keeplocal.traffic.unix_sockets) role), so a caller sees
        where a cutover it interrupted stands.
    type: list
    elements: str
    default: []
  server_parameters:
    description:
      - Parameters set on rewritten C(server) lines of C(upstream) blocks, for example V(fail_timeout=0).
        A parameter with the same name is replaced; others are appended after the address.
    type: list
    elements: str
    default: []
  drop_tcp:
    description:
      - Whether the TCP listener goes away after the switch. With V(true) a gunicorn listening on an
        address other hosts can reach is unsafe (they might be clients). Also used for C(pairs[].proposed).
    type: bool
    default: true
  umask:
    description:
      - The umask given to gunicorn in C(pairs[].proposed.exec_start) (V(0117) makes a socket gunicorn
        creates itself C(0660); gunicorn's default umask 0 makes it world-connectable). uvicorn and uWSGI take their
        socket from systemd, which sets its owner, group and mode.
    type: str
    default: '0117'
  force:
    description:
      - Switch even when the pair is reported unsafe.
    type: bool
    default: false
  conf:
    description: The main nginx configuration file.
    type: path
    default: /etc/nginx/nginx.conf
  nginx_binary:
    description: The nginx executable (a name looked up in PATH, or a path).
    type: str
    default: nginx
  validate:
    description: Run C(nginx -t) after editing and restore the previous files when it fails.
    type: bool
    default: true
  backup:
    description:
      - Keep a copy of every edited file under O(backup_dir) (see RV(backup_files)).
    type: bool
    default: true
  backup_dir:
    description:
      - Where the copies go, one directory per run named after its UTC time and process id, each copy at its file's
        absolute path below that. Refused when it is inside nginx's configuration directory (the directory of O(conf))
        or holds a file nginx loads.
    type: path
    default: /var/backups/keeplocal/nginx
  backup_keep:
    description:
      - How many runs' backups stay in O(backup_dir) (the oldest beyond that are removed after a run made its copies).
        At least 1.
    type: int
    default: 10
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode when in check mode).
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
seealso:
  - module: keeplocal.traffic.outbound_flows_info
  - name: gunicorn deployment (systemd socket activation)
    description: gunicorn's own nginx and systemd setup.
    link: https://docs.gunicorn.org/en/stable/deploy.html
"""

EXAMPLES = r"""
- name: Which nginx -> gunicorn pairs run on this host, and can they be switched?
  keeplocal.traffic.nginx_upstream:
    mode: discover
  become: true
  register: pairs

- name: Point nginx at gunicorn's Unix socket (nginx -t runs before the edit stays; reload afterwards)
  keeplocal.traffic.nginx_upstream:
    mode: switch
    address: 127.0.0.1:8000
    socket: /run/app/gunicorn.sock
    server_parameters: [fail_timeout=0]
  become: true
  register: switched

- name: Reload nginx when the configuration changed
  ansible.builtin.systemd_service:
    name: nginx
    state: reloaded
  become: true
  when: switched is changed

- name: Back to TCP
  keeplocal.traffic.nginx_upstream:
    mode: revert
    address: 127.0.0.1:8000
    socket: /run/app/gunicorn.sock
  become: true
"""

RETURN = r"""
pairs:
  description:
    - One entry per same-host backend nginx names, a TCP port (C(kind=tcp)) or a Unix socket (C(kind=unix)).
    - C(safe) is true when a TCP pair can be switched; C(reasons) lists what blocks it, each C({code, msg}) (codes
      C(no_listener), C(owners_unreadable) (the owners of sockets cannot be read, not root or root without
      C(CAP_SYS_PTRACE)), C(unknown_server) (served by something other than gunicorn, uvicorn, uWSGI or Puma; was
      C(not_gunicorn)), C(not_systemd), C(listener_shared), C(other_clients), C(reachable_remotely), C(non_http_use),
      C(https), C(protocol_mismatch), C(mentioned), C(host_header_changes) (the Host header the app gets would change),
      C(proxy_header_changes) (another header built from C($proxy_host) or C($proxy_port) would change),
      C(exec_start_unsupported), C(development_server), C(server_version), C(keep_tcp_unsupported),
      C(server_option_unsupported), C(config_file_binds), C(config_file_unsupported), C(handover_conflict),
      C(other_binds), C(runtime_directory), C(socket_path), C(socket_unit_exists)); see the description for the app
      server ones.
    - C(warnings) lists what changes with the switch without blocking it (C(REMOTE_ADDR), C(proxy_pass) targets built
      from variables, which cannot be followed).
    - C(references[].requests) (TCP pairs) lists each C(proxy_pass) that reaches the reference (an C(upstream) server
      line is reached through every C(proxy_pass http://NAME)), with its C(file), C(line), C(context), C(upstream),
      C(headers_from) (the first C(proxy_set_header) of the level whose headers apply, or null for nginx's defaults),
      C(tcp) and C(socket) (C(Host), every header built from C($proxy_host)/C($proxy_port), and C(REMOTE_ADDR) as the
      app gets them now and would over the socket), and C(client_address_headers).
    - C(proposed) (TCP pairs served by gunicorn, uvicorn, uWSGI or Puma under systemd) holds what the switch would write, the
      socket and handover socket paths, the socket unit, the drop-in path, the new C(exec_start) (listener replaced,
      for gunicorn umask set), the handover service's C(handover_exec_start) and C(unit_copy); C(server) (gunicorn,
      uvicorn, uwsgi, puma), C(protocol) (what the server speaks on the socket, C(http) or C(uwsgi)), C(probe) (how to see it
      answer, an HTTP request, or for C(uwsgi) a uwsgi-protocol request, which HTTP cannot make) and
      C(trust_forwarded) (C(--forwarded-allow-ips *) was added).
      C(handover_control_socket) is C(disabled) when the handover copy runs with C(--no-control-socket). gunicorn 25.1
      and later have a control socket (C(gunicornc)) whose path the copy would share with the service, remove when it
      starts and delete when it stops; older versions do not know the option, so it is null there.
      C(handover_runtime_directory) (Puma) names the C(RuntimeDirectory=) of the handover copy, where it gets its own
      pidfile, state file and control socket for those Puma's config file sets (C(server.config_shared)); null otherwise.
    - C(gunicorn.version) is the version of the gunicorn package the service's interpreter imports (read from its
      C(gunicorn/__init__.py), nothing is run), or null; C(gunicorn.control_socket) says whether it has the control
      socket (C(supported) true, false or null when unknown, C(why), and C(observed), the control sockets its master
      listens on).
    - C(gunicorn.keeplocal) is the C([X-Keeplocal]) section of a unit already switched by this collection.
    - C(server) is the same description for any app server (C(server.server) names it; C(gunicorn) is set for gunicorn
      only), with C(binds), C(bind_source), C(protocol), C(version) (uvicorn's, read from its package), uvicorn's
      C(workers), C(reload), C(proxy_headers), C(forwarded_allow_ips), uWSGI's C(listeners) (each with its C(source),
      the command line, a C(UWSGI_*) variable or an ini file and line) and C(configs), gunicorn's C(worker_class), Puma's
      C(config_file) and C(config_shared) (which of C(pidfile), C(state_path), C(activate_control_app) a line scan
      finds in it).
  returned: always
  type: list
  elements: dict
  sample:
    - kind: tcp
      address: 127.0.0.1:8000
      port: 8000
      socket: null
      references:
        - file: /etc/nginx/sites-enabled/app
          line: 3
          directive: server
          context: http > upstream app
          target: 127.0.0.1:8000
          upstream: app
          params: []
          uri: null
          requests:
            - {file: /etc/nginx/sites-enabled/app, line: 12, context: http > server > location /, upstream: app,
               headers_from: /etc/nginx/sites-enabled/app:10, tcp: {Host: $host, REMOTE_ADDR: 127.0.0.1},
               socket: {Host: $host, REMOTE_ADDR: ''}, client_address_headers: [X-Real-IP]}
      listeners: [127.0.0.1:8000]
      processes: [{pid: 301, process: gunicorn}, {pid: 302, process: gunicorn}]
      unit: app.service
      clients: [{process: nginx, connections: 2}]
      server: {server: gunicorn, unit: app.service, binds: [127.0.0.1:8000], protocol: http}
      gunicorn: {unit: app.service, binds: [127.0.0.1:8000], bind_source: command line, user: app, version: 25.1.0,
                 control_socket: {supported: true, why: gunicorn 25.1.0 has the control socket (since 25.1),
                                  observed: [/srv/app/gunicorn.ctl]}}
      safe: true
      reasons: []
      warnings:
        - "gunicorn sees REMOTE_ADDR 127.0.0.1 over TCP and an empty REMOTE_ADDR over the Unix socket (...): what reads it
          (...) gets an empty string after the switch; the client's address, which nginx passes in X-Real-IP, stays the same"
      proposed: {server: gunicorn, protocol: http, probe: http, trust_forwarded: false,
                 socket: /run/app/gunicorn.sock, handover_socket: /run/app/gunicorn.handover.sock,
                 socket_unit: app.socket, dropin_path: /etc/systemd/system/app.service.d/keeplocal-unix-socket.conf,
                 exec_start: /usr/bin/gunicorn --bind unix:/run/app/gunicorn.sock --umask 0117 --chdir /srv/app app:application,
                 handover_exec_start: /usr/bin/gunicorn --bind unix:/run/app/gunicorn.handover.sock --umask 0117
                   --no-control-socket --chdir /srv/app app:application,
                 handover_control_socket: disabled}
unsafe:
  description: The TCP pairs from RV(pairs) that are not safe to switch.
  returned: always
  type: list
  elements: dict
remote:
  description: Backends nginx proxies to on other hosts (not same-host pairs), with the reason.
  returned: always
  type: list
  elements: dict
  sample:
    - {target: 10.0.0.5:8000, file: /etc/nginx/conf.d/upstreams.conf, line: 4, context: http > upstream api,
       reason: "remote address: 10.0.0.5 is not this host"}
nginx:
  description: The configuration read (main file, the files nginx loads, the workers' C(user) directive).
  returned: always
  type: dict
  sample: {conf: /etc/nginx/nginx.conf, files: [/etc/nginx/nginx.conf, /etc/nginx/sites-enabled/app], user: [www-data]}
changes:
  description: The lines changed (O(mode=switch) and O(mode=revert)), before and after.
  returned: when changed
  type: list
  elements: dict
  sample:
    - {file: /etc/nginx/sites-enabled/app, line: 3, directive: server,
       before: "    server 127.0.0.1:8000;", after: "    server unix:/run/app/gunicorn.sock;"}
backup_files:
  description:
    - Edited file (symbolic links resolved) -> its copy as it was before this run. Copying each back restores exactly
      what this run replaced.
  returned: when changed and O(backup) is true, not in check mode
  type: dict
  sample: {/etc/nginx/sites-available/app: /var/backups/keeplocal/nginx/20260101T100000.000042Z-2345/etc/nginx/sites-available/app}
backup_run:
  description: This run's directory under O(backup_dir).
  returned: when changed and O(backup) is true, not in check mode
  type: str
  sample: /var/backups/keeplocal/nginx/20260101T100000.000042Z-2345
socket:
  description: The Unix socket path after C({app}) was resolved.
  returned: when O(mode) is switch or revert
  type: str
  sample: /run/app/gunicorn.sock
"""

import glob
import hashlib
import os
import pwd
import re
import shlex
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.keeplocal.traffic.plugins.module_utils import _app_servers
from ansible_collections.keeplocal.traffic.plugins.module_utils import _gunicorn
from ansible_collections.keeplocal.traffic.plugins.module_utils import _nginx_upstream as nu
from ansible_collections.keeplocal.traffic.plugins.module_utils._sockets import (
    parse_fib_trie,
    parse_if_inet6,
    parse_proc_net_tcp,
)

PROC = '/proc'
# The variables app servers read their settings from (besides UWSGI_* and UVICORN_*).
SERVER_ENVIRONMENT = ('GUNICORN_CMD_ARGS', 'PORT', 'WEB_CONCURRENCY', 'FORWARDED_ALLOW_IPS')
_CONF_HEADER = re.compile(r'^# configuration file (.+):$', re.M)


def read_bytes(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except OSError:
        return None


def read_text(path):
    data = read_bytes(path)
    return None if data is None else data.decode('utf-8', 'replace')


def nginx_command(module):
    binary = module.params['nginx_binary']
    found = binary if os.path.isabs(binary) else module.get_bin_path(binary, opt_dirs=['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin'])
    if not found or not os.path.exists(found):
        module.fail_json(msg='nginx_binary: %s not found on the host: is nginx installed?' % binary)
    return found


def read_nginx_files(module, nginx):
    rc, out, err = module.run_command([nginx, '-T', '-c', module.params['conf']])
    if rc != 0:
        module.fail_json(msg=nu.broken_config_message(err, module.params['backup_dir']), stderr=err)
    files, seen = [], set()
    for path in _CONF_HEADER.findall(out):
        if path in seen or not os.path.isfile(path):
            continue
        seen.add(path)
        data = read_bytes(path)
        if data is None:
            module.fail_json(msg='cannot read %s (nginx -T lists it): %s' % (path, 'run as root (become: true)' if os.geteuid() != 0 else (
                'the task runs as root, so a security module (AppArmor, SELinux) or a missing CAP_DAC_READ_SEARCH denies it')))
        try:
            content = data.decode('utf-8')
        except UnicodeDecodeError:
            module.fail_json(msg='%s is not UTF-8 text; it is left alone and nothing was changed' % path)
        files.append({'path': path, 'realpath': os.path.realpath(path), 'checksum': hashlib.sha256(data).hexdigest(), 'content': content})
    return files


def parse_proc_net_unix(text):
    """Listening Unix sockets with a path: [{'path', 'inode'}]."""
    found = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        flags, state, inode, path = fields[3], fields[5], fields[6], fields[7]
        try:
            listening = int(flags, 16) & 0x10000 and state == '01'
        except ValueError:
            continue
        if listening and path.startswith('/'):
            found.append({'path': path, 'inode': int(inode)})
    return found


def socket_owners(inodes, denied=None):
    """inode -> [pid, ...] for the given socket inodes (every process holding one).

    ``denied``: a list that gets the pids whose descriptors could not be read (another user's process
    without root, or root without CAP_SYS_PTRACE).
    """
    wanted = set(inodes)
    owners = {}
    try:
        pids = [name for name in os.listdir(PROC) if name.isdigit()]
    except OSError:
        return owners
    for pid in pids:
        fd_dir = os.path.join(PROC, pid, 'fd')
        try:
            fds = os.listdir(fd_dir)
        except PermissionError:
            if denied is not None:
                denied.append(int(pid))
            continue
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith('socket:['):
                inode = int(target[8:-1])
                if inode in wanted:
                    owners.setdefault(str(inode), [])
                    if int(pid) not in owners[str(inode)]:
                        owners[str(inode)].append(int(pid))
    return owners


def unit_of(cgroup_text):
    """The systemd service of a process, from /proc/PID/cgroup."""
    for line in (cgroup_text or '').splitlines():
        path = line.split(':', 2)[-1]
        for part in reversed(path.split('/')):
            if part.endswith('.service'):
                return part
    return None


def process_info(pid):
    base = os.path.join(PROC, str(pid))
    stat = read_text(os.path.join(base, 'stat')) or ''
    ppid = None
    if ')' in stat:
        fields = stat.rsplit(')', 1)[1].split()
        if len(fields) > 1 and fields[1].isdigit():
            ppid = int(fields[1])
    cmdline = (read_bytes(os.path.join(base, 'cmdline')) or b'').split(b'\0')
    cmdline = [to_native(arg, errors='surrogate_or_replace') for arg in cmdline if arg]
    environment = {}
    for item in (read_bytes(os.path.join(base, 'environ')) or b'').split(b'\0'):
        name, sep, value = to_native(item, errors='surrogate_or_replace').partition('=')
        if sep and (name in SERVER_ENVIRONMENT or name.startswith(('UWSGI_', 'UVICORN_'))):
            environment[name] = value
    try:
        cwd = os.readlink(os.path.join(base, 'cwd'))
    except OSError:
        cwd = None
    return {'pid': int(pid), 'ppid': ppid, 'comm': (read_text(os.path.join(base, 'comm')) or '').strip() or None,
            'cmdline': cmdline, 'unit': unit_of(read_text(os.path.join(base, 'cgroup'))), 'cwd': cwd,
            'environment': environment}


def systemctl(module, *args):
    binary = module.get_bin_path('systemctl')
    if binary is None:
        return None
    rc, out, dummy = module.run_command([binary] + list(args))
    return out if rc == 0 else None


def gunicorn_args(proc, unit_text):
    """The gunicorn arguments: from the unit's ExecStart, else from the process command line."""
    if unit_text:
        settings = _gunicorn.effective_settings(unit_text)
        if settings['exec_start']:
            try:
                dummy, words = _gunicorn.split_exec_start(settings['exec_start'])
            except ValueError:
                words = []
            start = _gunicorn.gunicorn_start(words)
            if start is not None:
                return [word['value'] for word in words[start:]]
    args = proc['cmdline']
    for index, arg in enumerate(args[:3]):
        if os.path.basename(arg).startswith('gunicorn'):
            return args[index + 1:]
        if arg == '-m' and index + 1 < len(args) and args[index + 1] == 'gunicorn':
            return args[index + 2:]
    return []


SEARCH_PATH = ('/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin')


def _executable(name):
    """An ExecStart executable as systemd finds it (absolute, or searched in its fixed PATH)."""
    if os.path.isabs(name):
        return name
    for directory in SEARCH_PATH:
        if os.path.isfile(os.path.join(directory, name)):
            return os.path.join(directory, name)
    return None


def package_version(proc, unit_text, package='gunicorn'):
    """The version of the app server package (gunicorn, uvicorn) a service runs, read from the
    PACKAGE/__init__.py its interpreter imports (found from ExecStart: the script's #! line, or python -m
    PACKAGE's python; else the process's interpreter): {'version', 'path'}, or None when not found.
    Nothing is executed."""
    pythons, words, user = [], [], None
    if unit_text:
        settings = _gunicorn.effective_settings(unit_text)
        user = settings['user']
        try:
            words = _gunicorn.split_exec_start(settings['exec_start'] or '')[1]
        except ValueError:
            words = []
    server, start = _app_servers.command_server(words)
    if server == package and start == 3:
        pythons.append(_executable(words[0]['value']))
    elif server == package and start == 1:
        script = _executable(words[0]['value'])
        head = b''
        if script:
            try:
                with open(script, 'rb') as handle:
                    head = handle.read(512)
            except OSError:
                pass
        pythons.append(_gunicorn.shebang_interpreter(to_native(head, errors='surrogate_or_replace')))
    cmdline = proc.get('cmdline') or []
    if cmdline and os.path.isabs(cmdline[0]) and os.path.basename(cmdline[0]).startswith('python'):
        pythons.append(cmdline[0])
    home = None
    if user:
        try:
            home = pwd.getpwnam(user).pw_dir
        except KeyError:
            home = None
    parse = _gunicorn.parse_version_info if package == 'gunicorn' else _app_servers.parse_version
    for python in [python for python in pythons if python] or [None]:
        for pattern in _gunicorn.gunicorn_package_globs(python, home):
            for path in sorted(glob.glob(pattern.replace('/gunicorn/', '/%s/' % package))):
                version = parse(read_text(path))
                if version:
                    return {'version': version, 'path': path}
    return None


def gunicorn_version(proc, unit_text):
    """The version of the gunicorn a service runs (package_version)."""
    return package_version(proc, unit_text, 'gunicorn')


def puma_config_paths(proc, unit_text):
    """The config files Puma reads (-C, else config/puma/<env>.rb and config/puma.rb in its working directory)."""
    settings = _gunicorn.effective_settings(unit_text) if unit_text else None
    args = _app_servers.server_args((settings or {}).get('exec_start') or '', 'puma') or []
    return _app_servers.puma_settings(args, proc.get('environment') or {}, proc.get('cwd'))['config_candidates']


def uwsgi_config_paths(proc, unit_text):
    """The uWSGI ini files a service reads (--ini, a bare ``app.ini`` argument, UWSGI_INI), absolute."""
    args = []
    if unit_text:
        settings = _gunicorn.effective_settings(unit_text)
        args = _app_servers.server_args(settings['exec_start'] or '', 'uwsgi') or []
    if not args:
        cmdline = proc.get('cmdline') or []
        args = cmdline[1:]
    paths = []
    values = [span['value'] for span in _app_servers.uwsgi_options(args) if span['option'] == 'ini' and span['value']]
    if (proc.get('environment') or {}).get('UWSGI_INI'):
        values.append(proc['environment']['UWSGI_INI'])
    for value in values:
        path = _app_servers.ini_reference(value, proc.get('cwd'))[0]
        if path not in paths:
            paths.append(path)
    return paths


def read_tcp():
    tcp = parse_proc_net_tcp(read_text(os.path.join(PROC, 'net/tcp')) or '')
    tcp += parse_proc_net_tcp(read_text(os.path.join(PROC, 'net/tcp6')) or '')
    return [sock for sock in tcp if sock['state'] != 'TIME_WAIT']


def host_facts(module):
    addresses = parse_fib_trie(read_text(os.path.join(PROC, 'net/fib_trie')) or '')
    addresses += parse_if_inet6(read_text(os.path.join(PROC, 'net/if_inet6')) or '')
    tcp = read_tcp()
    unix = parse_proc_net_unix(read_text(os.path.join(PROC, 'net/unix')) or '')
    denied = []
    owners = socket_owners([sock['inode'] for sock in tcp if sock['inode']] + [sock['inode'] for sock in unix], denied)
    # Under load, short connections (nginx opens one per request) close between reading the table
    # and walking /proc/PID/fd: a socket without an owner that is gone (or closed, inode 0) when the
    # table is read again was one of those, not a client nobody can name.
    still_open = set(sock['inode'] for sock in read_tcp() if sock['inode'])
    tcp = [sock for sock in tcp if str(sock['inode']) in owners or sock['inode'] in still_open]
    listening_pids = set()
    for sock in tcp:
        if sock['state'] == 'LISTEN':
            listening_pids.update(owners.get(str(sock['inode']), []))
    for sock in unix:
        listening_pids.update(owners.get(str(sock['inode']), []))
    client_pids = set()
    for pids in owners.values():
        client_pids.update(pids)
    processes = {}
    for pid in sorted(client_pids):
        info = process_info(pid)
        if pid not in listening_pids:
            # Only the name matters for clients.
            info = {'pid': info['pid'], 'ppid': info['ppid'], 'comm': info['comm'], 'cmdline': [], 'unit': info['unit'],
                    'cwd': None, 'environment': {}}
        processes[str(pid)] = info
    units, config_files = {}, {}
    for info in processes.values():
        unit = info.get('unit')
        server = _app_servers.process_server(info['comm'], info['cmdline'])
        if not unit or info['pid'] not in listening_pids or not server:
            continue
        if unit not in units:
            app = unit[:-len('.service')]
            units[unit] = {'cat': systemctl(module, 'cat', '--', unit), 'socket_cat': systemctl(module, 'cat', '--', app + '.socket')}
            if server == 'gunicorn':
                units[unit]['gunicorn_version'] = gunicorn_version(info, units[unit]['cat'])
            elif server == 'uvicorn':
                units[unit]['server_version'] = package_version(info, units[unit]['cat'], 'uvicorn')
        if server == 'gunicorn':
            args = gunicorn_args(info, units[unit]['cat'])
            env_args = shlex.split(info['environment'].get('GUNICORN_CMD_ARGS', ''))
            paths = [_gunicorn.config_file_path(args, env_args, info['cwd'])]
            info['config_file'] = paths[0]
        elif server == 'uwsgi':
            paths = uwsgi_config_paths(info, units[unit]['cat'])
        elif server == 'puma':
            # Only whether they exist matters (a bind there is reported when ExecStart gives none).
            paths = puma_config_paths(info, units[unit]['cat'])
        else:
            paths = []
        for path in paths:
            if path and path not in config_files and os.path.isfile(path):
                config_files[path] = read_text(path)
    return {'addresses': addresses, 'tcp': tcp, 'unix': unix, 'owners': owners, 'processes': processes,
            'units': units, 'config_files': config_files, 'fd_denied': len(denied),
            'privileges': nu.parse_privileges(os.geteuid(), read_text(os.path.join(PROC, 'self/status')))}


def write_file(module, path, content):
    """Write ``content`` to ``path`` atomically, keeping its owner, group and mode."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix='.keeplocal-', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(content)
        module.atomic_move(tmp, path, unsafe_writes=False)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def backup(module, edits, originals, changes):
    """Copy the files about to change into a new run directory under backup_dir, each at its own
    absolute path below it (nothing nginx includes), then remove the runs beyond backup_keep.

    Returns (run directory, {file: its backup}).
    """
    root = module.params['backup_dir']
    run = os.path.join(root, nu.run_id(time.time(), os.getpid()))
    backups = {}
    try:
        os.makedirs(root, exist_ok=True)
        os.mkdir(run, 0o700)
        for edit in edits:
            path = nu.backup_path(run, edit['realpath'])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'wb') as handle:
                handle.write(originals[edit['realpath']])
            shutil.copystat(edit['realpath'], path)
            backups[edit['realpath']] = path
    except OSError as exc:
        module.fail_json(msg='backup_dir: cannot keep the backups in %s, nothing was changed: %s' % (root, to_native(exc)),
                         backup_files=backups, changes=changes)
    for name in nu.expired_runs(os.listdir(root), module.params['backup_keep']):
        try:
            shutil.rmtree(os.path.join(root, name))
        except OSError as exc:
            module.warn('could not remove the old backups %s: %s' % (os.path.join(root, name), to_native(exc)))
    return run, backups


def apply_edits(module, nginx, edits, planned):
    """Write the planned files (each only if it still has the checksum read), backed up first, then nginx -t;
    the previous files come back when it fails. ``planned``: nu.plan's result (the socket, the changes).
    Returns what the result gets: backup_files, backup_run, nginx_test."""
    changes = planned['changes']
    if module.params['mode'] == 'switch':
        directory = os.path.dirname(planned['socket'])
        if not os.path.isdir(directory):
            module.fail_json(msg='socket: the directory %s of %s does not exist, nothing was changed: start the service that '
                             'listens there first (its socket unit or RuntimeDirectory creates it), or give the socket it listens '
                             'on' % (directory, planned['socket']), changes=changes)
    originals = {}
    for edit in edits:
        data = read_bytes(edit['realpath'])
        if data is None:
            module.fail_json(msg='cannot read %s' % edit['realpath'], changes=changes)
        if hashlib.sha256(data).hexdigest() != edit['checksum']:
            module.fail_json(msg='%s changed since it was read; nothing was changed, run the task again' % edit['path'], changes=changes)
        originals[edit['realpath']] = data
    run, backups = backup(module, edits, originals, changes) if module.params['backup'] else (None, {})
    written = []
    try:
        for edit in edits:
            write_file(module, edit['realpath'], to_bytes(edit['content']))
            written.append(edit['realpath'])
    except Exception as exc:  # restore whatever was written, then report
        for path in written:
            write_file(module, path, originals[path])
        module.fail_json(msg='writing %s failed, the previous files were restored: %s' % (edit['realpath'], to_native(exc)),
                         backup_files=backups, backup_run=run, changes=changes)
    test = None
    if module.params['validate']:
        rc, out, err = module.run_command([nginx, '-t', '-c', module.params['conf']])
        test = (out + err).strip()
        if rc != 0:
            for path in written:
                write_file(module, path, originals[path])
            rc2, dummy, err2 = module.run_command([nginx, '-t', '-c', module.params['conf']])
            restored = 'the previous files were restored' + (
                '' if rc2 == 0 else ' (and nginx -t still fails: %s)' % nu.describe_nginx_error(err2))
            module.fail_json(msg='nginx -t rejected the edited configuration, %s: %s' % (restored, nu.describe_nginx_error(err)),
                             stderr=err, backup_files=backups, backup_run=run, nginx_test=test, changes=changes)
    return {'backup_files': backups, 'backup_run': run, 'nginx_test': test}


def main():
    module = AnsibleModule(argument_spec=nu.ARGUMENT_SPEC, supports_check_mode=True)
    problem = nu.argument_problem(module.params)
    if problem:
        module.fail_json(msg=problem)
    nginx = nginx_command(module)
    files = read_nginx_files(module, nginx)
    try:
        result, edits = nu.plan(module.params, files, host_facts(module))
    except nu.Refused as exc:
        module.fail_json(msg=str(exc))
    if edits and not module.check_mode:
        result.update(apply_edits(module, nginx, edits, result))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
