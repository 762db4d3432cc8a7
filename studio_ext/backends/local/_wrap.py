"""Runs one job's command and records how it ended, with the standard library only.

Started by the supervisor as ``python _wrap.py EXIT_FILE LOG_FILE -- ARGV...`` in a
new session, so cancel can end the whole group and a restarted supervisor can
still learn the exit code from EXIT_FILE (written atomically).
"""

import json
import os
import signal
import subprocess
import sys
import time


def main() -> int:
    exit_file, log_file = sys.argv[1], sys.argv[2]
    argv = sys.argv[sys.argv.index("--") + 1:]
    started = time.time()
    with open(log_file, "ab", buffering=0) as log:
        try:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        except OSError as exc:
            log.write(f"Could not start {argv[0]!r}: {exc}\n".encode())
            code, error = 127, f"Could not start {argv[0]!r}: {exc}"
        else:
            def forward(signum, _frame):
                proc.send_signal(signum)

            signal.signal(signal.SIGTERM, forward)
            signal.signal(signal.SIGINT, forward)
            code = proc.wait()
            error = None
    tmp = exit_file + ".tmp"
    with open(tmp, "w") as handle:
        json.dump({"exit_code": code, "error": error, "started": started, "ended": time.time()}, handle)
    os.replace(tmp, exit_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
