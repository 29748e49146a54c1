# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every role's meta/argument_specs.yml matches its defaults/main.yml (AAP surveys and
ansible-doc read the spec; the role runs on the defaults: they must not drift apart)."""

from __future__ import annotations

import os

import pytest
import yaml

ROLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles")
TYPES = {"str", "int", "float", "bool", "list", "dict", "path", "raw"}


def _roles():
    return sorted(name for name in os.listdir(ROLES) if os.path.isdir(os.path.join(ROLES, name)))


def _load(role, *path):
    with open(os.path.join(ROLES, role, *path), encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def test_every_role_is_checked():
    assert {"hairpin_detect", "split_dns", "unix_sockets", "local_shortcut", "conntrack_tuning"} <= set(_roles())


@pytest.mark.parametrize("role", _roles())
def test_spec_matches_defaults(role):
    defaults = _load(role, "defaults", "main.yml")
    entry_points = _load(role, "meta", "argument_specs.yml")["argument_specs"]
    # A default belongs to the entry point that reads it (hairpin_detect's plan reads facts_dirs).
    options = {}
    for entry_point in entry_points.values():
        options.update(entry_point.get("options") or {})
    assert sorted(set(defaults) - set(options)) == [], "defaults without a spec entry"
    for name, spec in options.items():
        assert name.startswith(role + "_"), "%s: variables carry the role's prefix" % name
        assert spec.get("description"), "%s: description missing" % name
        assert spec.get("type") in TYPES, "%s: type missing or unknown" % name
        if name in defaults:
            assert spec.get("default") == defaults[name], "%s: spec default differs from defaults/main.yml" % name
        if spec.get("choices") and name in defaults and defaults[name] is not None:
            values = defaults[name] if spec["type"] == "list" else [defaults[name]]
            assert set(values) <= set(spec["choices"]), "%s: default outside its choices" % name
