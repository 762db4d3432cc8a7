"""The curated environments Azure ML ships, as the local backend knows them.

On Azure a curated environment is a Docker image with a conda environment in it
(``AzureML-sklearn-1.5``, in the ``azureml`` registry as ``sklearn-1.5``). Locally a job
on one runs in the studio's own interpreter, and its log names the packages whose
installed versions differ from the image's. This catalog holds, for each curated
environment the DP-100 course and the Azure ML docs and examples use, its description
and tags as Azure lists them, its Python version and the main packages of its
``conda_dependencies.yaml`` (from Azure/azureml-assets; ``""`` where the image takes the
newest release). The azure backend does not need it: Azure resolves these itself.

``version`` is the number ``list`` and ``get`` show when no version is asked for. Azure
publishes new versions of curated environments every few weeks and the catalog does not
follow them, so it is a representative number, not Azure's latest; a reference to any
version number resolves to the same entry, as the catalog keeps one spec each.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from studio_ext.entities import Environment

PREFIX = "AzureML-"  # the workspace names of curated environments; user environments may not take it
REGISTRY = "azureml"  # the registry the curated environments live in
MCR = "mcr.microsoft.com/azureml/curated/"


@dataclass(frozen=True)
class CuratedEnvironment:
    """One curated environment: its names, what Azure lists for it, and what its image holds."""

    name: str  # the workspace name, as ``ml_client.environments.get`` takes it
    version: int
    python: str
    description: str
    packages: Mapping[str, str]  # pip name -> version specifier in the image ("" for any)
    tags: Mapping[str, str] = field(default_factory=dict)
    registry_name: str | None = None  # its name in the azureml registry, when it has one there
    aliases: tuple[str, ...] = ()  # other names the docs use for the same image

    @property
    def image(self) -> str:
        return MCR + (self.registry_name or self.name.removeprefix(PREFIX)).lower()

    @property
    def names(self) -> tuple[str, ...]:
        registry = (PREFIX + self.registry_name,) if self.registry_name else ()
        return (self.name, *registry, *self.aliases)

    def entity(self, version: int | str | None = None) -> Environment:
        """The environment as ``ws.environments.get`` returns it: read-only, no spec of its own to build."""
        return Environment(name=self.name, version=str(version or self.version), description=self.description,
                           image=f"{self.image}:latest", tags=dict(self.tags))

    def differences(self) -> list[str]:
        """What differs between this interpreter and the image: Python, and each listed package."""
        here = f"{sys.version_info.major}.{sys.version_info.minor}"
        found = [] if here == self.python else [f"Python {here} (image: {self.python})"]
        missing = []
        for package, spec in self.packages.items():
            try:
                installed = importlib.metadata.version(package)
            except importlib.metadata.PackageNotFoundError:
                missing.append(package)
                continue
            if spec and not _satisfies(installed, spec):
                found.append(f"{package} {installed} (image: {spec})")
        if missing:
            found.append("not installed here: " + ", ".join(missing))
        return found


def _satisfies(installed: str, spec: str) -> bool:
    try:
        return SpecifierSet(spec).contains(Version(installed), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return False


_AZUREML_SDK = {"azureml-core": "", "azureml-defaults": "", "azureml-mlflow": "", "azureml-telemetry": ""}
_SKLEARN_TEXT = ("An environment for tasks such as regression, clustering, and classification with Scikit-learn. "
                 "Contains the Azure ML SDK and additional python packages.")
_ACPT_TEXT = ("Recommended environment for Deep Learning with PyTorch on Azure containing the Azure ML SDK with the "
              "latest compatible versions of Ubuntu, Python, PyTorch, CUDA\\RocM, combined with optimizers like ORT "
              "Training,+DeepSpeed+MSCCL+ORT MoE and more.")
_TF_TEXT = "An environment for deep learning with Tensorflow containing the Azure ML SDK and additional python packages."
_PYTORCH_TEXT = "An environment for deep learning with PyTorch containing the Azure ML SDK and additional python packages."


def _training(framework: str, version: str, os_name: str, python: str, **extra: str) -> dict[str, str]:
    return {framework: version, "OS": os_name, "Training": "", "Python": python, **extra}


CATALOG: tuple[CuratedEnvironment, ...] = (
    CuratedEnvironment(
        name="AzureML-sklearn-1.5", registry_name="sklearn-1.5", version=44, python="3.10",
        description=_SKLEARN_TEXT,
        tags=_training("Scikit-learn", "1.5", "Ubuntu20.04", "3.10", Preview="", OpenMpi="4.1.0"),
        packages={"scikit-learn": "~=1.5.0", "pandas": "~=1.5.3", "numpy": "~=1.22.0", "scipy": "~=1.10.0",
                  "joblib": "~=1.2.0", "matplotlib": "~=3.5.0", "psutil": "~=5.8.0", "tqdm": "~=4.66.3",
                  **_AZUREML_SDK, "azureml-inference-server-http": "", "scikit-learn-intelex": ""}),
    CuratedEnvironment(
        name="AzureML-sklearn-1.1", registry_name="sklearn-1.1", version=35, python="3.9",
        aliases=("AzureML-sklearn-1.1-ubuntu20.04-py38-cpu",), description=_SKLEARN_TEXT,
        tags=_training("Scikit-learn", "1.1", "Ubuntu20.04", "3.8", Preview="", OpenMpi="4.1.0"),
        packages={"scikit-learn": "~=1.1.0", "pandas": "~=1.3.0", "numpy": "~=1.22.0", "scipy": "~=1.10.0",
                  "joblib": "~=1.2.0", "matplotlib": "~=3.5.0", "psutil": "~=5.8.0", "tqdm": "~=4.66.3",
                  **_AZUREML_SDK, "scikit-learn-intelex": ""}),
    CuratedEnvironment(
        name="AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", registry_name="sklearn-1.0", version=36, python="3.8",
        description=_SKLEARN_TEXT,
        tags=_training("Scikit-learn", "1.0", "Ubuntu20.04", "3.8", Preview="", OpenMpi="4.1.0"),
        packages={"scikit-learn": "~=1.0.0", "pandas": "~=1.3.0", "numpy": "~=1.22.0", "scipy": "~=1.10.0",
                  "joblib": "~=1.2.0", "matplotlib": "~=3.5.0", "psutil": "~=5.8.0", "tqdm": "~=4.66.3",
                  **_AZUREML_SDK}),
    CuratedEnvironment(
        name="AzureML-sklearn-0.24-ubuntu18.04-py37-cpu", version=49, python="3.7",
        description=_SKLEARN_TEXT,
        tags=_training("Scikit-learn", "0.24.1", "Ubuntu18.04", "3.7", OpenMpi="3.1.2"),
        packages={"scikit-learn": "==0.24.1", "pandas": "~=1.1.0", "numpy": "~=1.19.0", "scipy": "~=1.5.0",
                  "matplotlib": "~=3.3.0", "psutil": "~=5.8.0", "tqdm": "~=4.59.0", **_AZUREML_SDK}),
    CuratedEnvironment(
        name="AzureML-lightgbm-3.3", registry_name="lightgbm-3.3", version=53, python="3.10",
        description=("An environment for tasks such as regression, clustering, and classification with LightGBM. "
                     "Contains the Azure ML SDK and additional python packages."),
        tags=_training("LightGBM", "4.6", "Ubuntu24.04", "3.10", Preview="", OpenMpi="5.0"),
        packages={"lightgbm": ">=4.6.0", "scikit-learn": "~=1.5.1", "xgboost": "~=1.7.6", "pandas": "~=1.5.3",
                  "numpy": "~=1.22.0", "scipy": "~=1.10.0", "matplotlib": "~=3.5.0", "distributed": "~=2021.10.0",
                  "adlfs": "~=0.7.0", **_AZUREML_SDK}),
    CuratedEnvironment(
        name="AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu", version=52, python="3.7",
        description=("An environment for tasks such as regression, clustering, and classification with LightGBM. "
                     "Contains the Azure ML SDK and additional python packages."),
        tags=_training("LightGBM", "3.2.1", "Ubuntu18.04", "3.7", OpenMpi="3.1.2"),
        packages={"lightgbm": "==3.2.1", "scikit-learn": "~=0.24.1", "pandas": "~=1.1.0", "numpy": "~=1.19.0",
                  "scipy": "~=1.5.0", "matplotlib": "~=3.3.0", "dask": "~=2021.6.0", **_AZUREML_SDK}),
    CuratedEnvironment(
        name="AzureML-tensorflow-2.16-cuda12", registry_name="tensorflow-2.16-cuda12", version=20, python="3.11",
        description=_TF_TEXT, tags=_training("Tensorflow", "2.16", "Ubuntu20.04", "3.10", GPU="Cuda12", Preview=""),
        packages={"tensorflow": "==2.16.2", "tensorboard": "~=2.16.0", "keras": ">=3.13.2", "tf-keras": "==2.16.0",
                  "tensorflow-datasets": "~=4.9.0", "pandas": "==2.2.2", "numpy": "==1.23.5", "scipy": "~=1.14.0",
                  "matplotlib": "~=3.5.0", **_AZUREML_SDK}),
    CuratedEnvironment(
        name="AzureML-tensorflow-2.12-cuda11", registry_name="tensorflow-2.12-cuda11", version=34, python="3.8",
        description=_TF_TEXT, tags=_training("Tensorflow", "2.12", "Ubuntu20.04", "3.8", GPU="Cuda11", Preview=""),
        packages={"tensorflow": "~=2.12.0", "tensorboard": "~=2.12.0", "tensorflow-datasets": "~=4.5.0",
                  "pandas": "~=1.3.0", "numpy": "~=1.22.0", "scipy": "~=1.7.0", "matplotlib": "~=3.5.0",
                  "onnxruntime-gpu": "~=1.9.0", "horovod": "", **_AZUREML_SDK}),
    CuratedEnvironment(
        name="AzureML-tensorflow-2.7-ubuntu20.04-py38-cuda11-gpu", version=26, python="3.8",
        description=_TF_TEXT, tags=_training("Tensorflow", "2.7", "Ubuntu20.04", "3.8", GPU="Cuda11"),
        packages={"tensorflow-gpu": "~=2.7.0", "tensorboard": "~=2.7.0", "pandas": "~=1.3.0",
                  "numpy": "~=1.21.0", "scipy": "~=1.7.0", "matplotlib": "~=3.5.0", **_AZUREML_SDK}),
    CuratedEnvironment(
        name="AzureML-acpt-pytorch-2.8-cuda12.6", registry_name="acpt-pytorch-2.8-cuda12.6", version=1, python="3.10",
        description=_ACPT_TEXT,
        tags=_training("PyTorch", "2.8", "Ubuntu22.04", "3.10", GPU="Cuda12", Preview="", DeepSpeed="0.13.1",
                       ONNXRuntime="1.17.1"),
        packages={"torch": ">=2.8", "transformers": "", "azureml-core": "", "azureml-defaults": "",
                  "azureml-mlflow": "", "matplotlib": "", "tqdm": "", "psutil": ""}),
    CuratedEnvironment(
        name="AzureML-acpt-pytorch-2.2-cuda12.1", registry_name="acpt-pytorch-2.2-cuda12.1", version=38,
        python="3.10", description=_ACPT_TEXT,
        tags=_training("PyTorch", "2.2", "Ubuntu20.04", "3.10", GPU="Cuda12", Preview="", DeepSpeed="0.13.1",
                       ONNXRuntime="1.17.1"),
        packages={"torch": "~=2.2.0", "azureml-core": "", "azureml-defaults": "", "azureml-mlflow": "",
                  "matplotlib": "", "tqdm": "", "psutil": ""}),
    CuratedEnvironment(
        name="AzureML-ACPT-pytorch-1.13-py38-cuda11.7-gpu", registry_name="acpt-pytorch-1.13-cuda11.7", version=26,
        python="3.8", description=_ACPT_TEXT,
        tags=_training("PyTorch", "1.13", "Ubuntu20.04", "3.8", GPU="Cuda11", Preview="", DeepSpeed="0.8.2",
                       ONNXRuntime="1.14.1"),
        packages={"torch": "~=1.13.0", "azureml-core": "", "azureml-defaults": "", "azureml-mlflow": ""}),
    CuratedEnvironment(
        name="AzureML-ACPT-pytorch-1.12-py39-cuda11.6-gpu", registry_name="acpt-pytorch-1.12-py39-cuda11.6",
        version=3, python="3.9", description=_ACPT_TEXT,
        tags=_training("PyTorch", "1.12", "Ubuntu20.04", "3.9", GPU="Cuda11", Preview="", DeepSpeed="0.8.2",
                       ONNXRuntime="1.14.1"),
        packages={"torch": "~=1.12.0", "azureml-core": "", "azureml-defaults": "", "azureml-mlflow": ""}),
    CuratedEnvironment(
        name="AzureML-pytorch-1.10-ubuntu18.04-py38-cuda11-gpu", version=43, python="3.8",
        description=_PYTORCH_TEXT, tags=_training("PyTorch", "1.10", "Ubuntu18.04", "3.8", GPU="Cuda11"),
        packages={"torch": "==1.10.0", "torchvision": "==0.11.1", "pandas": "~=1.3.0", "numpy": "~=1.21.0",
                  "scipy": "~=1.7.0", "matplotlib": "~=3.5.0", **_AZUREML_SDK}),
    CuratedEnvironment(
        name="AzureML-pytorch-1.9-ubuntu18.04-py37-cuda11-gpu", version=46, python="3.7",
        description=_PYTORCH_TEXT, tags=_training("PyTorch", "1.9", "Ubuntu18.04", "3.7", GPU="Cuda11"),
        packages={"torch": "==1.9.0", "torchvision": "==0.10.0", "pandas": "~=1.1.0", "numpy": "~=1.19.0",
                  "scipy": "~=1.5.0", "matplotlib": "~=3.3.0", **_AZUREML_SDK}),
    CuratedEnvironment(
        name="AzureML-minimal-ubuntu20.04-py38-cpu-inference", registry_name="minimal-ubuntu20.04-py38-cpu-inference",
        version=43, python="3.8", description="AzureML minimal/Ubuntu 20.04/Python 3.8 cpu environment.",
        tags={"OS": "Ubuntu20.04", "Inferencing": "", "Preview": ""},
        packages={"azureml-inference-server-http": ""}),
    CuratedEnvironment(
        name="AzureML-minimal-ubuntu22.04-py39-cpu-inference", registry_name="minimal-ubuntu22.04-py39-cpu-inference",
        version=12, python="3.9", description="AzureML minimal/Ubuntu 22.04/Python 3.9 cpu environment.",
        tags={"OS": "Ubuntu22.04", "Inferencing": "", "Preview": ""},
        packages={"azureml-inference-server-http": ""}),
    CuratedEnvironment(
        name="AzureML-minimal-py311-inference", registry_name="minimal-py311-inference", version=10, python="3.11",
        aliases=("AzureML-minimal-ubuntu22.04-py311-cpu-inference",),
        description="AzureML minimal/Ubuntu 22.04/Python 3.11 cpu environment.",
        tags={"OS": "Ubuntu22.04", "Inferencing": "", "Preview": ""},
        packages={"azureml-inference-server-http": "", "azure-storage-blob": "", "azure-identity": "", "numpy": "",
                  "joblib": ""}),
    CuratedEnvironment(
        name="AzureML-mlflow-ubuntu20.04-py38-cpu-inference", registry_name="mlflow-ubuntu20.04-py38-cpu-inference",
        version=31, python="3.8", aliases=("AzureML-mlflow-ubuntu20.04-py39-cpu-inference",),
        description="AzureML MLflow/Ubuntu 20.04/Python 3.8 cpu environment.",
        tags={"OS": "Ubuntu20.04", "Inferencing": "", "Preview": ""},
        packages={"azureml-inference-server-http": "", "azureml-ai-monitoring": "", "mlflow": ""}),
    CuratedEnvironment(
        name="AzureML-mlflow-py312-inference", registry_name="mlflow-py312-inference", version=8, python="3.12",
        aliases=("AzureML-mlflow-ubuntu22.04-py312-cpu-inference",),
        description="AzureML MLflow/Ubuntu 22.04/Python 3.12 cpu environment.",
        tags={"OS": "Ubuntu22.04", "Inferencing": "", "Preview": ""},
        packages={"azureml-inference-server-http": "", "azureml-ai-monitoring": "", "mlflow": "",
                  "scikit-learn": "", "cloudpickle": "", "psutil": "", "pandas": "", "numpy": "", "joblib": ""}),
    CuratedEnvironment(
        name="AzureML-responsibleai-tabular", registry_name="responsibleai-tabular", version=28, python="3.10",
        aliases=("AzureML-responsibleai-0.20-ubuntu20.04-py38-cpu",),
        description="AzureML Responsible AI environment.",
        tags={"OS": "Ubuntu24.04", "Training": "", "Preview": ""},
        packages={"responsibleai": "~=0.36.0", "raiwidgets": "~=0.36.0", "mlflow": "", "scikit-learn": "~=1.5.1",
                  "mltable": "==1.6.3", "plotly": "==5.6.0"}),
    CuratedEnvironment(
        name="AzureML-ai-ml-automl", registry_name="ai-ml-automl", version=20, python="3.9",
        description="An environment used by Azure ML AutoML for training models.",
        tags={"OS": "Ubuntu20.04", "Training": "", "Preview": "", "OpenMpi": "4.1.0", "Python": "3.9"},
        packages={"azureml-train-automl-runtime": "", "azureml-mlflow": "", "azureml-defaults": ""}),
)

_BY_NAME: dict[str, CuratedEnvironment] = {n.lower(): env for env in CATALOG for n in env.names}
_BY_REGISTRY_NAME: dict[str, CuratedEnvironment] = {
    env.registry_name.lower(): env for env in CATALOG if env.registry_name}


def looks_curated(name: str) -> bool:
    """A workspace name in the curated environments' namespace (``AzureML-...``, any case)."""
    return name.lower().startswith(PREFIX.lower())


def find(name: str, registry: str | None = None) -> CuratedEnvironment | None:
    """The curated environment named ``name`` (a workspace name, or its name in ``registry``)."""
    if registry is not None:
        return _BY_REGISTRY_NAME.get(name.lower()) or _BY_NAME.get(name.lower())
    return _BY_NAME.get(name.lower())


def close_matches(name: str, limit: int = 4) -> list[str]:
    """The catalog's names nearest to ``name``, for a message about a name it does not know."""
    names = {env.name: env.name for env in CATALOG}
    names.update({n: env.name for env in CATALOG for n in env.names})
    names.update({env.registry_name: env.name for env in CATALOG if env.registry_name})
    lowered = {k.lower(): v for k, v in names.items()}
    found = difflib.get_close_matches(name.lower(), list(lowered), n=limit * 2, cutoff=0.5)
    return list(dict.fromkeys(lowered[k] for k in found))[:limit]


def entities() -> Iterator[Environment]:
    for env in CATALOG:
        yield env.entity()
