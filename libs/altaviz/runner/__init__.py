"""The local pipeline runner: executes a Fabric data pipeline by running its notebooks in-process."""
