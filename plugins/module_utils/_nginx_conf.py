# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx configuration text: the collection's one reader of it (stdlib only, no I/O).

``parse`` reads one file into statements ``{'directive', 'line', 'args', 'tokens', 'block'}`` with
nginx's own token rules (src/core/ngx_conf_file.c, ngx_conf_read_token): words end at whitespace,
``;`` and ``{`` (not at ``}``, and not at the ``{`` of ``${``); a quote opens a string only at the
start of a word; a backslash escapes the next character; ``#`` starts a comment only at the start
of a word. Every argument keeps its token: the character offsets of its text in the file (quotes
included), its line and whether it was quoted, so an edit replaces exactly those characters and every
other byte of the file stays as it was. The bodies of OpenResty's ``*_by_lua_block`` directives are
Lua, read the way lua-nginx-module reads them (strings, long brackets and comments may hold braces)
and kept out of the statements.

``read_config`` parses the files nginx loads (``nginx -T`` lists them, main file first) and links
each ``include`` to the files it pulls in; ``walk`` visits the statements reached from the main file.
"""

from __future__ import annotations

import re


class NginxConfError(ValueError):
    """Text nginx would not read either; the message names the file and the line."""

    def __init__(self, path, line, message):
        super().__init__('%s line %d: %s' % (path or '(text)', line, message))
        self.path, self.line = path, line


_SPACE = re.compile(r'[ \t\r\n]*')
_COMMENT = re.compile(r'[^\n]*')
# A bare word: up to whitespace, ';' or '{'; '\' takes the next character along, '${' is part of the word.
_WORD = re.compile(r'(?:\\[\s\S]?|\$\{?|[^ \t\r\n;{\\$])+')
_QUOTED = {'"': re.compile(r'"((?:[^"\\]|\\[\s\S])*)"'), "'": re.compile(r"'((?:[^'\\]|\\[\s\S])*)'")}
_ESCAPE = re.compile(r'\\(["\'\\tnr])')
_UNESCAPED = {'"': '"', "'": "'", '\\': '\\', 't': '\t', 'n': '\n', 'r': '\r'}
# Inside a Lua block: what may hold a brace without opening or closing one, and the braces themselves.
_LUA = re.compile(r'--\[(=*)\[.*?\]\1\]|--[^\n]*|\[(=*)\[.*?\]\2\]|"(?:[^"\\\n]|\\[\s\S])*"|\'(?:[^\'\\\n]|\\[\s\S])*\'|[{}]', re.S)
LUA_BLOCK_SUFFIX = '_by_lua_block'


def _value(raw):
    """A word's value as nginx stores it: \\" \\' \\\\ \\t \\n \\r unescaped, any other backslash kept."""
    if '\\' not in raw:
        return raw
    return _ESCAPE.sub(lambda match: _UNESCAPED[match.group(1)], raw)


def _tokens(text, path):
    """The tokens of ``text``: dicts value, start, end, line, quoted (comments dropped).

    ``start``/``end`` delimit the token's text (quotes included); ``;``, ``{`` and ``}`` come as
    unquoted tokens of their own. The body of a ``*_by_lua_block`` comes as one token with ``lua`` set,
    its start and end the characters between its braces. Raises NginxConfError where nginx stops reading.
    """
    pos, length, line = 0, len(text), 1
    directive = None  # the first word of the statement being read (a Lua block's is *_by_lua_block)
    while True:
        end = _SPACE.match(text, pos).end()
        line += text.count('\n', pos, end)
        pos = end
        if pos >= length:
            return
        char = text[pos]
        if char == '#':
            pos = _COMMENT.match(text, pos).end()
            continue
        if char in ';{}':
            yield {'value': char, 'start': pos, 'end': pos + 1, 'line': line, 'quoted': False}
            pos += 1
            if char == '{' and directive is not None and directive.endswith(LUA_BLOCK_SUFFIX):
                body_end = _lua_body_end(text, pos, path, line)
                yield {'value': text[pos:body_end], 'start': pos, 'end': body_end, 'line': line, 'quoted': False, 'lua': True}
                line += text.count('\n', pos, body_end)
                pos = body_end
            directive = None
            continue
        if char in '"\'':
            match = _QUOTED[char].match(text, pos)
            if match is None:
                raise NginxConfError(path, line, 'unexpected end of file, expecting %s' % char)
            token = {'value': _value(match.group(1)), 'start': pos, 'end': match.end(), 'line': line, 'quoted': True}
            pos = match.end()
            if pos < length and text[pos] not in ' \t\r\n;{)':
                raise NginxConfError(path, line + text.count('\n', token['start'], pos), 'unexpected "%s"' % text[pos])
        else:
            match = _WORD.match(text, pos)
            token = {'value': _value(match.group()), 'start': pos, 'end': match.end(), 'line': line, 'quoted': False}
            pos = match.end()
        line += text.count('\n', token['start'], pos)
        if directive is None:
            directive = token['value']
        yield token


def _lua_body_end(text, pos, path, line):
    """Where the Lua block opened just before ``pos`` ends (the offset of its closing brace)."""
    depth = 1
    for match in _LUA.finditer(text, pos):
        brace = match.group()
        if brace == '{':
            depth += 1
        elif brace == '}':
            depth -= 1
            if depth == 0:
                return match.start()
    raise NginxConfError(path, line, 'unexpected end of file in the Lua block, expecting "}"')


def parse(text, path=None):
    """The statements of one file, blocks nested, includes not followed.

    Each statement: directive (its name), line (of the name), args (values), tokens (the arguments'
    tokens, see ``_tokens``), block (the statements inside ``{ }``, or None for a statement ended by ``;``).
    A ``*_by_lua_block`` statement has an empty block and its Lua body's token in ``lua``.
    Raises NginxConfError where nginx stops reading, naming ``path`` and the line.
    """
    top = []
    stack = []  # (statements of the enclosing level, the statement whose block is being read)
    current = top
    words = []
    for token in _tokens(text, path):
        if token.get('lua'):
            stack[-1][1]['lua'] = token
            continue
        if not token['quoted'] and token['value'] in (';', '{', '}'):
            char = token['value']
            if char == '}':
                # A statement without its ';', or no block to close.
                if words or not stack:
                    raise NginxConfError(path, token['line'], 'unexpected "}"')
                current = stack.pop()[0]
                continue
            if not words:
                raise NginxConfError(path, token['line'], 'unexpected "%s"' % char)
            statement = {'directive': words[0]['value'], 'line': words[0]['line'], 'args': [word['value'] for word in words[1:]],
                         'tokens': words[1:], 'block': None}
            current.append(statement)
            words = []
            if char == '{':
                statement['block'] = []
                stack.append((current, statement))
                current = statement['block']
            continue
        words.append(token)
    if words:
        raise NginxConfError(path, words[0]['line'], 'unexpected end of file, expecting ";" or "}"')
    if stack:
        raise NginxConfError(path, stack[-1][1]['line'], 'unexpected end of file, expecting "}" (the block opened here is not closed)')
    return top


# ---------------------------------------------------------------------------------------------
# The files nginx loads


def glob_regex(pattern):
    """A glob pattern as nginx (glob(3)) reads it: * and ? do not cross '/'."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == '*':
            out.append('[^/]*')
        elif char == '?':
            out.append('[^/]')
        elif char == '[':
            end = pattern.find(']', i + 2)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1:end]
                if body.startswith('!'):
                    body = '^' + body[1:]
                out.append('[' + body.replace('\\', '\\\\') + ']')
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile('^' + ''.join(out) + '$')


def resolve_include(pattern, conf_dir, known):
    """The files an include directive pulls in, among the files nginx loaded (sorted, as glob does).

    A relative pattern is taken from the main file's directory, as nginx does."""
    if not pattern.startswith('/'):
        pattern = conf_dir.rstrip('/') + '/' + pattern
    if any(char in pattern for char in '*?['):
        regex = glob_regex(pattern)
        return sorted(path for path in known if regex.match(path))
    return [pattern] if pattern in known else []


def read_config(files, conf):
    """The configuration nginx loads: ``{'config': [{'file', 'text', 'parsed'}]}``, the main file first.

    ``files``: [{'path', 'content'}] (what ``nginx -T`` lists). Every ``include`` statement gets
    ``includes``, the indexes of the files it pulls in (among ``files``). Raises ValueError when the
    main file is not in ``files``, and NginxConfError for text nginx would not read.
    """
    contents = dict((item['path'], item['content']) for item in files)
    known = list(contents)
    conf_dir = conf.rsplit('/', 1)[0] or '/'
    order, index = [conf], {conf: 0}
    config = []
    position = 0
    while position < len(order):
        path = order[position]
        position += 1
        if path not in contents:
            raise ValueError('nginx -T did not list %s' % path)
        parsed = parse(contents[path], path)
        pending = [parsed]
        while pending:
            for stmt in pending.pop():
                if stmt['directive'] == 'include' and stmt['args']:
                    stmt['includes'] = []
                    for name in resolve_include(stmt['args'][0], conf_dir, known):
                        if name not in index:
                            index[name] = len(order)
                            order.append(name)
                        stmt['includes'].append(index[name])
                if stmt['block']:
                    pending.append(stmt['block'])
        config.append({'file': path, 'text': contents[path], 'parsed': parsed})
    return {'config': config}


# ---------------------------------------------------------------------------------------------
# Walking the configuration


def _number_statements(parsed, counter, numbering):
    for stmt in parsed:
        key = (stmt['line'], stmt['directive'])
        numbering[id(stmt)] = counter.get(key, 0)
        counter[key] = counter.get(key, 0) + 1
        if stmt['block'] is not None:
            _number_statements(stmt['block'], counter, numbering)


def walk(payload, max_depth=32, blocks=False):
    """Yield (file, stmt, ctx, occurrence) for every directive reached from the main file.

    ``ctx`` is a tuple of (directive, args) of the enclosing blocks (includes are transparent);
    ``occurrence`` numbers statements of the same directive on the same line of a file. With
    ``blocks``, a fifth item names the enclosing block instances: a tuple with one key per
    enclosing block, so a file included in two places puts its directives into two different
    blocks (what nginx's inheritance between levels follows, where ``ctx`` may be equal).
    """
    config = payload.get('config') or []
    numbering = {}
    for entry in config:
        _number_statements(entry['parsed'], {}, numbering)

    def visit(index, ctx, path, stack):
        if index in stack or len(stack) > max_depth or index >= len(config):
            return
        entry = config[index]
        yield from _visit_block(entry['parsed'], entry['file'], ctx, path, stack + (index,))

    def _visit_block(parsed, fname, ctx, path, stack):
        for stmt in parsed:
            yield fname, stmt, ctx, numbering.get(id(stmt), 0), path
            if stmt['directive'] == 'include':
                for index in stmt.get('includes') or []:
                    yield from visit(index, ctx, path, stack)
            if stmt['block'] is not None:
                inner = ctx + ((stmt['directive'], tuple(stmt['args'])),)
                yield from _visit_block(stmt['block'], fname, inner, path + (id(stmt),), stack)

    if config:
        for item in visit(0, (), (), ()):
            yield item if blocks else item[:4]
