"""A local stand-in for Azure's ``azureml-ai-monitoring``: ``from azureml.ai.monitoring import Collector``.

In a scoring script of a deployment with ``data_collector``::

    from azureml.ai.monitoring import Collector

    def init():
        global inputs_collector, outputs_collector
        inputs_collector = Collector(name="model_inputs")
        outputs_collector = Collector(name="model_outputs")

    def run(raw_data):
        df = pd.DataFrame(json.loads(raw_data)["data"])
        context = inputs_collector.collect(df)           # the request's rows
        result = model.predict(df)
        outputs_collector.collect(pd.DataFrame({"predictions": result}), context)
        return result.tolist()

``collect`` queues the DataFrame for the server's collection writer
(:mod:`studio_ext.serving.data_collection`, reached through ``_sink``) and returns at once; the rows are written beside
what the server collects, under the deployment's collection folders, with the request's id as
``correlationid``. It honours the deployment's ``sampling_rate`` (a request not sampled is not
collected) and collects only collections enabled in its ``data_collector``. Outside a deployment
with data collection (a notebook, a test of the script) it collects nothing and says so once in
the log, as Azure's package does when its configuration is missing.

The scoring server puts this module on the path (``studio_ext/compat/_site``) only when no real
``azureml-ai-monitoring`` is installed in the deployment's environment.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from studio_ext.compat.azureml_ai_monitoring import _sink
from studio_ext.compat.azureml_ai_monitoring.context import BasicCorrelationContext, CorrelationContext

__all__ = ["BasicCorrelationContext", "Collector", "CorrelationContext"]
log = logging.getLogger("azureml.ai.monitoring")
_said: set[str] = set()


class Collector:
    """Collects pandas DataFrames into the collection ``name`` of the deployment's ``data_collector``."""

    def __init__(self, *, name: str, on_error: Callable[[Exception], Any] | None = None, **kwargs: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Collector needs a collection name, such as name='model_inputs'. Got {name!r} instead.")
        self.name = name
        self.on_error = on_error
        writer = _sink.active()
        if writer is not None and writer.enabled(name):
            writer.claimed.add(name)  # the script collects this one itself: the server stops doing it

    def collect(self, data: Any, correlation_context: CorrelationContext | None = None) -> CorrelationContext:
        """Queue ``data`` (a pandas DataFrame) for this collection; returns the request's correlation context."""
        request = _sink.current.get()
        if correlation_context is not None:
            context = correlation_context
        elif request is not None:
            context = BasicCorrelationContext(id=request.id, timestamp=int(request.time * 1000), headers=request.headers)
        else:
            context = BasicCorrelationContext()
        try:
            import pandas as pd

            if not isinstance(data, (pd.DataFrame, pd.Series)):
                raise TypeError(f"Collector.collect takes a pandas DataFrame. Got {type(data).__name__} instead.")
            writer = _sink.active()
            if writer is None:
                _once("inactive", "Collector(name=%r): this process is not a deployment with data_collector; "
                      "nothing is collected.", self.name)
                return context
            if not writer.enabled(self.name):
                writer.warn_once(f"disabled:{self.name}",
                                 f"Collector(name={self.name!r}): the deployment's data_collector has no enabled "
                                 f"collection {self.name!r} (it has {', '.join(writer.collections) or 'none'}); "
                                 "add it to data_collector.collections to collect it.")
                return context
            sampled = request.sampled if request is not None else writer.sample()
            if sampled:
                ts = request.time if request is not None else time.time()
                writer.put(self.name, context.get_id(), ts, "frame", data.copy(),
                           headers=request.headers if request is not None else None)
        except Exception as exc:  # noqa: BLE001 - Azure's contract: on_error gets it, the request goes on
            if self.on_error is not None:
                self.on_error(exc)
            else:
                log.error("Collector(name=%r) could not collect: %s", self.name, exc)
        return context


def _once(key: str, message: str, *args: Any) -> None:
    if key not in _said:
        _said.add(key)
        log.warning(message, *args)
