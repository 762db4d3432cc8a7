"""Explanations and fairness: jobs that explain or assess a model on a dataset, and their stored records."""
