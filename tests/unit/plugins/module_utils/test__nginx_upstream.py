# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx side of the Unix socket switch: real-world configuration shapes read with _nginx_conf (as the
module does), then rewritten. Every test checks the whole file byte for byte: the intended lines change and
nothing else does.

fixtures/nginx_upstream/ holds Debian's stock nginx.conf, mime.types and proxy_params as shipped by
bookworm's nginx-common 1.22.1-9+deb12u9 (copied from the lab image), its sites-available/default
as "default" (1.22.1-9+deb12u11; the real-world cases in test_nginx_upstream_corpus.py are laid
over these), and "shop", a site in the wild's style.
"""

from __future__ import annotations

import os

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _nginx_conf as nc
from ansible_collections.keeplocal.traffic.plugins.module_utils import _nginx_upstream as nu

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'nginx_upstream')
SOCK = 'unix:/run/app/gunicorn.sock'


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def debian(sites, conf_d=None, snippets=None):
    """The files nginx -T lists on Debian with these sites (path -> text), main file first."""
    files = {'/etc/nginx/nginx.conf': fixture('nginx.conf'), '/etc/nginx/mime.types': fixture('mime.types')}
    for name, text in sorted((conf_d or {}).items()):
        files['/etc/nginx/conf.d/' + name] = text
    for name, text in sorted(sites.items()):
        files['/etc/nginx/sites-enabled/' + name] = text
    for name, text in sorted((snippets or {}).items()):
        files['/etc/nginx/' + name] = text
    return files


def payload_of(files, conf='/etc/nginx/nginx.conf'):
    """The configuration as the module reads it from nginx -T's files."""
    return nc.read_config([{'path': path, 'content': text} for path, text in files.items()], conf)


def switch(files, port=8000, to=SOCK, **kwargs):
    return nu.rewrite(payload_of(files), match_port=port, to=to, **kwargs)


def assert_only(old, new, expected):
    """``new`` equals ``old`` except the lines (1-based) in ``expected``, which read as given."""
    old_lines, new_lines = old.splitlines(True), new.splitlines(True)
    assert len(old_lines) == len(new_lines)
    for number, (before, after) in enumerate(zip(old_lines, new_lines), 1):
        if number in expected:
            assert after.rstrip('\n') == expected[number], 'line %d' % number
            assert before != after, 'line %d was expected to change' % number
        else:
            assert after == before, 'line %d changed: %r -> %r' % (number, before, after)


# ---------------------------------------------------------------------------------------------
# Shapes

LAB_SITE = """\
# The lab's site: nginx in front of gunicorn over TCP loopback.
upstream app {
    server 127.0.0.1:8000;
}

server {
    listen 80 default_server;
    server_name app.example.test;
    access_log /var/log/nginx/access.log;

    location / {
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_pass http://app;
    }
}
"""


def test_lab_upstream_block_only_the_server_line_changes():
    files = debian({'app': LAB_SITE})
    result = switch(files)
    assert list(result['texts']) == ['/etc/nginx/sites-enabled/app']
    assert_only(LAB_SITE, result['texts']['/etc/nginx/sites-enabled/app'], {3: '    server unix:/run/app/gunicorn.sock;'})
    assert result['changes'] == [{'file': '/etc/nginx/sites-enabled/app', 'line': 3, 'directive': 'server',
                                  'before': '    server 127.0.0.1:8000;', 'after': '    server unix:/run/app/gunicorn.sock;'}]


def test_switch_then_revert_gives_the_original_bytes():
    files = debian({'app': LAB_SITE})
    switched = dict(files, **switch(files)['texts'])
    back = nu.rewrite(payload_of(switched), match_sockets=['/run/app/gunicorn.sock'], to='127.0.0.1:8000')
    assert back['texts']['/etc/nginx/sites-enabled/app'] == LAB_SITE


# A site as found in the wild: tabs, an upstream with several servers and parameters, a comment.
UPSTREAM_SEVERAL = fixture('shop')


def test_upstream_with_several_servers_and_parameters():
    files = debian({'shop': UPSTREAM_SEVERAL}, snippets={'proxy_params': fixture('proxy_params')})
    result = switch(files)
    assert_only(UPSTREAM_SEVERAL, result['texts']['/etc/nginx/sites-enabled/shop'],
                {3: '    server unix:/run/app/gunicorn.sock weight=5 max_fails=3 fail_timeout=30s;'})


def test_backup_and_local_hostnames_and_own_address():
    site = """\
upstream app_servers {
    server localhost:8000 backup;
    server 192.168.1.20:8000;
    server [::1]:8000 max_fails=0;
}
server { location / { proxy_pass http://app_servers; } }
"""
    files = debian({'app': site})
    result = switch(files, local_addresses=['192.168.1.20'])
    assert_only(site, result['texts']['/etc/nginx/sites-enabled/app'], {
        2: '    server unix:/run/app/gunicorn.sock backup;',
        3: '    server unix:/run/app/gunicorn.sock;',
        4: '    server unix:/run/app/gunicorn.sock max_fails=0;',
    })
    # Without knowing 192.168.1.20 is this host, it is another host and stays.
    result = switch(files)
    assert result['texts']['/etc/nginx/sites-enabled/app'].splitlines()[2] == '    server 192.168.1.20:8000;'


DIRECT = """\
server {
    listen 80;
    server_name example.com www.example.com;

    location = /favicon.ico { access_log off; log_not_found off; }
    location /static/ {
        root /srv/app;
    }

    location / {
        include proxy_params;
        proxy_pass http://127.0.0.1:8000;
    }

    location /api/ {
        # proxy_pass http://127.0.0.1:8000/api/;   (before the v1 move)
        proxy_pass http://localhost:8000/v1/;
    }
}
"""


def test_direct_proxy_pass_with_and_without_uri_comments_untouched():
    files = debian({'example': DIRECT}, snippets={'proxy_params': fixture('proxy_params')})
    result = switch(files)
    assert_only(DIRECT, result['texts']['/etc/nginx/sites-enabled/example'], {
        12: '        proxy_pass http://unix:/run/app/gunicorn.sock;',
        17: '        proxy_pass http://unix:/run/app/gunicorn.sock:/v1/;',
    })


def test_proxy_pass_path_form_from_the_brief():
    site = "server {\n    location /app/ { proxy_pass http://127.0.0.1:8000/path/; }\n}\n"
    result = switch(debian({'s': site}))
    assert result['texts']['/etc/nginx/sites-enabled/s'] == (
        "server {\n    location /app/ { proxy_pass http://unix:/run/app/gunicorn.sock:/path/; }\n}\n")


def test_includes_upstream_in_conf_d_snippet_inside_location():
    upstreams = "# Upstreams shared by the sites\nupstream django {\n\tserver 127.0.0.1:8000 fail_timeout=0;\n}\n"
    snippet = "# proxy to the app\nproxy_set_header X-Forwarded-Proto $scheme;\nproxy_pass http://django;\n"
    direct_snippet = "proxy_pass http://127.0.0.1:8000;  # direct\n"
    site_a = "server {\n\tserver_name a.example;\n\tlocation / {\n\t\tinclude snippets/django.conf;\n\t}\n}\n"
    site_b = "server {\n\tserver_name b.example;\n\tlocation / {\n\t\tinclude snippets/direct.conf;\n\t}\n}\n"
    files = debian({'a': site_a, 'b': site_b}, conf_d={'upstreams.conf': upstreams},
                   snippets={'snippets/django.conf': snippet, 'snippets/direct.conf': direct_snippet})
    result = switch(files)
    assert sorted(result['texts']) == ['/etc/nginx/conf.d/upstreams.conf', '/etc/nginx/snippets/direct.conf']
    assert_only(upstreams, result['texts']['/etc/nginx/conf.d/upstreams.conf'],
                {3: '\tserver unix:/run/app/gunicorn.sock fail_timeout=0;'})
    assert result['texts']['/etc/nginx/snippets/direct.conf'] == 'proxy_pass http://unix:/run/app/gunicorn.sock;  # direct\n'


def test_file_included_twice_is_edited_once():
    snippet = "proxy_pass http://127.0.0.1:8000;\n"
    site = "server {\n  location /a { include snippets/p.conf; }\n  location /b { include snippets/p.conf; }\n}\n"
    result = switch(debian({'s': site}, snippets={'snippets/p.conf': snippet}))
    assert result['texts'] == {'/etc/nginx/snippets/p.conf': 'proxy_pass http://unix:/run/app/gunicorn.sock;\n'}
    assert len(result['changes']) == 1


def test_multiple_servers_and_locations_other_ports_stay():
    site = """\
server {
    listen 80;
    server_name one.example;
    location / { proxy_pass http://127.0.0.1:8000; }
    location /admin/ { proxy_pass http://127.0.0.1:8000/admin/; }
    location /other/ { proxy_pass http://127.0.0.1:9000; }
}

server {
    listen 80;
    server_name two.example;
    location / { proxy_pass http://127.0.0.1:8000; }
    location /remote/ { proxy_pass http://10.1.2.3:8000; }
}
"""
    result = switch(debian({'multi': site}))
    assert_only(site, result['texts']['/etc/nginx/sites-enabled/multi'], {
        4: '    location / { proxy_pass http://unix:/run/app/gunicorn.sock; }',
        5: '    location /admin/ { proxy_pass http://unix:/run/app/gunicorn.sock:/admin/; }',
        12: '    location / { proxy_pass http://unix:/run/app/gunicorn.sock; }',
    })


def test_directive_spanning_lines_and_quoted_argument():
    site = 'server {\n    location / {\n        proxy_pass\n            "http://127.0.0.1:8000/";\n    }\n}\n'
    result = switch(debian({'q': site}))
    assert_only(site, result['texts']['/etc/nginx/sites-enabled/q'],
                {4: '            "http://unix:/run/app/gunicorn.sock:/";'})
    assert result['changes'][0]['line'] == 4


def test_two_directives_on_one_line():
    site = "upstream a { server 127.0.0.1:8000; } upstream b { server 127.0.0.1:8000 backup; server 127.0.0.1:8001; }\n"
    result = switch(debian({'one': site}))
    assert result['texts']['/etc/nginx/sites-enabled/one'] == (
        "upstream a { server unix:/run/app/gunicorn.sock; } upstream b { server unix:/run/app/gunicorn.sock backup; server 127.0.0.1:8001; }\n")


@pytest.mark.parametrize('line, parameters, expected', [
    ('    server 127.0.0.1:8000;', ['fail_timeout=0'], '    server unix:/run/app/gunicorn.sock fail_timeout=0;'),
    ('    server 127.0.0.1:8000 max_fails=3 fail_timeout=30s;', ['fail_timeout=0'],
     '    server unix:/run/app/gunicorn.sock max_fails=3 fail_timeout=0;'),
    ('    server 127.0.0.1:8000 fail_timeout=0;', ['fail_timeout=0'], '    server unix:/run/app/gunicorn.sock fail_timeout=0;'),
])
def test_server_parameters(line, parameters, expected):
    site = 'upstream app {\n%s\n}\nserver { location / { proxy_pass http://app; } }\n' % line
    result = switch(debian({'p': site}), server_parameters=parameters)
    assert_only(site, result['texts']['/etc/nginx/sites-enabled/p'], {2: expected})


def test_handover_socket_to_final_socket():
    site = LAB_SITE.replace('127.0.0.1:8000', 'unix:/run/app/gunicorn.handover.sock')
    files = debian({'app': site})
    result = nu.rewrite(payload_of(files), match_port=8000, match_sockets=['/run/app/gunicorn.handover.sock'], to=SOCK)
    assert_only(site, result['texts']['/etc/nginx/sites-enabled/app'], {3: '    server unix:/run/app/gunicorn.sock;'})


def test_nothing_to_do_when_already_switched():
    site = LAB_SITE.replace('127.0.0.1:8000', SOCK)
    assert switch(debian({'app': site})) == {'texts': {}, 'changes': []}


# ---------------------------------------------------------------------------------------------
# URLs (the configuration's syntax: test__nginx_conf.py)


@pytest.mark.parametrize('url, target, uri', [
    ('http://127.0.0.1:8000', {'type': 'tcp', 'host': '127.0.0.1', 'port': 8000}, None),
    ('http://127.0.0.1:8000/path/', {'type': 'tcp', 'host': '127.0.0.1', 'port': 8000}, '/path/'),
    ('http://[::1]:8000/', {'type': 'tcp', 'host': '::1', 'port': 8000}, '/'),
    ('http://unix:/run/app/gunicorn.sock:/path/', {'type': 'unix', 'path': '/run/app/gunicorn.sock'}, '/path/'),
    ('http://unix:/run/app/gunicorn.sock', {'type': 'unix', 'path': '/run/app/gunicorn.sock'}, None),
    ('http://app', {'type': 'name', 'host': 'app', 'port': 80}, None),
    ('https://backend/x', {'type': 'name', 'host': 'backend', 'port': 443}, '/x'),
    ('http://$backend', {'type': 'variable', 'text': '$backend'}, None),
])
def test_parse_proxy_url(url, target, uri):
    parsed = nu.parse_proxy_url(url)
    assert parsed['target'] == target
    assert parsed['uri'] == uri


# ---------------------------------------------------------------------------------------------
# Safety of the nginx side


def backends(files, local_addresses=()):
    return nu.group_backends(nu.analyze(payload_of(files), local_addresses), local_addresses)


def codes(backend):
    return sorted(set(code for code, dummy in nu.nginx_problems(backend)))


def test_plain_pair_has_no_nginx_problem():
    found = backends(debian({'app': LAB_SITE}))
    assert list(found) == [('tcp', 8000)]
    assert codes(found[('tcp', 8000)]) == []


@pytest.mark.parametrize('extra, expected', [
    ('location /php { fastcgi_pass 127.0.0.1:8000; }', ['non_http_use']),
    ('location /g { grpc_pass grpc://app; }', ['non_http_use']),
    ('proxy_redirect http://127.0.0.1:8000/ /;', ['mentioned']),
    ('location /s { proxy_pass https://127.0.0.1:8000; }', ['https']),
    ('location /x { proxy_pass http://127.0.0.1:9000; }', []),
])
def test_nginx_problems(extra, expected):
    site = LAB_SITE.replace('    location / {', '    %s\n    location / {' % extra)
    assert codes(backends(debian({'app': site}))[('tcp', 8000)]) == expected


def test_stream_proxy_to_the_port_is_a_non_http_use():
    files = debian({'app': LAB_SITE})
    files['/etc/nginx/nginx.conf'] += 'stream {\n    server { listen 9999; proxy_pass 127.0.0.1:8000; }\n}\n'
    assert codes(backends(files)[('tcp', 8000)]) == ['non_http_use']


def test_remote_and_variable_targets():
    site = 'server {\n location /a { proxy_pass http://10.0.0.5:8000; }\n location /b { proxy_pass http://$upstream_host; }\n}\n'
    analysis = nu.analyze(payload_of(debian({'r': site})))
    assert [nu.site_text(site) for site in nu.remote_sites(analysis)] == ['10.0.0.5:8000']
    assert [item['value'] for item in analysis['variables']] == ['http://$upstream_host']
    assert nu.group_backends(analysis) == {}
    assert analysis['user'] == ['www-data']


# ---------------------------------------------------------------------------------------------
# Pairs: nginx joined with the host's sockets, processes and units (as the module reports them)

APP_UNIT = """\
# /etc/systemd/system/app.service
[Unit]
Description=The lab's WSGI app
After=network.target

[Service]
Type=notify
User=app
Group=app
RuntimeDirectory=app-gunicorn
ExecStart=/usr/bin/gunicorn --chdir /srv/app --workers 2 --bind 127.0.0.1:8000 app:application
ExecReload=/bin/kill -s HUP $MAINPID
KillMode=mixed
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def lab_host(listen_ip='127.0.0.1', extra_clients=(), listener_comm='gunicorn', unit_text=APP_UNIT):
    tcp = [
        {'local_ip': listen_ip, 'local_port': 8000, 'remote_ip': '0.0.0.0', 'remote_port': 0, 'state': 'LISTEN', 'uid': 999, 'inode': 100},
        {'local_ip': '127.0.0.1', 'local_port': 41000, 'remote_ip': '127.0.0.1', 'remote_port': 8000, 'state': 'ESTABLISHED', 'uid': 33, 'inode': 200},
        {'local_ip': '127.0.0.1', 'local_port': 8000, 'remote_ip': '127.0.0.1', 'remote_port': 41000, 'state': 'ESTABLISHED', 'uid': 999, 'inode': 201},
    ]
    owners = {'100': [301, 302, 303], '200': [401], '201': [302]}
    cmd = ['/usr/bin/python3', '/usr/bin/gunicorn'] if listener_comm == 'gunicorn' else ['/usr/bin/python3', '/srv/app/server.py']
    processes = {
        '301': {'pid': 301, 'ppid': 1, 'comm': listener_comm, 'cmdline': cmd, 'unit': 'app.service',
                'cwd': '/srv/app', 'environment': {}, 'config_file': '/srv/app/gunicorn.conf.py'},
        '302': {'pid': 302, 'ppid': 301, 'comm': listener_comm, 'cmdline': cmd, 'unit': 'app.service',
                'cwd': '/srv/app', 'environment': {}},
        '303': {'pid': 303, 'ppid': 301, 'comm': listener_comm, 'cmdline': cmd, 'unit': 'app.service',
                'cwd': '/srv/app', 'environment': {}},
        '401': {'pid': 401, 'ppid': 400, 'comm': 'nginx', 'cmdline': [], 'unit': 'nginx.service', 'cwd': None, 'environment': {}},
    }
    for index, (comm, count) in enumerate(extra_clients):
        for n in range(count):
            inode = 500 + index * 10 + n
            tcp.append({'local_ip': '127.0.0.1', 'local_port': 42000 + inode, 'remote_ip': '127.0.0.1', 'remote_port': 8000,
                        'state': 'ESTABLISHED', 'uid': 0, 'inode': inode})
            owners[str(inode)] = [600 + index]
        processes[str(600 + index)] = {'pid': 600 + index, 'ppid': 1, 'comm': comm, 'cmdline': [], 'unit': None, 'cwd': None, 'environment': {}}
    return {'addresses': ['192.168.1.20'], 'tcp': tcp, 'unix': [], 'owners': owners, 'processes': processes,
            'units': {'app.service': {'cat': unit_text, 'socket_cat': None}}, 'config_files': {}}


def pairs_for(host, files=None, **kwargs):
    files = files or debian({'app': LAB_SITE})
    return nu.build_pairs(nu.analyze(payload_of(files), host['addresses']), host, **kwargs)['pairs']


def test_lab_pair_is_safe_and_proposes_the_unit_changes():
    (pair,) = pairs_for(lab_host())
    assert pair['safe'], pair['reasons']
    assert (pair['kind'], pair['address'], pair['port'], pair['unit']) == ('tcp', '127.0.0.1:8000', 8000, 'app.service')
    assert pair['clients'] == [{'process': 'nginx', 'connections': 1}]
    assert pair['gunicorn']['binds'] == ['127.0.0.1:8000'] and pair['gunicorn']['bind_source'] == 'command line'
    proposed = pair['proposed']
    assert proposed['socket'] == '/run/app/gunicorn.sock'
    assert proposed['handover_socket'] == '/run/app/gunicorn.handover.sock'
    assert proposed['socket_unit'] == 'app.socket'
    assert proposed['dropin_path'] == '/etc/systemd/system/app.service.d/keeplocal-unix-socket.conf'
    assert proposed['exec_start'] == ('/usr/bin/gunicorn --bind unix:/run/app/gunicorn.sock --umask 0117 '
                                      '--chdir /srv/app --workers 2 app:application')
    assert proposed['handover_exec_start'] == ('/usr/bin/gunicorn --bind unix:/run/app/gunicorn.handover.sock --umask 0117 '
                                               '--chdir /srv/app --workers 2 app:application')
    assert '[Install]' not in proposed['unit_copy'] and 'ExecStart=/usr/bin/gunicorn --chdir' in proposed['unit_copy']


def test_keeping_tcp_keeps_the_bind():
    (pair,) = pairs_for(lab_host(), drop_tcp=False)
    assert pair['proposed']['exec_start'].startswith('/usr/bin/gunicorn --bind unix:/run/app/gunicorn.sock --bind 127.0.0.1:8000 ')
    assert pair['proposed']['tcp_listen'] == ['127.0.0.1:8000']


@pytest.mark.parametrize('host, kwargs, code', [
    (lab_host(listener_comm='python3'), {}, 'unknown_server'),
    (lab_host(extra_clients=[('curl', 2)]), {}, 'other_clients'),
    (lab_host(listen_ip='0.0.0.0'), {}, 'reachable_remotely'),
    (lab_host(unit_text=APP_UNIT.replace('ExecStart=/usr/bin/gunicorn', 'ExecStart=/srv/app/start.sh')), {}, 'exec_start_unsupported'),
    (lab_host(unit_text=APP_UNIT.replace('RuntimeDirectory=app-gunicorn', 'RuntimeDirectory=app')), {}, 'runtime_directory'),
    (lab_host(), {'socket_template': '/tmp/{app}.sock'}, 'socket_path'),
])
def test_unsafe_pairs_say_why(host, kwargs, code):
    (pair,) = pairs_for(host, **kwargs)
    assert not pair['safe']
    assert code in [reason['code'] for reason in pair['reasons']]


def test_connections_already_closed_by_nginx_are_not_clients():
    host = lab_host()
    host['tcp'].append({'local_ip': '127.0.0.1', 'local_port': 41001, 'remote_ip': '127.0.0.1', 'remote_port': 8000,
                        'state': 'FIN_WAIT2', 'uid': 0, 'inode': 0})
    (pair,) = pairs_for(host)
    assert pair['safe'], pair['reasons']
    assert pair['clients'] == [{'process': 'nginx', 'connections': 1}]


def test_reachable_listener_is_fine_when_tcp_stays():
    (pair,) = pairs_for(lab_host(listen_ip='0.0.0.0'), drop_tcp=False)
    assert pair['safe'], pair['reasons']


def test_nothing_listening():
    host = lab_host()
    host['tcp'] = []
    (pair,) = pairs_for(host)
    assert not pair['safe'] and [reason['code'] for reason in pair['reasons']] == ['no_listener']


def test_switched_pair_is_found_through_its_socket():
    dropin = ('\n# /etc/systemd/system/app.service.d/keeplocal-unix-socket.conf\n[Service]\nExecStart=\n'
              'ExecStart=/usr/bin/gunicorn --bind unix:/run/app/gunicorn.sock --umask 0117 --chdir /srv/app --workers 2 app:application\n'
              '[X-Keeplocal]\nAddress=127.0.0.1:8000\nSocket=/run/app/gunicorn.sock\n')
    host = lab_host(unit_text=APP_UNIT + dropin)
    host['tcp'] = []
    host['unix'] = [{'path': '/run/app/gunicorn.sock', 'inode': 900}]
    host['owners'] = {'900': [1, 301, 302]}
    host['processes']['1'] = {'pid': 1, 'ppid': 0, 'comm': 'systemd', 'cmdline': ['/sbin/init'], 'unit': None, 'cwd': '/', 'environment': {}}
    files = debian({'app': LAB_SITE.replace('127.0.0.1:8000', SOCK)})
    (pair,) = pairs_for(host, files=files)
    assert (pair['kind'], pair['socket'], pair['unit'], pair['safe']) == ('unix', '/run/app/gunicorn.sock', 'app.service', True)
    assert pair['gunicorn']['keeplocal'] == {'Address': '127.0.0.1:8000', 'Socket': '/run/app/gunicorn.sock'}


# ---------------------------------------------------------------------------------------------
# Input checks and backups


@pytest.mark.parametrize('text, expected', [
    ('127.0.0.1:8000', ('127.0.0.1', 8000)),
    ('[::1]:65535', ('::1', 65535)),
    ('localhost:1', ('localhost', 1)),
    ('127.0.0.1:70000', "address: the port of '127.0.0.1:70000' is not a port number (1-65535)"),
    ('127.0.0.1:0', "address: the port of '127.0.0.1:0' is not a port number (1-65535)"),
    ('127.0.0.1', "address: '127.0.0.1' is not host:port"),
    ('::1:8000', "address: '::1:8000' is not host:port"),
])
def test_parse_address(text, expected):
    if isinstance(expected, tuple):
        assert nu.parse_address(text) == expected
    else:
        with pytest.raises(ValueError) as error:
            nu.parse_address(text)
        assert str(error.value).startswith(expected)


@pytest.mark.parametrize('path, problem', [
    ('/run/app/gunicorn.sock', None),
    ('/run/../srv/app.sock', 'the socket /run/../srv/app.sock is outside /run'),
    ('/tmp/app.sock', 'the socket /tmp/app.sock is outside /run'),
    ('/var/lib/app/app.sock', 'the socket /var/lib/app/app.sock is outside /run'),
    ('app.sock', 'the socket app.sock is outside /run'),
])
def test_socket_path_problem(path, problem):
    found = nu.socket_path_problem(path)
    assert found is None if problem is None else found.startswith(problem)


def test_runs_sort_in_time_order_and_only_the_oldest_expire():
    names = [nu.run_id(1767261600.000042, 99999), nu.run_id(1767261600.5, 7), nu.run_id(1767348000, 1)]
    assert names[0] == '20260101T100000.000042Z-99999'
    assert nu.expired_runs(list(reversed(names)) + ['README', '2026-not-a-run'], 2) == [names[0]]
    assert nu.expired_runs(names, 3) == [] and nu.expired_runs(names, 1) == names[:2]


def test_backup_path_mirrors_the_absolute_path():
    assert nu.backup_path('/var/backups/keeplocal/nginx/R', '/etc/nginx/sites-available/app') == (
        '/var/backups/keeplocal/nginx/R/etc/nginx/sites-available/app')


@pytest.mark.parametrize('output, expected', [
    ('nginx: [emerg] unknown directive "bogus" in /etc/nginx/sites-enabled/app:2\n'
     'nginx: configuration file /etc/nginx/nginx.conf test failed\n',
     {'message': 'unknown directive "bogus"', 'file': '/etc/nginx/sites-enabled/app', 'line': 2}),
    ('2026/01/01 10:00:00 [emerg] 4242#4242: duplicate upstream "app" in /etc/nginx/sites-enabled/app.1.2026-01-01@10:00:00~:1\n',
     {'message': 'duplicate upstream "app"', 'file': '/etc/nginx/sites-enabled/app.1.2026-01-01@10:00:00~', 'line': 1}),
    ('nginx: [emerg] host not found in upstream "backend:8000" in /etc/nginx/conf.d/a.conf:7\n',
     {'message': 'host not found in upstream "backend:8000"', 'file': '/etc/nginx/conf.d/a.conf', 'line': 7}),
    ('nginx: [emerg] no "events" section in configuration\n', {'message': 'no "events" section in configuration', 'file': None, 'line': None}),
    ('nginx: [warn] conflicting server name "" on 0.0.0.0:80, ignored\n', None),
])
def test_nginx_error(output, expected):
    assert nu.nginx_error(output) == expected


def test_backup_dir_problem():
    files = [{'path': '/etc/nginx/nginx.conf', 'realpath': '/etc/nginx/nginx.conf'},
             {'path': '/etc/nginx/sites-enabled/app', 'realpath': '/srv/conf/app'}]
    assert nu.backup_dir_problem('/var/backups/keeplocal/nginx', '/etc/nginx/nginx.conf', files) is None
    assert nu.backup_dir_problem('/etc/nginx/backups', '/etc/nginx/nginx.conf', files).startswith(
        "backup_dir: /etc/nginx/backups is inside nginx's configuration directory /etc/nginx")
    assert nu.backup_dir_problem('/srv', '/etc/nginx/nginx.conf', files).startswith('backup_dir: nginx loads /srv/conf/app, which is inside /srv')
    assert nu.backup_dir_problem('/srv/conf-backups', '/etc/nginx/nginx.conf', files) is None


# ---------------------------------------------------------------------------------------------
# What the app receives over TCP now and over the socket (Host, REMOTE_ADDR)

def direct_site(location, server=''):
    """A site proxying straight to 127.0.0.1:8000; ``location``/``server``: lines in location / and in the server."""
    return ('server {\n    listen 80;\n%s    location / {\n%s        proxy_pass http://127.0.0.1:8000;\n    }\n}\n'
            % (''.join('    %s\n' % line for line in server), ''.join('        %s\n' % line for line in location)))


def pair_of(site, snippets=None, host=None):
    (pair,) = pairs_for(host or lab_host(), files=debian({'app': site}, snippets=snippets))
    return pair


def host_changes(pair):
    return [reason['msg'] for reason in pair['reasons'] if reason['code'] == 'host_header_changes']


def requests_of(pair):
    return [request for reference in pair['references'] for request in reference['requests']]


def test_direct_proxy_pass_without_host_header_is_not_safe():
    """nginx sends $proxy_host: "127.0.0.1:8000" over TCP, "localhost" over the socket (Django answers 400)."""
    pair = pair_of(direct_site([]))
    assert not pair['safe']
    (msg,) = host_changes(pair)
    assert msg == ('proxy_pass http://127.0.0.1:8000 at /etc/nginx/sites-enabled/app:4 (http > server > location /) sends Host: '
                   '127.0.0.1:8000 over TCP and would send Host: localhost over the socket ($proxy_host, nginx\'s default: no '
                   'proxy_set_header Host applies there); an app that checks Host (Django\'s ALLOWED_HOSTS) answers 400 to it. '
                   'Fix: add `proxy_set_header Host 127.0.0.1:8000;` to the block of that proxy_pass (no proxy_set_header '
                   'applies there, so none is lost)')
    (request,) = requests_of(pair)
    assert request['tcp'] == {'Host': '127.0.0.1:8000', 'REMOTE_ADDR': '127.0.0.1'}
    assert request['socket'] == {'Host': 'localhost', 'REMOTE_ADDR': ''}
    assert (request['headers_from'], request['client_address_headers']) == (None, [])


def test_the_fix_the_reason_names_makes_the_pair_safe():
    pair = pair_of(direct_site(['proxy_set_header Host 127.0.0.1:8000;']))
    # A static value naming the address is sent unchanged: not a "mentioned" problem either.
    assert pair['safe'], pair['reasons']
    (request,) = requests_of(pair)
    assert request['tcp']['Host'] == request['socket']['Host'] == '127.0.0.1:8000'


def test_headers_of_the_location_without_host_netbox_style():
    pair = pair_of(direct_site(['proxy_set_header X-Forwarded-Host $http_host;', 'proxy_set_header X-Real-IP $remote_addr;']))
    (msg,) = host_changes(pair)
    assert msg.endswith('Fix: add `proxy_set_header Host 127.0.0.1:8000;` next to the proxy_set_header lines of that block '
                        '(/etc/nginx/sites-enabled/app:4)')
    (request,) = requests_of(pair)
    assert request['client_address_headers'] == ['X-Real-IP']


def test_host_set_in_the_server_is_not_inherited_by_a_location_with_headers_of_its_own():
    """A level with any proxy_set_header inherits none: the server's Host does not reach this location."""
    pair = pair_of(direct_site(['proxy_set_header X-Real-IP $remote_addr;'], server=['proxy_set_header Host $host;']))
    assert len(host_changes(pair)) == 1
    # Without headers of its own the location inherits the server's, Host included.
    assert pair_of(direct_site([], server=['proxy_set_header Host $host;']))['safe']


def test_fix_in_a_location_that_inherits_names_what_it_would_lose():
    pair = pair_of(direct_site([], server=['proxy_set_header X-Real-IP $remote_addr;', 'proxy_set_header X-Forwarded-Proto $scheme;']))
    (msg,) = host_changes(pair)
    assert msg.endswith('Fix: add `proxy_set_header Host 127.0.0.1:8000;` to the block of that proxy_pass together with copies of '
                        'the 2 proxy_set_header lines it inherits now (/etc/nginx/sites-enabled/app:3, /etc/nginx/sites-enabled/app:4): '
                        'a proxy_set_header in a block stops the inheritance of all of them')


def test_explicit_proxy_host_is_replaced_where_it_is():
    pair = pair_of(direct_site(['proxy_set_header Host $proxy_host;']))
    (msg,) = host_changes(pair)
    assert '(proxy_set_header Host $proxy_host at /etc/nginx/sites-enabled/app:4)' in msg
    assert msg.endswith('Fix: write `proxy_set_header Host 127.0.0.1:8000;` instead of the proxy_set_header Host at '
                        '/etc/nginx/sites-enabled/app:4')


def test_debian_proxy_params_keep_the_host():
    pair = pair_of(direct_site(['include proxy_params;']), snippets={'proxy_params': fixture('proxy_params')})
    assert pair['safe'], pair['reasons']
    (request,) = requests_of(pair)
    assert request['tcp']['Host'] == request['socket']['Host'] == '$host'
    assert request['headers_from'] == '/etc/nginx/proxy_params:30'
    assert request['client_address_headers'] == ['X-Real-IP', 'X-Forwarded-For']


def test_other_headers_built_from_proxy_host_or_port():
    pair = pair_of(direct_site(['proxy_set_header Host $host;', 'proxy_set_header X-Backend ${proxy_host}/$proxy_port;']))
    assert [reason['code'] for reason in pair['reasons']] == ['proxy_header_changes']
    (request,) = requests_of(pair)
    assert (request['tcp']['X-Backend'], request['socket']['X-Backend']) == ('127.0.0.1:8000/8000', 'localhost/')


def test_upstream_block_keeps_its_name_as_host():
    """proxy_pass http://app sends Host: app before and after: the switch edits the server lines only."""
    site = LAB_SITE.replace('        proxy_set_header Host $host;\n', '')
    pair = pair_of(site)
    assert pair['safe'], pair['reasons']
    (request,) = requests_of(pair)
    assert (request['upstream'], request['tcp']['Host'], request['socket']['Host']) == ('app', 'app', 'app')
    assert (request['tcp']['REMOTE_ADDR'], request['socket']['REMOTE_ADDR']) == ('127.0.0.1', '')


def test_blocks_are_told_apart_where_their_contexts_read_the_same():
    """Two servers with the same "http > server > location /": only the one without Host changes."""
    site = (direct_site([], server=['proxy_set_header Host $host;'])
            + direct_site([]).replace('listen 80;', 'listen 81;'))
    pair = pair_of(site)
    (msg,) = host_changes(pair)
    assert 'at /etc/nginx/sites-enabled/app:11 ' in msg


def test_one_snippet_included_in_two_locations():
    snippet = 'proxy_pass http://127.0.0.1:8000;\n'
    site = ('server {\n  location /a { proxy_set_header Host $host; include snippets/p.conf; }\n'
            '  location /b { include snippets/p.conf; }\n}\n')
    pair = pair_of(site, snippets={'snippets/p.conf': snippet})
    (msg,) = host_changes(pair)
    assert 'at /etc/nginx/snippets/p.conf:1 (http > server > location /b)' in msg
    assert [request['tcp']['Host'] for request in requests_of(pair)] == ['$host', '127.0.0.1:8000']


def test_existing_direct_shapes():
    """The module docs' shapes: proxy_params keeps Host, a location without headers does not."""
    pair = pair_of(DIRECT, snippets={'proxy_params': fixture('proxy_params')})
    (msg,) = host_changes(pair)
    assert msg.startswith('proxy_pass http://localhost:8000 at /etc/nginx/sites-enabled/app:17 (http > server > location /api/) '
                          'sends Host: localhost:8000 over TCP and would send Host: localhost over the socket')


@pytest.mark.parametrize('url, variables', [
    ('http://127.0.0.1:8000/x/', {'proxy_host': '127.0.0.1:8000', 'proxy_port': '8000'}),
    ('http://127.0.0.1', {'proxy_host': '127.0.0.1', 'proxy_port': '80'}),
    ('http://127.0.0.1:80', {'proxy_host': '127.0.0.1', 'proxy_port': '80'}),
    ('http://[::1]:8000', {'proxy_host': '[::1]:8000', 'proxy_port': '8000'}),
    ('http://app', {'proxy_host': 'app', 'proxy_port': '80'}),
    ('http://unix:/run/app/gunicorn.sock:/x/', {'proxy_host': 'localhost', 'proxy_port': ''}),
])
def test_proxy_variables(url, variables):
    assert nu.proxy_variables(nu.parse_proxy_url(url)) == variables


def test_remote_addr_warning_names_the_headers_that_carry_the_client():
    (warning,) = pair_of(LAB_SITE)['warnings']
    assert warning.startswith('gunicorn sees REMOTE_ADDR 127.0.0.1 over TCP and an empty REMOTE_ADDR over the Unix socket')
    assert warning.endswith("the client's address, which nginx passes in X-Real-IP, stays the same")
    (warning,) = pair_of(direct_site(['proxy_set_header Host $host;']))['warnings']
    assert warning.endswith('the proxy_pass at /etc/nginx/sites-enabled/app:5 passes the client\'s address in no header '
                            '(X-Forwarded-For, X-Real-IP, Forwarded), so REMOTE_ADDR is the only address the app gets there')


# ---------------------------------------------------------------------------------------------
# gunicorn's control socket: the handover copy must not take over the service's

def test_handover_copy_runs_without_a_control_socket_on_gunicorn_25_1():
    host = lab_host()
    host['units']['app.service']['gunicorn_version'] = {'version': '25.1.0', 'path': '/usr/lib/python3/dist-packages/gunicorn/__init__.py'}
    (pair,) = pairs_for(host)
    assert pair['safe'], pair['reasons']
    assert pair['gunicorn']['version'] == '25.1.0' and pair['gunicorn']['control_socket']['supported'] is True
    assert pair['proposed']['handover_control_socket'] == 'disabled'
    assert pair['proposed']['handover_exec_start'] == ('/usr/bin/gunicorn --bind unix:/run/app/gunicorn.handover.sock --umask 0117 '
                                                       '--no-control-socket --chdir /srv/app --workers 2 app:application')
    # The service itself keeps its control socket.
    assert '--no-control-socket' not in pair['proposed']['exec_start']


def test_a_control_socket_seen_in_the_master_counts_when_the_version_is_unknown():
    host = lab_host(unit_text=APP_UNIT.replace('--workers 2', '--workers 2 --control-socket /srv/app/app.ctl'))
    host['unix'] = [{'path': '/srv/app/app.ctl', 'inode': 700}, {'path': '/run/other.sock', 'inode': 701}]
    host['owners'].update({'700': [301, 303], '701': [1, 301]})
    (pair,) = pairs_for(host)
    assert pair['gunicorn']['control_socket']['observed'] == ['/srv/app/app.ctl']
    assert pair['proposed']['handover_exec_start'] == ('/usr/bin/gunicorn --bind unix:/run/app/gunicorn.handover.sock --umask 0117 '
                                                       '--no-control-socket --chdir /srv/app --workers 2 app:application')


@pytest.mark.parametrize('version', ['24.1.1', None])
def test_older_or_unknown_gunicorn_gets_no_flag_it_would_reject(version):
    host = lab_host()
    host['units']['app.service']['gunicorn_version'] = {'version': version, 'path': '/x'} if version else None
    (pair,) = pairs_for(host)
    assert pair['proposed']['handover_control_socket'] is None
    assert pair['proposed']['handover_exec_start'] == ('/usr/bin/gunicorn --bind unix:/run/app/gunicorn.handover.sock --umask 0117 '
                                                       '--chdir /srv/app --workers 2 app:application')


# ---------------------------------------------------------------------------------------------
# Reading the owners of sockets: root without CAP_SYS_PTRACE

STATUS = 'Name:\tpython3\nUmask:\t0022\nCapInh:\t0000000000000000\nCapPrm:\t%s\nCapEff:\t%s\nCapBnd:\t%s\n'


@pytest.mark.parametrize('euid, cap_eff, ptrace', [
    (0, '000001ffffffffff', True),
    (0, '00000000a80425fb', False),   # podman's and docker's default set
    (0, '0000000000080000', True),    # bit 19 alone
    (1000, '0000000000000000', False),
])
def test_parse_privileges(euid, cap_eff, ptrace):
    assert nu.parse_privileges(euid, STATUS % (cap_eff, cap_eff, cap_eff)) == {'euid': euid, 'cap_eff': cap_eff, 'cap_sys_ptrace': ptrace}
    assert nu.parse_privileges(0, 'Name:\tx\n')['cap_sys_ptrace'] is None


def unreadable_host(euid=0, cap_eff='00000000a80425fb'):
    """The lab host as root without CAP_SYS_PTRACE sees it: sockets listed, nobody's descriptors readable."""
    host = lab_host()
    host['owners'] = {}
    host['fd_denied'] = 4
    host['privileges'] = nu.parse_privileges(euid, STATUS % (cap_eff, cap_eff, cap_eff))
    return host


def test_missing_cap_sys_ptrace_is_named_not_run_as_root():
    (pair,) = pairs_for(unreadable_host())
    assert not pair['safe']
    (reason,) = pair['reasons']
    assert reason['code'] == 'owners_unreadable'
    assert reason['msg'].startswith('cannot tell which process listens on port 8000 or which processes hold 1 connections to port '
                                    '8000: needs CAP_SYS_PTRACE to read the owners of sockets; this task runs as root without it '
                                    '(CapEff 00000000a80425fb in /proc/self/status, bit 19 clear)')
    assert 'run as root' not in reason['msg']


def test_not_root_is_told_to_become_root():
    (pair,) = pairs_for(unreadable_host(euid=1000, cap_eff='0000000000000000'))
    (reason,) = pair['reasons']
    assert reason['code'] == 'owners_unreadable' and 'needs root: run the task with become: true' in reason['msg']


def test_root_with_the_capability_and_no_visible_owner():
    host = unreadable_host(cap_eff='000001ffffffffff')
    host['fd_denied'] = 0
    (pair,) = pairs_for(host)
    codes_ = [reason['code'] for reason in pair['reasons']]
    assert 'owners_unreadable' not in codes_ and 'no_listener' in codes_
    assert 'another PID namespace' in pair['reasons'][0]['msg']
