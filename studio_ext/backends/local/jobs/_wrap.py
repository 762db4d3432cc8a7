"""Runs one job's command and records how it ended, importing next to nothing.

Started by the supervisor as ``python -S _wrap.py EXIT_FILE LOG_FILE -- ARGV...`` in a
new session, so cancel can end the whole group and a restarted supervisor can
still learn the exit code from EXIT_FILE (written atomically).

Every job pays for this process's start before its own script starts, so it uses
only modules built into the interpreter: ``subprocess``, ``signal`` and ``json``
would import ``enum``, ``re`` and friends, 30 ms of CPU per job (measured with
``python -X importtime -S``), on the path from one job to the next on a node.
"""

import _signal  # the C module behind ``signal``, which would import enum
import os
import sys
import time


def main() -> int:
    exit_file, log_file = sys.argv[1], sys.argv[2]
    argv = sys.argv[sys.argv.index("--") + 1:]
    started = time.time()
    child = 0

    def forward(signum: int, _frame: object) -> None:
        if child:
            os.kill(child, signum)

    # Before the spawn: a signal meant for the job must not end the wrapper before it records the end.
    _signal.signal(_signal.SIGTERM, forward)
    _signal.signal(_signal.SIGINT, forward)
    log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    error = None
    try:
        child = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2), (os.POSIX_SPAWN_CLOSE, log)])
    except OSError as exc:
        error = f"Could not start {argv[0]!r}: {exc}"
        os.write(log, (error + "\n").encode())
        code = 127
    else:
        os.close(log)
        code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])  # -N when ended by signal N
    if error is None:  # the common case, written without json
        record = f'{{"exit_code": {code}, "error": null, "started": {started!r}, "ended": {time.time()!r}}}'
    else:
        import json

        record = json.dumps({"exit_code": code, "error": error, "started": started, "ended": time.time()})
    tmp = exit_file + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, record.encode())
    os.close(fd)
    os.replace(tmp, exit_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
