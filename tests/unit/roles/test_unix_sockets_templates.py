# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The unix_sockets role's socket units, rendered as the role renders them."""

from __future__ import annotations

import configparser
import os

import jinja2

ROLE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles', 'unix_sockets')
PROPOSED = {'unit': 'shop.service', 'server': 'uwsgi', 'socket': '/run/shop/uwsgi.sock', 'tcp_listen': [],
            'dropin_path': '/etc/systemd/system/shop.service.d/keeplocal-unix-socket.conf',
            'handover_socket': '/run/shop/uwsgi.handover.sock', 'handover_name': 'shop-keeplocal-handover'}


def socket_section(template):
    with open(os.path.join(ROLE, 'templates', template)) as handle:
        text = jinja2.Template(handle.read()).render(
            unix_sockets_p=PROPOSED, unix_sockets_socket_user='shop', unix_sockets_socket_group='www-data',
            unix_sockets_socket_mode='0660', unix_sockets_address='127.0.0.1:8000')
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return parser['Socket']


def test_stopping_either_socket_unit_removes_its_file():
    # Back to TCP (state absent) and a rollback stop the socket units: no socket file may stay in /run
    # (seen with Radicale under uWSGI: /run/radicale-http/uwsgi.sock was left after the revert).
    assert socket_section('app.socket.j2')['RemoveOnStop'] == 'yes'
    assert socket_section('handover.socket.j2')['RemoveOnStop'] == 'yes'


def test_the_socket_unit_holds_the_socket_for_nginx():
    section = socket_section('app.socket.j2')
    assert (section['ListenStream'], section['SocketUser'], section['SocketGroup'], section['SocketMode']) == (
        '/run/shop/uwsgi.sock', 'shop', 'www-data', '0660')
