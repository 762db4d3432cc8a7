"""Environments: versions, and jobs in a venv built once from the spec."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from studio_ext import Environment, Workspace, command
from studio_ext.errors import InvalidInput, NotFound
from tests.helpers import completed_log


def test_registering_versions_and_reusing_an_identical_spec(workspace: Workspace) -> None:
    v1 = workspace.environments.create_or_update(Environment(name="sk", pip_requirements=["scikit-learn"]))
    same = workspace.environments.create_or_update(Environment(name="sk", pip_requirements=["scikit-learn"]))
    v2 = workspace.environments.create_or_update(Environment(name="sk", pip_requirements=["scikit-learn", "pandas"]))
    assert (v1.version, same.version, v2.version) == ("1", "1", "2")
    assert workspace.environments.get("sk").version == "2"
    assert workspace.environments.get("sk", version=1).pip_requirements == ["scikit-learn"]
    assert [e.version for e in workspace.environments.list("sk")] == ["1", "2"]
    with pytest.raises(NotFound, match="Environment 'sk' version 9 does not exist"):
        workspace.environments.get("sk", 9)


def test_conda_files_are_read_for_their_pip_section(workspace: Workspace, tmp_path: Path) -> None:
    conda = tmp_path / "env.yml"
    conda.write_text("name: x\ndependencies:\n  - python=3.11\n  - numpy=2.0\n  - pip:\n    - tomli-w\n")
    env = workspace.environments.create_or_update(Environment(name="conda-env", conda_file=str(conda)))
    from studio_ext.backends.local.jobs.environments import requirements_of

    assert requirements_of(workspace.environments.get(env.name)) == ["numpy==2.0.*", "tomli-w"]
    bad = tmp_path / "bad.yml"
    bad.write_text("dependencies: [unclosed\n")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        workspace.environments.create_or_update(Environment(name="bad", conda_file=str(bad)))
    assert [e.name for e in workspace.environments.list() if not e.name.startswith("AzureML-")] == ["conda-env"]


@pytest.fixture(scope="module")
def tomli_ws(module_workspace: Workspace) -> Workspace:
    """One workspace for the two tests whose environments come to the same spec (tomli-w on this
    Python): the second finds the venv the first built, as two such environments share one build."""
    return module_workspace


@pytest.mark.slow
def test_a_job_on_a_pip_environment_runs_in_its_own_cached_venv(tomli_ws: Workspace, code_dir: Path) -> None:
    workspace = tomli_ws
    env = workspace.environments.create_or_update(Environment(name="tiny", pip_requirements=["tomli-w"]))
    (code_dir / "which.py").write_text("import sys, tomli_w\nprint('PY', sys.executable)\n")
    names = []
    for _ in range(2):
        job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python which.py",
                                                      environment=f"{env.name}:{env.version}"))
        completed_log(workspace, job)
        names.append(job.name)
    pythons = {line for n in names for line in workspace.jobs.get_logs(n).splitlines() if line.startswith("PY ")}
    assert len(pythons) == 1 and sys.executable not in pythons.pop()
    assert len(list((workspace.path / "envs").glob("*/.ready"))) == 1


def test_python_versions_are_found_on_this_machine_or_not_at_all() -> None:
    from studio_ext.backends.local.jobs.environments import find_python, python_request_of

    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert find_python(here) == (sys.executable, "the studio's interpreter")
    assert find_python(f"{here}.0")[0] == sys.executable
    assert find_python(">=3.8")[0] == sys.executable
    assert find_python("2.6") == (None, "")
    assert find_python("<3.0") == (None, "")
    assert python_request_of(Environment(name="x", pip_requirements=["a"])) is None


@pytest.mark.slow
def test_a_conda_python_that_is_not_on_this_machine_is_named_in_the_log(tomli_ws: Workspace, code_dir: Path,
                                                                         tmp_path: Path) -> None:
    workspace = tomli_ws
    conda = tmp_path / "conda.yml"
    conda.write_text("name: old\ndependencies:\n  - python=3.5\n  - pip\n  - pip:\n    - tomli-w\n")
    env = workspace.environments.create_or_update(Environment(name="old-py", conda_file=str(conda),
                                                              image="mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"))
    (code_dir / "which.py").write_text("import sys, tomli_w\nprint('PY', sys.version_info[:2], sys.executable)\n")
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python which.py",
                                                  environment=f"{env.name}:{env.version}"))
    log = completed_log(workspace, job, timeout=600)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert log.startswith(f"Environment old-py:1 runs in a venv built from its conda file (Python {here}, the "
                          "studio's interpreter), cached in ")
    assert "The image 'mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04' is kept for Azure." in log
    assert ("python=3.5 is asked for, but no such interpreter is on this machine (looked for python3.5 on PATH, "
            f"in pyenv and with 'uv python find'); the venv uses Python {here}.") in log
    assert f"PY ({sys.version_info.major}, {sys.version_info.minor})" in log and sys.executable not in log.split("PY")[-1]
    # With no Python 3.5 its spec is tomli-w on this Python, as 'tiny' above: the same venv, built once.
    assert len(list((workspace.path / "envs").glob("*/.ready"))) == 1


@pytest.mark.slow
def test_a_conda_python_that_is_on_this_machine_is_the_venvs(workspace: Workspace, code_dir: Path,
                                                            tmp_path: Path) -> None:
    from studio_ext.backends.local.jobs.environments import find_python

    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    others = [v for v in ("3.12", "3.10", "3.13", "3.9") if v != here and find_python(v)[0]]
    assert others, "this test needs a second Python (python3.X on PATH, pyenv or uv); scripts/test-prereqs.sh"
    wanted = others[0]
    conda = tmp_path / "conda.yml"
    conda.write_text(f"name: other\ndependencies:\n  - python={wanted}\n  - pip\n  - pip:\n    - tomli-w\n")
    env = workspace.environments.create_or_update(Environment(name="other-py", conda_file=str(conda)))
    (code_dir / "which.py").write_text("import sys, tomli_w\nprint('PY %d.%d' % sys.version_info[:2])\n")
    job = workspace.jobs.create_or_update(command(code=str(code_dir), command="python which.py",
                                                  environment=f"{env.name}:{env.version}"))
    log = completed_log(workspace, job, timeout=600)
    assert log.startswith(f"Environment other-py:1 runs in a venv built from its conda file (Python {wanted}, ")
    assert f"PY {wanted}" in log
