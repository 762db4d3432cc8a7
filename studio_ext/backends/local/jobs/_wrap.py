"""Runs one job's command, ends what the command leaves running, and records how it ended.

Started by the supervisor (or a compute node) as ``python -S _wrap.py EXIT_FILE LOG_FILE -- ARGV...``
in a new session, so cancel can end the whole group and a restarted supervisor can
still learn the exit code from EXIT_FILE (written atomically).

On Linux the wrapper is a child subreaper (``prctl(PR_SET_CHILD_SUBREAPER)``): a
process the job orphans, such as a daemon that forks twice and leaves the session, is
re-parented to the wrapper instead of to init. So when the command ends, everything
the job started is still below the wrapper, which ends it (SIGTERM, then SIGKILL after
:data:`GRACE_SECONDS`) before it records the exit. A process that left the session and
dropped the job's marker (``STUDIO_EXT_JOB``, see ``core/processes.py``) from its
environment is let go. If the wrapper itself is killed, the supervisor finds the job's
processes by that marker and by the session (``core/processes.py``).

Every job pays for this process's start before its own script starts, so it uses
only modules built into the interpreter and ``_ctypes`` (for ``prctl``): ``subprocess``,
``signal`` and ``json`` would import ``enum``, ``re`` and friends, 30 ms of CPU per
job (measured with ``python -X importtime -S``), on the path from one job to the next
on a node. The common end (nothing left running) costs one ``waitpid``.
"""

import _signal  # the C module behind ``signal``, which would import enum
import os
import sys
import time

GRACE_SECONDS = 5.0
PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
MARKER = "STUDIO_EXT_JOB"


def become_subreaper() -> bool:
    """Keep the job's orphans as this process's children (Linux); False where that is not possible.

    Through ``_ctypes``, the C module behind ``ctypes``: ``import ctypes`` would add
    ``types``, ``struct`` and its own Python code, 3 ms of CPU per job.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import _ctypes

        if hasattr(_ctypes, "call_function"):
            prctl = _ctypes.dlsym(_ctypes.dlopen(None), "prctl")
            return _ctypes.call_function(prctl, (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (ImportError, OSError, AttributeError):  # no ctypes or no prctl: the supervisor's sweep still runs
        return False


def reap() -> bool:
    """Collect every child that ended; True while some child still runs."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        except InterruptedError:
            continue
        if pid == 0:
            return True


def _stat(pid: str) -> tuple[int, int, str] | None:
    """(parent pid, session id, state) of a process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[3]), fields[0].decode()


def _marked(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return marker in b"\0" + handle.read()
    except OSError:
        return False


def leftovers(marker: str | None) -> list[int]:
    """The processes below this one that still run and belong to the job."""
    me, session = os.getpid(), os.getsid(0)
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(entry)
            if stat is not None and stat[2] != "Z":
                children.setdefault(stat[0], []).append((int(entry), stat[1]))
    wanted = ("\0" + MARKER + "=" + marker + "\0").encode() if marker else None
    found, todo = [], [me]
    while todo:
        for pid, sid in children.get(todo.pop(), ()):
            todo.append(pid)  # below a process that is let go, its children may still be the job's
            if wanted is None or sid == session or _marked(pid, wanted):
                found.append(pid)
    return found


def end_leftovers(marker: str | None, grace: float = GRACE_SECONDS) -> None:
    """End what the job (marked ``marker``) left running below this process: SIGTERM, then SIGKILL after
    ``grace`` seconds."""
    if not reap():
        return  # the common case: nothing left
    signum, deadline = _signal.SIGTERM, time.monotonic() + grace
    while True:
        pids = leftovers(marker)
        if not pids or time.monotonic() > deadline + grace:  # the rest cannot be killed (stuck in the kernel)
            return
        for pid in pids:
            try:
                os.kill(pid, signum)
            except OSError:  # ended meanwhile
                pass
        if signum == _signal.SIGTERM:
            while reap() and leftovers(marker) and time.monotonic() < deadline:
                time.sleep(0.05)
            signum = _signal.SIGKILL  # what is left, and what it started meanwhile
        else:
            time.sleep(0.02)
            reap()


# -- the log's cap: the job writes its log directly, so the wrapper cuts it from the side --------------
LOG_CAP_VARIABLE = "STUDIO_EXT_JOB_LOG_MAX_MB"
DEFAULT_LOG_CAP_MB = 100
LOG_CHECK_SECONDS = 1.0
_LOG_NOTE = ("\n[studio-ext] {cut:>19,} bytes of this log were cut here to keep it under {cap:,} MB; the start "
             "and the end are kept. Set " + LOG_CAP_VARIABLE + " (0: no cap) in the job's environment variables "
             "to change it.\n")


def log_cap_bytes() -> int:
    """The cap from the environment, in bytes; 0 when there is none."""
    raw = os.environ.get(LOG_CAP_VARIABLE, "").strip()
    return int(raw) << 20 if raw.isdigit() else DEFAULT_LOG_CAP_MB << 20


def cap_log(path: str, cap: int, state: dict) -> None:
    """Past ``cap`` bytes, cut the middle of the log: keep its first half and its last quarter with a note between.

    The job appends (O_APPEND) while this runs, so the end is copied down until the size holds
    still, then the file is cut there; a write landing in that instant can be lost, which the
    note covers. ``state`` carries the cut's place and the bytes cut so far from call to call.
    """
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return
    try:
        size = os.fstat(fd).st_size
        if size <= cap:
            return
        note_len = len(_LOG_NOTE.format(cut=0, cap=cap >> 20).encode())
        if "head" not in state:
            state["head"], state["cut"] = _after_newline(fd, max(cap // 2 - 65536, 0), cap // 2, last=True), 0
        head = state["head"]
        body = head + (note_len if state["cut"] else 0)  # where the kept text after the note starts
        src = _after_newline(fd, size - cap // 4, size - cap // 4 + 65536, last=False)
        state["cut"] += src - body
        os.pwrite(fd, _LOG_NOTE.format(cut=state["cut"], cap=cap >> 20).encode(), head)
        dst = head + note_len
        for _ in range(20):  # until the job stops appending during the copy
            end = os.fstat(fd).st_size
            while src < end:
                chunk = os.pread(fd, min(1 << 20, end - src), src)
                if not chunk:
                    break
                os.pwrite(fd, chunk, dst)
                src, dst = src + len(chunk), dst + len(chunk)
            if os.fstat(fd).st_size == end:
                break
        os.ftruncate(fd, dst)
    except OSError:  # a full disk: the log stays as it is
        pass
    finally:
        os.close(fd)


def _after_newline(fd: int, start: int, end: int, *, last: bool) -> int:
    """Just after the last (or first) newline in [start, end) of the file; ``end`` (or ``start``) if none."""
    data = os.pread(fd, end - start, start)
    at = data.rfind(b"\n") if last else data.find(b"\n")
    return start + at + 1 if at >= 0 else (end if last else start)


def watch_log(path: str, cap: int, state: dict, lock: object) -> None:
    """The wrapper's second thread: check the log's size every second while the job runs."""
    while True:
        time.sleep(LOG_CHECK_SECONDS)
        with lock:  # held by the main thread from the job's end: never cut while the wrapper exits
            cap_log(path, cap, state)


def main() -> int:
    exit_file, log_file = sys.argv[1], sys.argv[2]
    argv = sys.argv[sys.argv.index("--") + 1:]
    started = time.time()
    child = 0

    def forward(signum: int, _frame: object) -> None:
        if child:
            try:
                os.kill(child, signum)
            except ProcessLookupError:  # it ended and is not collected yet
                pass

    # Before the spawn: a signal meant for the job must not end the wrapper before it records the end.
    _signal.signal(_signal.SIGTERM, forward)
    _signal.signal(_signal.SIGINT, forward)
    subreaper = become_subreaper()
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
        cap, log_state = log_cap_bytes(), {}
        if cap:
            import _thread  # built in, as threading is not

            log_lock = _thread.allocate_lock()
            _thread.start_new_thread(watch_log, (log_file, cap, log_state, log_lock))
        status = os.waitpid(child, 0)[1]
        child = 0  # collected: its pid may name another process from now on
        code = os.waitstatus_to_exitcode(status)  # -N when ended by signal N
        if subreaper:
            end_leftovers(os.environ.get(MARKER))
        if cap:
            log_lock.acquire()  # kept: the watcher stops here
            cap_log(log_file, cap, log_state)
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
