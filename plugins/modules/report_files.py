# Copyright (c) 2026 keeplocal.traffic contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: report_files
short_description: Write report files on the controller, atomically and without a remote temporary directory
version_added: 0.2.0
description:
  - Writes text files (the plan, the Markdown and HTML reports, the measurements) into one directory on the
    controller. It runs entirely in the controller's ansible-playbook process (an action plugin; no module is sent
    anywhere), so it never creates the remote temporary directory (C(~/.ansible/tmp/ansible-tmp-*)) that
    C(ansible.builtin.copy) needs even when delegated to C(localhost), and which another job on a busy controller can
    remove while a run is using it.
  - Each file is written to a temporary file in O(dir) and renamed over the old one, so a reader, or another run
    writing the same report, sees either the old file or the new one, never a part. A file whose content and mode
    are already right is left alone.
  - O(dir) is created when it is missing.
  - The files are the run's output, so they are written in check mode too; managed hosts are never touched.
options:
  dir:
    description:
      - The directory on the controller, absolute or relative to the directory ansible-playbook runs in.
    type: path
    required: true
  files:
    description:
      - The files to write, in this order.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - File name inside O(dir), without a path separator.
        type: str
        required: true
      content:
        description:
          - The file's text, written as UTF-8.
        type: str
        required: true
  mode:
    description:
      - Permissions of the files, in octal.
    type: str
    default: "0644"
  dir_mode:
    description:
      - Permissions of O(dir) when it is created, in octal.
    type: str
    default: "0755"
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: N/A
    details: The report files are the run's output on the controller and are written in check mode too.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode when in check mode).
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details: Runs on the controller only, whatever the host or the connection of the task.
notes:
  - Use it with O(ignore:run_once=true) and, so the task line names the controller, O(ignore:delegate_to=localhost).
author:
  - keeplocal.traffic contributors (@keeplocal)
"""

EXAMPLES = r"""
- name: Write the plan and the reports next to the playbook
  keeplocal.traffic.report_files:
    dir: "{{ playbook_dir }}/keeplocal-report"
    files:
      - {name: plan.json, content: "{{ hairpin_plan | to_nice_json(sort_keys=true) }}\n"}
      - {name: report.md, content: "{{ hairpin_plan | keeplocal.traffic.report_markdown }}"}
      - {name: report.html, content: "{{ hairpin_plan | keeplocal.traffic.report_html }}"}
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
dir:
  description: The directory, absolute.
  returned: success
  type: str
  sample: /home/ops/keeplocal-report
paths:
  description: The files' absolute paths, in the order given.
  returned: success
  type: list
  elements: str
  sample: [/home/ops/keeplocal-report/plan.json, /home/ops/keeplocal-report/report.md]
changed_paths:
  description: The files this run wrote (the others already had this content and mode).
  returned: success
  type: list
  elements: str
  sample: [/home/ops/keeplocal-report/report.md]
"""
