"""The model registry: immutable, hashed model versions registered in MLflow too."""
