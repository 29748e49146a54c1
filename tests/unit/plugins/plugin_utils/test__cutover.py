# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a Unix-socket cutover stands after a run was killed at each of its steps."""

from __future__ import annotations

import json

import pytest

from ansible_collections.keeplocal.traffic.plugins.plugin_utils import _cutover

ADDRESS = '127.0.0.1:8000'
PROPOSED = {'unit': 'app.service', 'socket': '/run/app/gunicorn.sock', 'handover_socket': '/run/app/gunicorn.handover.sock',
            'handover_name': 'app-keeplocal-handover'}
BACKUPS = {'/etc/nginx/sites-enabled/app': '/var/backups/keeplocal/nginx/20261201T000000.000000Z-1/etc/nginx/sites-enabled/app'}


def tcp_pair(safe=True, proposed='the proposed changes'):
    proposed = PROPOSED if proposed == 'the proposed changes' else proposed
    return {'kind': 'tcp', 'address': ADDRESS, 'port': 8000, 'socket': None, 'safe': safe, 'proposed': proposed,
            'reasons': [] if safe else [{'code': 'other_clients', 'msg': 'port 8000 also has clients other than nginx: curl (1)'}]}


def unix_pair(socket):
    return {'kind': 'unix', 'address': 'unix:' + socket, 'port': None, 'socket': socket, 'safe': True, 'proposed': None,
            'reasons': []}


def discovered(*pairs):
    return {'item': {'address': ADDRESS, 'socket': '/run/{app}/gunicorn.sock'}, 'pairs': list(pairs)}


def record(state, backups=None):
    return {'format': _cutover.RECORD_FORMAT, 'version': _cutover.RECORD_VERSION,
            'pairs': {ADDRESS: {'state': state, 'socket': PROPOSED['socket'], 'proposed': PROPOSED, 'backups': backups or {}}}}


def step(item, rec=None, force=False):
    [result] = _cutover.cutover_steps([item], rec, force, '/var/lib/keeplocal/unix_sockets.json')
    return result


# nginx's target, the record -> the step, as a kill at each task of the cutover leaves them.
@pytest.mark.parametrize('killed_at, nginx, rec, expected', [
    ('before any change', 'tcp', None, 'fresh'),
    ('after writing the record, before the handover copy started', 'tcp', 'cutover', 'fresh'),
    ('after the handover copy started, before nginx moved', 'tcp', 'cutover', 'fresh'),
    ('after nginx moved to the handover socket (reloaded or not)', 'handover', 'cutover', 'resume_on_handover'),
    ('while writing the socket unit or the drop-in', 'handover', 'cutover', 'resume_on_handover'),
    ('while gunicorn starts on the final socket', 'handover', 'cutover', 'resume_on_handover'),
    ('after nginx moved to the final socket, before the reload finished', 'socket', 'cutover', 'resume_on_socket'),
    ('while the handover copy stops', 'socket', 'cutover', 'resume_on_socket'),
    ('after the record says switched', 'socket', 'switched', 'switched'),
    ('switched by a version without a record', 'socket', None, 'switched'),
])
def test_each_kill_point_has_a_next_step(killed_at, nginx, rec, expected):
    pairs = {'tcp': [tcp_pair()], 'handover': [unix_pair(PROPOSED['handover_socket'])], 'socket': [unix_pair(PROPOSED['socket'])]}
    result = step(discovered(*pairs[nginx]), record(rec, BACKUPS) if rec else None)
    assert result['problem'] is None, killed_at
    assert result['step'] == expected, killed_at


def test_a_resumed_cutover_uses_the_recorded_changes_and_the_first_backups():
    result = step(discovered(unix_pair(PROPOSED['handover_socket'])), record('cutover', BACKUPS))
    assert result['proposed'] == PROPOSED
    assert result['backups'] == BACKUPS


def test_a_fresh_start_after_a_kill_keeps_the_backups_of_the_original_files():
    assert step(discovered(tcp_pair()), record('cutover', BACKUPS))['backups'] == BACKUPS
    # A pair switched and later put back by hand starts over: its old backups are not the current files.
    assert step(discovered(tcp_pair()), record('switched', BACKUPS))['backups'] == {}


def test_a_revert_killed_on_the_handover_copy_is_completed_by_a_switch():
    # state absent moves nginx onto the handover copy first and forgets the pair last.
    result = step(discovered(unix_pair(PROPOSED['handover_socket'])), record('switched', BACKUPS))
    assert result['problem'] is None
    assert (result['step'], result['proposed'], result['backups']) == ('resume_on_handover', PROPOSED, BACKUPS)


def test_unsafe_pairs_need_force():
    result = step(discovered(tcp_pair(safe=False)))
    assert result['step'] is None
    assert 'curl (1)' in result['problem'] and 'unix_sockets_force' in result['problem']
    assert step(discovered(tcp_pair(safe=False)), force=True)['step'] == 'fresh'


def test_no_gunicorn_behind_the_port_is_refused_even_with_force():
    result = step(discovered(tcp_pair(proposed=None)), force=True)
    assert result['step'] is None and 'no app server (gunicorn, uvicorn, uWSGI or Puma)' in result['problem']


def test_an_address_nginx_does_not_proxy_to_is_refused():
    result = step(discovered())
    assert 'nginx does not proxy to it' in result['problem']


@pytest.mark.parametrize('text, message', [
    ('{"version": 1', 'is not JSON'),
    (json.dumps({'pairs': {}}), 'is not a record of keeplocal.traffic.unix_sockets'),
    (json.dumps({'format': _cutover.RECORD_FORMAT, 'version': 99, 'pairs': {}}), 'version 99, written by a newer'),
])
def test_unreadable_records_are_refused_naming_the_file(text, message):
    with pytest.raises(_cutover.RecordError, match=message) as error:
        _cutover.cutover_steps([discovered(tcp_pair())], text, False, '/var/lib/keeplocal/unix_sockets.json')
    assert '/var/lib/keeplocal/unix_sockets.json' in str(error.value)


def test_the_record_round_trips_through_its_file_text():
    written = _cutover.record_with(_cutover.read_record('', 'r'), ADDRESS, record('cutover')['pairs'][ADDRESS])
    again = _cutover.read_record(json.dumps(written), 'r')
    assert again == written
    assert _cutover.record_with(again, ADDRESS, None)['pairs'] == {}
    assert _cutover.record_with(again, None, None) == again


def test_nginx_changes_run_from_the_original_to_the_final_line():
    first = [{'file': 'f', 'line': 3, 'directive': 'server', 'before': '    server 127.0.0.1:8000;',
              'after': '    server unix:/run/app/gunicorn.handover.sock;'}]
    second = [{'file': 'f', 'line': 3, 'directive': 'server', 'before': '    server unix:/run/app/gunicorn.handover.sock;',
               'after': '    server unix:/run/app/gunicorn.sock;'}]
    [change] = _cutover.nginx_changes(first, second)
    assert (change['before'], change['after']) == ('    server 127.0.0.1:8000;', '    server unix:/run/app/gunicorn.sock;')
    assert _cutover.nginx_changes([], second) == second


def revert(item, rec=None):
    [result] = _cutover.cutover_steps([item], rec, False, '/var/lib/keeplocal/unix_sockets.json', 'absent')
    return result


@pytest.mark.parametrize('nginx, rec, expected', [
    ('socket', 'switched', 'revert'),
    ('handover', 'cutover', 'revert'),
    ('tcp', 'cutover', 'revert'),
    ('tcp', None, 'reverted'),
])
def test_state_absent_reverts_what_the_record_names(nginx, rec, expected):
    pairs = {'tcp': [tcp_pair()], 'handover': [unix_pair(PROPOSED['handover_socket'])], 'socket': [unix_pair(PROPOSED['socket'])]}
    result = revert(discovered(*pairs[nginx]), record(rec, BACKUPS) if rec else None)
    assert result['problem'] is None
    assert result['step'] == expected
    if expected == 'revert':
        assert result['proposed'] == PROPOSED and result['backups'] == BACKUPS


def test_state_absent_refuses_a_socket_it_has_no_record_of():
    result = revert(discovered(unix_pair(PROPOSED['socket'])))
    assert result['step'] is None
    assert 'no record of switching it' in result['problem'] and 'by hand' in result['problem']
