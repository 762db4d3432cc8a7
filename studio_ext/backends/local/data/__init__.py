"""Datastores and versioned datasets: registration, preview, profile, load."""
