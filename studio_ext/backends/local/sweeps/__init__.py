"""Hyperparameter sweeps on the local backend: the service (check, record, read) and the supervisor duty."""
