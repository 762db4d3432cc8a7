"""Compute targets: the instance, Dask clusters and attached schedulers, and the jobs scheduled on them."""
