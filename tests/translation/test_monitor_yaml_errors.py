"""A v2 monitor schedule YAML with a mistake is refused naming the file, the field and what to write.

azure-ai-ml 1.35's ``load_schedule`` turns a monitor's schema refusal into an empty
NotImplementedError; these are the refusals a student meets copying the Azure docs' YAML.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_ext.entities import MonitorSchedule
from studio_ext.errors import InvalidInput, InvalidYaml
from studio_ext.translation import from_yaml

MONITOR = """\
$schema: http://azureml/sdk-2-0/Schedule.json
name: fraud_detection_model_monitoring
trigger:
  type: recurrence
  frequency: day
  interval: 1
  schedule:
    hours: 10
    minutes: 15
create_monitor:
  compute:
    instance_type: standard_e4s_v3
    runtime_version: "3.4"
  monitoring_target:
    ml_task: classification
    endpoint_deployment_id: azureml:credit-default:main
  monitoring_signals:
    advanced_data_drift:
      type: data_drift
      production_data:
        input_data:
          path: azureml:credit-default-main-model_inputs:1
          type: uri_folder
        data_context: model_inputs
      reference_data:
        input_data:
          path: azureml:my_model_training_data:1
          type: mltable
        data_context: training
      features:
        top_n_feature_importance: 10
      metric_thresholds:
        numerical:
          jensen_shannon_distance: 0.01
        categorical:
          pearsons_chi_squared_test: 0.02
  alert_notification:
    emails:
      - abc@example.com
"""
SIGNAL = "create_monitor.monitoring_signals.advanced_data_drift"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_monitor_file_still_loads(tmp_path: Path) -> None:
    schedule = from_yaml(_write(tmp_path, MONITOR)).entity
    assert isinstance(schedule, MonitorSchedule)
    drift = schedule.create_monitor.monitoring_signals["advanced_data_drift"]
    assert drift.metric_thresholds.numerical.jensen_shannon_distance == 0.01


@pytest.mark.parametrize(("old", "new", "field", "says"), [
    pytest.param("jensen_shannon_distance: 0.01", "jensen_shanon_distance: 0.01",
                 f"{SIGNAL}.metric_thresholds.numerical.jensen_shanon_distance",
                 ["not a field of numerical", "Did you mean 'jensen_shannon_distance'?",
                  "normalized_wasserstein_distance"], id="metric-name-typo"),
    pytest.param("type: data_drift", "type: data_drfit", f"{SIGNAL}.type",
                 ["'data_drfit' is not a type here", "prediction_drift", "Did you mean 'data_drift'?"],
                 id="unknown-signal-type"),
    pytest.param("        data_context: training\n",
                 "        data_context: training\n        target_column_name: DEFAULT_NEXT_MONTH\n",
                 f"{SIGNAL}.reference_data.target_column_name",
                 ["azure-ai-ml 1.35 does not take target_column_name",
                  "data_column_names: {target_column: DEFAULT_NEXT_MONTH}"], id="docs-target-column-name"),
    pytest.param('  compute:\n    instance_type: standard_e4s_v3\n    runtime_version: "3.4"\n', "",
                 "create_monitor.compute", ["missing", "azure-ai-ml 1.35 requires it", "instance_type"],
                 id="no-compute"),
])
def test_a_mistake_is_refused_naming_the_file_the_field_and_what_to_write(
        tmp_path: Path, old: str, new: str, field: str, says: list[str]) -> None:
    assert old in MONITOR
    path = _write(tmp_path, MONITOR.replace(old, new, 1))
    with pytest.raises(InvalidYaml) as caught:
        from_yaml(path)
    error = caught.value
    assert isinstance(error, InvalidInput)
    assert error.file == str(path)
    assert error.fields == (field,)
    line = next(line for line in str(error).splitlines() if field in line)
    assert line.strip().startswith(f"{path}:")  # the file and the field's line
    for words in says:
        assert words in line
