"""The node code runs on Dask workers that have no studio_ext installed: it travels by value."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cloudpickle

from studio_ext.backends.local.compute import node
from studio_ext.backends.local.compute.pools import ship_node_code_by_value
from studio_ext.backends.local.core.processes import JOB_MARKER
from studio_ext.backends.local.jobs.runner import WRAPPER

# Run where importing studio_ext fails, as on a worker of an attached cluster without it.
WORKER = """import pickle, sys
sys.modules["studio_ext"] = None
run_job, end_job_process = pickle.loads(open(sys.argv[1], "rb").read())
launch = pickle.loads(open(sys.argv[2], "rb").read())
outcome = run_job(launch, lambda: False, "tcp://worker")
print(outcome["outcome"], outcome["returncode"], end_job_process(outcome["pid"], outcome["pid_start"], "gone:run"))
"""


def test_a_job_runs_through_the_node_code_where_studio_ext_is_not_installed(tmp_path: Path) -> None:
    ship_node_code_by_value()
    job_dir = tmp_path / "job"
    (job_dir / "code").mkdir(parents=True)
    shutil.copyfile(WRAPPER, job_dir / "_wrap.py")
    launch = {"job_name": "j", "job_dir": str(job_dir), "cwd": str(job_dir / "code"),
              "argv": [node.NODE_PYTHON, "-c", "print('ran on the node')"],
              "env": {JOB_MARKER: "j:run"}, "wrapper": str(job_dir / "_wrap.py"),
              "exit_file": str(job_dir / "exit.json"), "log_file": str(job_dir / "log.txt")}
    (tmp_path / "code.pkl").write_bytes(cloudpickle.dumps((node.run_job, node.end_job_process)))
    (tmp_path / "launch.pkl").write_bytes(cloudpickle.dumps(launch))
    done = subprocess.run([sys.executable, "-c", WORKER, str(tmp_path / "code.pkl"), str(tmp_path / "launch.pkl")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["exited", "0", "False"]
    assert json.loads((job_dir / "exit.json").read_text())["exit_code"] == 0
    assert (job_dir / "log.txt").read_text() == "ran on the node\n"
