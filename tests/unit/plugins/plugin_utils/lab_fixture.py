# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's hairpin_detect_facts facts (fixtures/lab_facts.json), shared by the planner and report tests.

Modelled on the lab: gw 192.168.1.1 / 198.51.100.1 forwarding :80 -> svc-b 192.168.1.20:80 and
:5432 -> svc-c 192.168.1.30:54321 with hairpin SNAT; svc-a 192.168.1.10 is the client; svc-b runs
nginx -> gunicorn on 127.0.0.1:8000; ext 198.51.100.53 is an outside client.
"""

from __future__ import annotations

import copy
import json
import os

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')

with open(os.path.join(FIXTURES, 'lab_facts.json'), encoding='utf-8') as handle:
    _LAB = json.load(handle)

# The lab's DNS puts app.example.test and db.example.test on the same public address.
LAB_NAME_PORTS = {'app.example.test': [80], 'db.example.test': [5432]}

PAIR_80 = 'svc-a->198.51.100.1:80/tcp'
PAIR_5432 = 'svc-a->198.51.100.1:5432/tcp'
SAME_HOST_B = 'svc-b->127.0.0.1:8000/tcp'


def lab_facts():
    """A fresh deep copy (tests may edit it)."""
    return copy.deepcopy(_LAB)
