# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: platform_check
short_description: Stop a role before any change on a platform it does not support
version_added: 0.2.0
description:
  - The first task of every role of the collection that changes hosts (C(conntrack_tuning), C(hairpin_watch),
    C(local_shortcut), C(split_dns), C(unix_sockets)). It reads the host's distribution and decides, with the one
    list of tested platforms the collection keeps.
  - Debian 12 (bookworm), the tested platform, passes.
  - Another release of the Debian family (Ubuntu, Debian 13, ...) passes with a warning naming it as not tested; the
    roles use that family's packages, paths and tools.
  - "Any other family (RedHat, Suse, ...) fails, naming the role, the family and the tested platform, for example
    'split_dns: the RedHat family is not supported by this role yet (tested: Debian 12, Debian 13); db1 runs Rocky 9.4.
    Nothing was changed.'"
  - "It reads the facts C(os_family), C(distribution) and C(distribution_major_version) from C(ansible_facts). When
    they are missing (the plays run with C(gather_facts: false)), it gathers the C(distribution) subset only and keeps
    those facts for the host."
  - Detection (C(hairpin_detect) and the modules) is not checked; it reads C(/proc) and netlink with Python's
    standard library on any Linux distribution.
options:
  role:
    description:
      - The role named in the messages. Defaults to the role the task is in; required outside a role.
    type: str
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: It only reads.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode when in check mode).
    support: none
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
    support: full
    details: Only when it had to gather the distribution facts.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
author:
  - keeplocal.traffic contributors (@keeplocal)
"""

EXAMPLES = r"""
# roles/<role>/tasks/main.yml, first task:
- name: Check the platform (before any change)
  keeplocal.traffic.platform_check:

# Outside a role:
- name: Would split_dns run here?
  keeplocal.traffic.platform_check:
    role: split_dns
"""

RETURN = r"""
status:
  description: C(tested), C(untested) (a warning too) or C(unsupported) (the task fails).
  returned: always
  type: str
  sample: untested
role:
  description: The role the verdict is for.
  returned: always
  type: str
  sample: split_dns
platform:
  description: The host's distribution as the check read it.
  returned: always
  type: dict
  sample: {os_family: Debian, distribution: Ubuntu, major_version: "24", version: "24.04", release: noble}
gathered:
  description: Whether the distribution facts had to be gathered (and are now the host's facts).
  returned: always
  type: bool
  sample: true
msg:
  description: The verdict in words (the warning when untested, the failure when unsupported).
  returned: always
  type: str
  sample: "split_dns: Debian 12.11 (bookworm) is tested"
"""
