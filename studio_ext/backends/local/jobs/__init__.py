"""Jobs and environments: submit, run as processes on this machine, finalise into MLflow runs."""
