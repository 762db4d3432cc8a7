"""What every capability of the local backend stands on: the metadata store, MLflow tracking, workspace creation."""
