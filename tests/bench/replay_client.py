"""Replay client for scripts/bench.sh store-load: asks GET /api/v1/events?since=0&batch=true over
a WebSocket, reads for SECONDS as fast as it can and prints the bytes it got per second. Standard
library only; it counts bytes and does not parse frames, which is all the benchmark needs (the
service's frames are unmasked). Not a test: it asserts nothing.

    replay_client.py PORT SECONDS
Output: `replay_mb_per_s=N`
"""
import base64
import os
import socket
import sys
import time


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    sock = socket.create_connection(('127.0.0.1', port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(('GET /api/v1/events?since=0&batch=true HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n'
                  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
                  'Sec-WebSocket-Version: 13\r\n\r\n' % (port, key)).encode())
    head = b''
    while b'\r\n\r\n' not in head:
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit('replay_client: the service closed the connection during the handshake')
        head += chunk
    status = head.split(b'\r\n', 1)[0]
    if b' 101 ' not in status:
        sys.exit('replay_client: the handshake was refused: %s' % status.decode(errors='replace'))
    received = len(head.split(b'\r\n\r\n', 1)[1])
    deadline = time.monotonic() + seconds
    # A small store is replayed before the deadline; the connection then stays open and quiet.
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 20)
        except TimeoutError:
            break
        if not chunk:
            break
        received += len(chunk)
    print('replay_mb_per_s=%.1f' % (received / seconds / 1e6))


if __name__ == '__main__':
    main()
