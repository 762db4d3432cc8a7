"""Translation between studio_ext entities and Azure ML v2 (azure-ai-ml objects and v2 YAML).

One module per kind, each with the same four functions::

    to_v2(entity) -> dict               the v2 YAML mapping, with its $schema
    from_v2(mapping, base_path=None)    -> Translated(entity, notes, requires)
    from_azure(obj)                     azure-ai-ml object -> obj._to_dict() -> from_v2
    to_azure(entity)                    to_v2 -> azure-ai-ml's own load_* (Azure validates)

Kinds: ``command_job``, ``component`` (command components), ``pipeline_component``, ``pipeline_job``, ``sweep_job``,
``automl_job`` (tabular AutoML), ``data``, ``model``, ``environment``, ``compute`` (AmlCompute,
ComputeInstance), ``datastore`` (blob, ADLS Gen2), ``online_endpoint``,
``online_deployment``, ``batch_endpoint``, ``batch_deployment`` (model and pipeline component),
``schedule`` (job schedules). :func:`to_yaml`, :func:`from_yaml` and :func:`from_azure_any`
choose the kind themselves. :func:`accept` is the door every service's create call goes
through: a studio_ext entity passes, an azure-ai-ml object is translated (and must give
the class the service takes), anything else is refused naming both classes. A field with no local meaning is kept and named in a
:class:`Note`, never dropped. azure-ai-ml is imported only when a function needs it.

Example::

    from azure.ai.ml import command
    from studio_ext.translation import from_azure_any

    result = from_azure_any(command(command="python train.py", environment="AzureML-sklearn-1.5@latest"))
    job, notes = result.entity, result.notes
"""

from studio_ext.translation import (
    automl_job,
    batch_deployment,
    batch_endpoint,
    command_job,
    component,
    compute,
    data,
    datastore,
    environment,
    model,
    online_deployment,
    online_endpoint,
    pipeline_component,
    pipeline_job,
    schedule,
    sweep_job,
)
from studio_ext.translation._accept import accept, anonymous_name, is_azure, show_notes, takes
from studio_ext.translation._common import Note, Translated
from studio_ext.translation._dispatch import from_azure_any, from_yaml, to_azure, to_v2, to_yaml

__all__ = [
    "Note",
    "Translated",
    "accept",
    "anonymous_name",
    "automl_job",
    "batch_deployment",
    "batch_endpoint",
    "command_job",
    "component",
    "compute",
    "data",
    "datastore",
    "environment",
    "from_azure_any",
    "from_yaml",
    "is_azure",
    "model",
    "online_deployment",
    "online_endpoint",
    "pipeline_component",
    "pipeline_job",
    "schedule",
    "show_notes",
    "sweep_job",
    "takes",
    "to_azure",
    "to_v2",
    "to_yaml",
]
