"""AutoML jobs: checks before a run, the job process, its trials as child jobs, the ready process."""
