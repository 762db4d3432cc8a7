"""Reads of runs for the run explorer: search with filters, metric histories, artifacts, the run index."""
