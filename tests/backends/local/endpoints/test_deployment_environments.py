"""An online deployment whose environment asks for packages serves from that environment's venv."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from studio_ext import Environment, Workspace
from studio_ext.entities import CodeConfiguration, ManagedOnlineDeployment, ManagedOnlineEndpoint

SCORE = '''
import importlib.metadata, sys
import text_unidecode, tomli_w

def init():
    pass

def run(raw_data):
    return {"tomli_w": importlib.metadata.version("tomli-w"), "tomli_w_file": tomli_w.__file__,
            "unidecode": text_unidecode.unidecode("caf\\u00e9"), "python": sys.executable}
'''


@pytest.mark.slow
def test_a_deployment_with_a_conda_environment_serves_from_its_venv(workspace: Workspace, tmp_path: Path) -> None:
    import importlib.metadata

    assert importlib.metadata.version("tomli-w") != "1.0.0"  # the venv's pin differs from the studio's
    conda = tmp_path / "conda.yml"
    conda.write_text(f"name: score\ndependencies:\n  - python={sys.version_info.major}.{sys.version_info.minor}\n"
                     "  - pip\n  - pip:\n    - tomli-w==1.0.0\n    - text-unidecode==1.3\n")
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(SCORE)
    env = workspace.environments.create_or_update(Environment(name="score-env", conda_file=str(conda)))
    workspace.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="envs")).result(timeout=120)
    try:
        workspace.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="blue", endpoint_name="envs", environment=f"azureml:{env.name}:{env.version}",
            code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"))).result(timeout=300)
        endpoint = workspace.online_endpoints.get("envs")
        key = workspace.online_endpoints.get_keys("envs").primary_key
        answer = httpx.post(endpoint.scoring_uri, json={"data": []}, headers={"Authorization": f"Bearer {key}"},
                            timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        venvs = workspace.path / "envs"
        assert body["tomli_w"] == "1.0.0" and body["unidecode"] == "cafe"
        assert Path(body["tomli_w_file"]).is_relative_to(venvs) and Path(body["python"]).is_relative_to(venvs)
        log = workspace.online_deployments.get_logs("blue", "envs")
        assert "Environment score-env:1 runs in a venv built from its conda file" in log
    finally:
        workspace.online_endpoints.begin_delete("envs").result(timeout=120)


def test_a_deployment_on_a_curated_environment_says_so_in_its_log(workspace: Workspace, tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text("import sys\ndef init():\n    pass\ndef run(raw_data):\n    return sys.executable\n")
    workspace.online_endpoints.begin_create_or_update(ManagedOnlineEndpoint(name="curated")).result(timeout=120)
    try:
        workspace.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="blue", endpoint_name="curated", environment="AzureML-sklearn-1.5@latest",
            code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"))).result(timeout=120)
        assert workspace.online_endpoints.invoke("curated", request_data={}).strip('"') == sys.executable
        log = workspace.online_deployments.get_logs("blue", "curated")
        assert "Environment AzureML-sklearn-1.5:44 is curated" in log
    finally:
        workspace.online_endpoints.begin_delete("curated").result(timeout=120)
