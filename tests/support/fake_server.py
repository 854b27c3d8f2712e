"""A fake server of tests/ (fake_ray, fake_cml) as a child process of its own test (stdlib only).

The fakes start with --port 0 and print their ports as one JSON line first; this starts one, reads
that line within a deadline, waits on conditions with a deadline, and stops it with SIGTERM as a
test expects it to stop.
"""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time


class FakeServer:
    def __init__(self, script: str, *args: str, deadline_s: float = 10, poll_s: float = 0.05):
        self.deadline_s = deadline_s
        self.poll_s = poll_s
        self.process = subprocess.Popen([sys.executable, script, "--port", "0", *args], stdout=subprocess.PIPE,
                                        text=True)
        ready, _, _ = select.select([self.process.stdout], [], [], deadline_s)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.process.kill()
            self.process.wait()
            self.process.stdout.close()
            raise RuntimeError(f"{script} printed no ports within {deadline_s} s")
        self.ports = json.loads(line)

    def wait_for(self, predicate, what: str):
        """predicate()'s first truthy value, or AssertionError naming `what` at the deadline."""
        deadline = time.monotonic() + self.deadline_s
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(self.poll_s)
        raise AssertionError(f"not within {self.deadline_s} s: {what}")

    def stop(self) -> int:
        """SIGTERM and its exit code; SIGKILL (and TimeoutExpired) when it does not exit in time."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    return self.process.wait(timeout=self.deadline_s)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
                    raise
            return self.process.returncode
        finally:
            self.process.stdout.close()
