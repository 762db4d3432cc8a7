"""Batch endpoints on the local backend: the service, the scoring driver, the REST gateway and its duty."""
