"""Runtime plumbing shared by the CLI, notebooks and tests: the Spark session and the run context."""
