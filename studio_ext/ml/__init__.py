"""The ML engines: featurization and AutoML search, explainers, fairness, profiling, parsers.

Pure: data and models in, results out. Nothing here opens a workspace, a store or MLflow
(the import contracts in pyproject.toml check it), so each engine is tested alone and
reusable in a user's own code.
"""
