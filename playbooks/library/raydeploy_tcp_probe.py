#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# raydeploy_tcp_probe: open one TCP connection and say how it went (read-only).
# Copyright (C) raydeploy contributors

from __future__ import annotations

DOCUMENTATION = r'''
---
module: raydeploy_tcp_probe
short_description: Try one TCP connection from the host and classify the outcome
description:
  - Resolves O(host) and opens a TCP connection to O(port), then closes it. Nothing is sent.
  - Unlike M(ansible.builtin.wait_for) it tells the outcomes apart, which is what makes a useful
    error message. C(open) means something accepted the connection. C(refused) means the host
    answered but nothing listens on the port, so the host is reachable. C(timeout) means no answer
    within O(timeout) seconds, typically because a firewall drops the packets. C(unreachable) means
    there is no route to the host or the network is unreachable, C(unresolved) means the name does
    not resolve, and C(error) covers anything else.
  - Never fails because of the outcome; the caller decides what is a problem.
version_added: "1.0.0"
author: raydeploy contributors
options:
  host:
    description: Name or address to connect to.
    type: str
    required: true
  port:
    description: TCP port.
    type: int
    required: true
  timeout:
    description: Seconds to wait for the connection.
    type: float
    default: 5
notes:
  - Supports check mode (it changes nothing either way).
'''

EXAMPLES = r'''
- name: Can this worker reach the Ray head's GCS port?
  raydeploy_tcp_probe:
    host: 10.0.0.10
    port: 6379
  register: gcs_probe
'''

RETURN = r'''
state:
  description: One of C(open), C(refused), C(timeout), C(unreachable), C(unresolved), C(error).
  returned: always
  type: str
  sample: refused
address:
  description: The address the name resolved to (the last one tried).
  returned: when the name resolved
  type: str
error:
  description: The system's error message, when the connection did not open.
  returned: when state is not open
  type: str
elapsed:
  description: Seconds the probe took.
  returned: always
  type: float
'''

import errno
import socket
import time

from ansible.module_utils.basic import AnsibleModule

UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


def probe(host, port, timeout):
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return {'state': 'unresolved', 'error': str(exc)}
    outcome = {'state': 'error', 'error': 'no address'}
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
            return {'state': 'open', 'address': sockaddr[0]}
        except socket.timeout as exc:
            outcome = {'state': 'timeout', 'address': sockaddr[0], 'error': str(exc) or 'timed out'}
        except ConnectionRefusedError as exc:
            # The host answered: nothing more to learn from its other addresses.
            return {'state': 'refused', 'address': sockaddr[0], 'error': str(exc)}
        except OSError as exc:
            state = 'unreachable' if exc.errno in UNREACHABLE else 'error'
            outcome = {'state': state, 'address': sockaddr[0], 'error': str(exc)}
        finally:
            sock.close()
    return outcome


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type='str', required=True),
            port=dict(type='int', required=True),
            timeout=dict(type='float', default=5),
        ),
        supports_check_mode=True,
    )
    started = time.monotonic()
    result = probe(module.params['host'], module.params['port'], module.params['timeout'])
    result['elapsed'] = round(time.monotonic() - started, 3)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
