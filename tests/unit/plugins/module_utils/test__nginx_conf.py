# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nginx configuration reader: nginx's token rules, the characters each argument came from, Lua blocks,
includes with globs. Where nginx itself decides (a word that holds '}', what follows a closing quote), the
expected reading is the one ``nginx -t`` (1.22.1, Debian) accepts or rejects."""

from __future__ import annotations

import pytest

from ansible_collections.keeplocal.traffic.plugins.module_utils import _nginx_conf as nc


def args_of(text):
    """[(directive, args)] of every statement, depth first."""
    found = []

    def visit(block):
        for stmt in block:
            found.append((stmt['directive'], stmt['args']))
            visit(stmt['block'] or [])

    visit(nc.parse(text, '/etc/nginx/t.conf'))
    return found


def tokens_of(text):
    return [token for stmt in _statements(nc.parse(text)) for token in stmt['tokens']]


def _statements(block):
    for stmt in block:
        yield stmt
        yield from _statements(stmt['block'] or [])


@pytest.mark.parametrize('text, expected', [
    # Quoted strings: \" and \' unescaped, the quotes of the other kind and '#', '{', '}', ';' are text.
    ('add_header X "a \\"b\\" #c {;}";', [('add_header', ['X', 'a "b" #c {;}'])]),
    ("add_header X 'it\\'s \"q\"';", [('add_header', ['X', 'it\'s "q"'])]),
    ('log_format f \'$a "$b" \'\n\t\'$c\';', [('log_format', ['f', '$a "$b" ', '$c'])]),
    # '#' starts a comment only at the start of a word, also between the arguments of a statement.
    ('add_header X a#b; # comment { ; }', [('add_header', ['X', 'a#b'])]),
    ('add_header # comment\n  X y;', [('add_header', ['X', 'y'])]),
    # ${var}: its brace opens no block; '}' ends no word (nginx reads "a}b" as one argument).
    ('set $x ${host}x;', [('set', ['$x', '${host}x'])]),
    ('proxy_pass http://${backend}:8000/${uri};', [('proxy_pass', ['http://${backend}:8000/${uri}'])]),
    ('add_header X a}b;', [('add_header', ['X', 'a}b'])]),
    # '{', '}' and ';' in a quoted regex; a block right after a quote.
    ('location ~* "^/(a|b){2}/.+;$" { return 404; }', [('location', ['~*', '^/(a|b){2}/.+;$']), ('return', ['404'])]),
    ('if ($a = "b") { return 403; }', [('if', ['($a', '=', 'b', ')']), ('return', ['403'])]),
    # A backslash takes the next character into the word (a space or ';' too); \\ \t \n \r as nginx stores them.
    ('add_header X a\\;b\\ c;', [('add_header', ['X', 'a\\;b\\ c'])]),
    ('add_header X "a\\\\b\\tc\\qd";', [('add_header', ['X', 'a\\b\tc\\qd'])]),
    # A quote inside a word is an ordinary character; an empty quoted argument is an argument.
    ('add_header X a"b;', [('add_header', ['X', 'a"b'])]),
    ('proxy_set_header Cookie "";', [('proxy_set_header', ['Cookie', ''])]),
    # Statements spanning lines, two on one line, nested blocks, no space before ';' or '{'.
    ('proxy_pass\n   http://127.0.0.1:8000\n;', [('proxy_pass', ['http://127.0.0.1:8000'])]),
    ('upstream a{server 127.0.0.1:1;}server{listen 80;}',
     [('upstream', ['a']), ('server', ['127.0.0.1:1']), ('server', []), ('listen', ['80'])]),
])
def test_nginx_token_rules(text, expected):
    assert args_of(text) == expected


def test_every_argument_keeps_its_characters_and_line():
    text = ('# head\nupstream app {\n    server 127.0.0.1:8000 weight=2;\n}\nlocation / {\n    proxy_pass\n'
            '        "http://127.0.0.1:8000/";\n    add_header X "two\nlines" \'q\';\n}\n')
    found = [(token['value'], token['line'], token['quoted'], text[token['start']:token['end']]) for token in tokens_of(text)]
    assert found == [('app', 2, False, 'app'), ('127.0.0.1:8000', 3, False, '127.0.0.1:8000'), ('weight=2', 3, False, 'weight=2'),
                     ('/', 5, False, '/'), ('http://127.0.0.1:8000/', 7, True, '"http://127.0.0.1:8000/"'),
                     ('X', 8, False, 'X'), ('two\nlines', 8, True, '"two\nlines"'), ('q', 9, True, "'q'")]
    statements = list(_statements(nc.parse(text)))
    assert [(stmt['directive'], stmt['line']) for stmt in statements] == [
        ('upstream', 2), ('server', 3), ('location', 5), ('proxy_pass', 6), ('add_header', 8)]


LUA = """\
location /lua {
    set_by_lua_block $x { return "}" }
    content_by_lua_block {
        local t = {a = "}", b = '{'}  -- a } in a comment
        --[==[ a long comment }
        ]==]
        local s = [[ } ]] .. [=[ { ]=]
        if t.a then ngx.say("{") end
    }
    proxy_pass http://127.0.0.1:8000;
}
"""


def test_lua_blocks_are_read_as_lua_and_what_follows_as_nginx():
    assert args_of(LUA) == [('location', ['/lua']), ('set_by_lua_block', ['$x']), ('content_by_lua_block', []),
                            ('proxy_pass', ['http://127.0.0.1:8000'])]
    (location,) = nc.parse(LUA)
    lua = location['block'][1]['lua']
    assert LUA[lua['start']:lua['end']].strip().startswith('local t = {a = "}"') and LUA[lua['end']:].startswith('}\n    proxy_pass')
    assert location['block'][2]['line'] == 10


@pytest.mark.parametrize('text, message', [
    ('server { listen 80; }}', 't.conf line 1: unexpected "}"'),
    ('server {\n listen 80\n}', 't.conf line 3: unexpected "}"'),
    ('server {\n listen 80;\n', 't.conf line 1: unexpected end of file, expecting "}"'),
    ('listen 80', 't.conf line 1: unexpected end of file, expecting ";" or "}"'),
    ('add_header X "a;\n', 't.conf line 1: unexpected end of file, expecting "'),
    ('add_header X "a"b;', 't.conf line 1: unexpected "b"'),
    ('add_header X "a"}', 't.conf line 1: unexpected "}"'),
    ('events {}\n;', 't.conf line 2: unexpected ";"'),
    ('content_by_lua_block {\n ngx.say("}")\n', 't.conf line 1: unexpected end of file in the Lua block'),
])
def test_what_nginx_does_not_read_is_refused_with_file_and_line(text, message):
    with pytest.raises(nc.NginxConfError) as error:
        nc.parse(text, '/etc/nginx/t.conf')
    assert str(error.value).startswith('/etc/nginx/' + message)


def files(**texts):
    return [{'path': path, 'content': text} for path, text in texts.items()]


def test_includes_with_globs_follow_nginx_glob_rules():
    main = ('events {}\nhttp {\n    include mime.types;\n    include /etc/nginx/conf.d/*.conf;\n    include sites-enabled/[ab]?;\n'
            '    server { location / { include snippets/*; } }\n}\n')
    loaded = {
        '/etc/nginx/nginx.conf': main, '/etc/nginx/mime.types': 'types { text/html html; }\n',
        '/etc/nginx/conf.d/b.conf': 'upstream b { server 127.0.0.1:2; }\n',
        '/etc/nginx/conf.d/a.conf': 'upstream a { server 127.0.0.1:1; }\n',
        '/etc/nginx/conf.d/sub/c.conf': 'upstream c { server 127.0.0.1:3; }\n',
        '/etc/nginx/sites-enabled/a1': 'server { listen 81; }\n', '/etc/nginx/sites-enabled/abc': 'server { listen 82; }\n',
        '/etc/nginx/snippets/proxy': 'proxy_pass http://a;\n',
    }
    payload = nc.read_config([{'path': path, 'content': text} for path, text in loaded.items()], '/etc/nginx/nginx.conf')
    assert [entry['file'] for entry in payload['config']] == [
        '/etc/nginx/nginx.conf', '/etc/nginx/mime.types', '/etc/nginx/conf.d/a.conf', '/etc/nginx/conf.d/b.conf',
        '/etc/nginx/sites-enabled/a1', '/etc/nginx/snippets/proxy']
    walked = [(fname, stmt['directive'], ' > '.join(name for name, dummy in ctx)) for fname, stmt, ctx, dummy in nc.walk(payload)
              if stmt['directive'] in ('upstream', 'listen', 'proxy_pass')]
    assert walked == [('/etc/nginx/conf.d/a.conf', 'upstream', 'http'), ('/etc/nginx/conf.d/b.conf', 'upstream', 'http'),
                      ('/etc/nginx/sites-enabled/a1', 'listen', 'http > server'),
                      ('/etc/nginx/snippets/proxy', 'proxy_pass', 'http > server > location')]
    assert payload['config'][2]['text'] == loaded['/etc/nginx/conf.d/a.conf']


def test_resolve_include_glob_does_not_cross_directories():
    known = ['/etc/nginx/sites-enabled/a', '/etc/nginx/sites-enabled/b', '/etc/nginx/sites-enabled/sub/c', '/etc/nginx/mime.types']
    assert nc.resolve_include('/etc/nginx/sites-enabled/*', '/etc/nginx', known) == ['/etc/nginx/sites-enabled/a', '/etc/nginx/sites-enabled/b']
    assert nc.resolve_include('mime.types', '/etc/nginx', known) == ['/etc/nginx/mime.types']
    assert nc.resolve_include('/etc/nginx/conf.d/*.conf', '/etc/nginx', known) == []
    assert nc.resolve_include('/etc/nginx/sites-enabled/[!a]', '/etc/nginx', known) == ['/etc/nginx/sites-enabled/b']


def test_a_file_included_twice_is_one_file_visited_twice():
    loaded = {'/etc/nginx/nginx.conf': 'http { server { location /a { include p.conf; } location /b { include p.conf; } } }\n',
              '/etc/nginx/p.conf': 'proxy_pass http://127.0.0.1:8000;\n'}
    payload = nc.read_config([{'path': path, 'content': text} for path, text in loaded.items()], '/etc/nginx/nginx.conf')
    assert len(payload['config']) == 2
    seen = [(ctx[-1][1], stmt) for dummy, stmt, ctx, dummy in nc.walk(payload) if stmt['directive'] == 'proxy_pass']
    assert [args for args, dummy in seen] == [('/a',), ('/b',)] and seen[0][1] is seen[1][1]


def test_main_file_missing_from_the_listing():
    with pytest.raises(ValueError, match='nginx -T did not list /etc/nginx/nginx.conf'):
        nc.read_config([], '/etc/nginx/nginx.conf')
