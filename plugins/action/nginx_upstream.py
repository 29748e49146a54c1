# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of keeplocal.traffic.nginx_upstream: parse nginx's configuration on the controller.

The module runs twice on the host: first it returns the files nginx loads (from ``nginx -T``) and
the host's sockets, processes and units; the files are parsed here with crossplane, the pure code
in module_utils/_nginx_upstream.py finds the pairs and computes the new file texts; then the
module writes them (checksums guard against concurrent edits), runs ``nginx -t`` and restores the
previous files when it fails. Check mode stops before the second run and returns the diff.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.keeplocal.traffic.plugins.module_utils import _nginx_upstream as nu

try:
    import crossplane
except ImportError as exc:  # the error is reported when the plugin runs
    crossplane = None
    CROSSPLANE_IMPORT_ERROR = exc
else:
    CROSSPLANE_IMPORT_ERROR = None

MODULE = 'keeplocal.traffic.nginx_upstream'
HOST_OPTIONS = ('conf', 'nginx_binary', 'validate', 'backup', 'backup_dir', 'backup_keep')


def parse_one(text, path):
    """crossplane's parse of one file's text (includes are linked by nu.build_payload)."""
    if crossplane is None:
        raise AnsibleActionFail('nginx_upstream parses nginx configuration on the controller with crossplane: '
                                'install nginx-crossplane (pip install nginx-crossplane): %s' % CROSSPLANE_IMPORT_ERROR)
    parsed = crossplane.parse_string(text, filename=path, single=True, comments=False,
                                     check_ctx=False, check_args=False, catch_errors=True)
    return parsed['config'][0], parsed.get('errors') or []


def parse_files(files, conf):
    """The crossplane payload of the files nginx loads (see nu.build_payload)."""
    try:
        return nu.build_payload(files, conf, parse_one)
    except ValueError as exc:
        raise AnsibleActionFail(str(exc))


def _pairs_for(pairs, port, address, sockets):
    """The pairs of one TCP address: on the port still, or on a socket given for it or switched from it."""
    selected = []
    for pair in pairs:
        if pair['kind'] == 'tcp' and pair['port'] == port:
            selected.append(pair)
        elif pair['kind'] == 'unix' and (pair['socket'] in sockets
                                         or ((pair.get('server') or {}).get('keeplocal') or {}).get('Address') == address):
            selected.append(pair)
    return selected


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super().run(tmp, task_vars)
        del tmp
        dummy, args = self.validate_argument_spec(argument_spec=nu.ARGUMENT_SPEC)
        try:
            result.update(self._run(args, task_vars))
        except AnsibleActionFail as exc:
            result.update(failed=True, msg=to_native(exc.message))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _module(self, args, task_vars, **extra):
        module_args = dict((name, args[name]) for name in HOST_OPTIONS)
        module_args.update(extra)
        return self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)

    def _run(self, args, task_vars):
        mode = args['mode']
        host_part, port, address = None, None, args['address']
        if address:
            try:
                host_part, port = nu.parse_address(address)
            except ValueError as exc:
                raise AnsibleActionFail(str(exc))
        elif mode != 'discover':
            raise AnsibleActionFail('address is required with mode=%s (the TCP address nginx uses now, such as 127.0.0.1:8000)' % mode)
        for field, path in [('socket', args['socket'])] + [('replace_sockets', path) for path in args['replace_sockets']]:
            if not path.startswith('/'):
                raise AnsibleActionFail('%s: %r is not an absolute path (for example /run/app/gunicorn.sock)' % (field, path))
        if args['backup_keep'] < 1:
            raise AnsibleActionFail('backup_keep: %d keeps no backup; give 1 or more (a rollback restores the files from the '
                                    'newest run)' % args['backup_keep'])

        collected = self._module(args, task_vars)
        if collected.get('failed'):
            return collected
        files, host = collected['files'], collected['host']
        leftover = nu.leftover_problem(files, args['backup_dir'])
        if leftover:
            raise AnsibleActionFail(leftover)
        payload = parse_files(files, args['conf'])
        if payload['errors']:
            raise AnsibleActionFail('crossplane could not parse the configuration: %s' % '; '.join(
                '%s:%s: %s' % (error.get('file'), error.get('line'), error.get('error')) for error in payload['errors']))
        addresses = host.get('addresses', [])
        if address and not nu.is_local_host(host_part, addresses):
            raise AnsibleActionFail('address: %s is not an address of this host (its addresses: %s, or loopback): nginx_upstream '
                                    'moves same-host backends only' % (address, ', '.join(addresses) or 'none found'))
        analysis = nu.analyze(payload, addresses)
        built = nu.build_pairs(analysis, host, args['socket'], args['drop_tcp'], args['umask'])
        pairs = built['pairs'] if port is None else _pairs_for(built['pairs'], port, address, args['replace_sockets'])
        out = {
            'changed': False,
            'pairs': pairs,
            'unsafe': [pair for pair in pairs if pair['kind'] == 'tcp' and not pair['safe']],
            'remote': built['remote'],
            'nginx': {'conf': args['conf'], 'files': [item['path'] for item in files], 'user': analysis['user']},
        }
        if mode == 'discover':
            return out

        tcp_pair = next((pair for pair in pairs if pair['kind'] == 'tcp'), None)
        switched = next((pair for pair in pairs if pair['kind'] == 'unix'), None)
        socket = args['socket']
        if nu.has_placeholder(socket):
            if tcp_pair and tcp_pair.get('proposed'):
                socket = tcp_pair['proposed']['socket']
            elif switched is not None:
                socket = switched['socket']
            elif tcp_pair and tcp_pair.get('unit'):
                socket = socket.replace('{app}', tcp_pair['unit'].rsplit('.service', 1)[0])
        sockets = args['replace_sockets'] + ([] if nu.has_placeholder(socket) else [socket])
        if not nu.sites_naming(analysis, port, sockets, addresses):
            raise AnsibleActionFail(nu.not_proxied_message(address, port, sockets, analysis, addresses, files))
        if nu.has_placeholder(socket):
            reasons = '; '.join(reason['msg'] for reason in (tcp_pair or {}).get('reasons') or [])
            raise AnsibleActionFail('socket %s has a placeholder, but no app server (gunicorn, uvicorn, uWSGI) under systemd serves %s%s: '
                                    'give the socket path' % (socket, address, ' (%s)' % reasons if reasons else ''))
        if mode == 'switch' and nu.socket_path_problem(socket):
            raise AnsibleActionFail('socket: %s' % nu.socket_path_problem(socket))
        if args['backup']:
            problem = nu.backup_dir_problem(args['backup_dir'], args['conf'], files)
            if problem:
                raise AnsibleActionFail(problem)
        out['socket'] = socket
        texts = dict((item['path'], item['content']) for item in files)
        try:
            if mode == 'switch':
                if tcp_pair is not None and not tcp_pair['safe'] and not args['force']:
                    raise AnsibleActionFail('%s cannot safely be switched to a Unix socket: %s (force=true switches anyway)' % (
                        address, '; '.join(reason['msg'] for reason in tcp_pair['reasons']) or 'no app server found'))
                edit = nu.rewrite(payload, texts, match_port=port, match_sockets=args['replace_sockets'], to='unix:' + socket,
                                  local_addresses=addresses, server_parameters=args['server_parameters'])
            else:
                edit = nu.rewrite(payload, texts, match_sockets=[socket] + args['replace_sockets'], to=address,
                                  local_addresses=addresses)
        except nu.NginxEditError as exc:
            raise AnsibleActionFail('cannot edit the configuration: %s' % exc)
        if not edit['texts']:
            return out
        out['changed'] = True
        out['changes'] = edit['changes']
        out['diff'] = [{'before_header': path, 'after_header': path, 'before': texts[path], 'after': new}
                       for path, new in sorted(edit['texts'].items())]
        if self._task.check_mode:
            return out
        edits, seen = [], set()
        for item in files:
            if item['path'] in edit['texts'] and item['realpath'] not in seen:
                seen.add(item['realpath'])
                edits.append({'path': item['path'], 'realpath': item['realpath'], 'checksum': item['checksum'],
                              'content': edit['texts'][item['path']]})
        applied = self._module(args, task_vars, edits=edits, mode=mode, socket=socket)
        if applied.get('failed'):
            applied['changes'] = edit['changes']
            return applied
        out['backup_files'] = applied.get('backup_files', {})
        out['backup_run'] = applied.get('backup_run')
        out['nginx_test'] = applied.get('nginx_test')
        return out
