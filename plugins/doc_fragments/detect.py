# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """What the detection (info) modules share: read-only attributes and the address options."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode when in check mode).
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

    INTERNAL_CIDRS = r"""
options:
  internal_cidrs:
    description:
      - Internal (private) address ranges. An address outside them is public.
    type: list
    elements: str
    default: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '::1/128', 'fc00::/7']
"""

    PUBLIC_ADDRESSES = r"""
options:
  public_addresses:
    description:
      - Public addresses of the fleet's NAT (for example a cloud NAT gateway's addresses). An address
        listed here counts as public even inside O(internal_cidrs) (for example behind carrier-grade NAT).
    type: list
    elements: str
    default: []
"""
