# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The internal-network default is stated once (module_utils._addresses); every place users read it agrees."""

from __future__ import annotations

import os

import yaml

from ansible_collections.keeplocal.traffic.plugins.doc_fragments.detect import ModuleDocFragment
from ansible_collections.keeplocal.traffic.plugins.module_utils._addresses import DEFAULT_INTERNAL_CIDRS
from ansible_collections.keeplocal.traffic.plugins.plugin_utils._plan import Networks

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _yaml(*path):
    with open(os.path.join(ROOT, *path), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def test_planner_uses_the_constant():
    assert [str(net) for net in Networks().internal] == DEFAULT_INTERNAL_CIDRS


def test_detect_role_default_and_spec():
    assert _yaml('roles', 'hairpin_detect', 'defaults', 'main.yml')['hairpin_detect_internal_cidrs'] == DEFAULT_INTERNAL_CIDRS
    spec = _yaml('roles', 'hairpin_detect', 'meta', 'argument_specs.yml')['argument_specs']['main']['options']
    assert spec['hairpin_detect_internal_cidrs']['default'] == DEFAULT_INTERNAL_CIDRS


def test_module_doc_fragment():
    fragment = yaml.safe_load(ModuleDocFragment.INTERNAL_CIDRS)
    assert fragment['options']['internal_cidrs']['default'] == DEFAULT_INTERNAL_CIDRS


def test_watch_role_default_and_spec():
    assert _yaml('roles', 'hairpin_watch', 'defaults', 'main.yml')['hairpin_watch_internal_cidrs'] == DEFAULT_INTERNAL_CIDRS
    spec = _yaml('roles', 'hairpin_watch', 'meta', 'argument_specs.yml')['argument_specs']['main']['options']
    assert spec['hairpin_watch_internal_cidrs']['default'] == DEFAULT_INTERNAL_CIDRS
