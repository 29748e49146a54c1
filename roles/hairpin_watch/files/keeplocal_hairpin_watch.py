# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run of the keeplocal.traffic hairpin watch collector (installed by keeplocal.traffic.hairpin_watch).

Run it as its systemd unit does: python3 -I keeplocal_hairpin_watch.py --config /etc/keeplocal-hairpin-watch.json
"""

import os
import sys

# The module_utils it needs sit next to it, in an ansible_collections tree of their own (python -I
# keeps PYTHONPATH and the user's site-packages out).
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from ansible_collections.keeplocal.traffic.plugins.module_utils._watch import main  # noqa: E402  pylint: disable=wrong-import-position

sys.exit(main())
