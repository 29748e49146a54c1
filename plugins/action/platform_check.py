# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin keeplocal.traffic.platform_check: stop a role on a platform it does not support.

The policy is ``plugin_utils._platform`` (tested: Debian 12 and 13; other Debian-family releases warn;
other families fail). The host's distribution facts are read from ``ansible_facts``; when the play
gathered none (``gather_facts: false``), the ``distribution`` subset alone is gathered (one setup
run) and kept as the host's facts, so the role's later tasks and roles after it read them too.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.keeplocal.traffic.plugins.plugin_utils import _platform

ARGUMENT_SPEC = {'role': {'type': 'str'}}


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def _role_name(self, given):
        if given:
            return given
        role = getattr(self._task, '_role', None)
        if role is None:
            raise AnsibleActionFail('platform_check: set role (the task is not in a role)')
        return role.get_name(include_role_fqcn=False)

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        role = self._role_name(args.get('role'))
        host = task_vars.get('inventory_hostname', '?')

        facts = dict(task_vars.get('ansible_facts') or {})
        if _platform.missing_facts(facts):
            setup = self._execute_module(module_name='ansible.legacy.setup',
                                         module_args={'gather_subset': list(_platform.GATHER_SUBSET)},
                                         task_vars=task_vars)
            if setup.get('failed') or 'ansible_facts' not in setup:
                result.update(failed=True, msg='%s: could not read the distribution of %s (%s). Nothing was changed.'
                              % (role, host, setup.get('msg', 'setup returned no facts')))
                return result
            gathered = {name: value for name, value in setup['ansible_facts'].items() if name in _platform.KEPT_FACTS}
            result['ansible_facts'] = gathered
            facts.update((name[len('ansible_'):], value) for name, value in gathered.items())

        verdict = _platform.assess(facts, role, host)
        result.update(changed=False, role=role, platform=verdict['platform'], status=verdict['status'],
                      gathered='ansible_facts' in result)
        if verdict['status'] == 'unsupported':
            result.update(failed=True, msg=verdict['message'])
        elif verdict['status'] == 'untested':
            result['msg'] = verdict['message']
            result.setdefault('warnings', []).append(verdict['message'])
        else:
            result['msg'] = '%s: %s is tested' % (role, _platform.describe(facts))
        return result
