"""What ``ws.workspaces.get()`` returns: the workspace described as azure-ai-ml's ``Workspace`` entity."""

from __future__ import annotations

from dataclasses import dataclass, field

LOCAL_SUBSCRIPTION = "local"  # a local workspace has no Azure subscription or resource group
LOCAL_RESOURCE_GROUP = "local"
LOCAL_LOCATION = "local"


@dataclass(kw_only=True)
class WorkspaceInfo:
    """A workspace's description, with ``azure.ai.ml.entities.Workspace``'s attribute names.

    On a local workspace ``location``, the subscription and the resource group in
    ``id`` are ``"local"``; ``mlflow_tracking_uri`` is the workspace's own MLflow store,
    as an Azure ML workspace's is its MLflow endpoint. Example::

        ws.workspaces.get(ws.workspace_name).mlflow_tracking_uri
    """

    name: str
    display_name: str | None = None
    description: str | None = None
    location: str = LOCAL_LOCATION
    resource_group: str = LOCAL_RESOURCE_GROUP
    mlflow_tracking_uri: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    id: str | None = None  # /subscriptions/local/resourceGroups/local/providers/.../workspaces/NAME


def workspace_id(subscription_id: str, resource_group: str, name: str) -> str:
    """The ARM-style resource id Azure gives a workspace."""
    return (f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{name}")
