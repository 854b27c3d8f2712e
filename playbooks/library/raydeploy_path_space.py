#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# raydeploy_path_space: free space and writability where a path is (or will be) created (read-only).
# Copyright (C) raydeploy contributors

from __future__ import annotations

DOCUMENTATION = r'''
---
module: raydeploy_path_space
short_description: Free disk space and writability of the file systems some paths live on
description:
  - For each path, finds the path itself or, when it does not exist yet, its nearest existing
    parent, and reports the free space of that file system (what an unprivileged user may use)
    and whether the connecting user (or the become user) may write there.
  - Changes nothing.
version_added: "1.0.0"
author: raydeploy contributors
options:
  paths:
    description: Paths to look at.
    type: list
    elements: path
    required: true
notes:
  - Supports check mode.
'''

EXAMPLES = r'''
- name: Measure the space of the state directory
  raydeploy_path_space:
    paths: [/var/lib/raydeploy, /tmp/ray]
  register: space
'''

RETURN = r'''
paths:
  description: One entry per requested path, keyed by the path.
  returned: always
  type: dict
  sample: {"/var/lib/raydeploy": {"existing": "/var/lib", "exists": false, "free_gb": 61.8, "total_gb": 251.9, "writable": true}}
'''

import os

from ansible.module_utils.basic import AnsibleModule

GIB = 1024.0 ** 3


def inspect(path):
    existing = path
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    info = {'existing': existing, 'exists': existing == path}
    try:
        stats = os.statvfs(existing)
    except OSError as exc:
        info['error'] = str(exc)
        return info
    info['free_gb'] = round(stats.f_bavail * stats.f_frsize / GIB, 1)
    info['total_gb'] = round(stats.f_blocks * stats.f_frsize / GIB, 1)
    info['writable'] = os.access(existing, os.W_OK | os.X_OK)
    return info


def main():
    module = AnsibleModule(
        argument_spec=dict(paths=dict(type='list', elements='path', required=True)),
        supports_check_mode=True,
    )
    module.exit_json(changed=False, paths={p: inspect(p) for p in module.params['paths']})


if __name__ == '__main__':
    main()
