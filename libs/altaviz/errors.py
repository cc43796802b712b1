"""The altaviz error hierarchy: every expected failure is an AltavizError with a message naming the bad value."""


class AltavizError(Exception):
    """Base class for errors the CLI reports as one line and a non-zero exit."""

    exit_code = 1


class ConfigError(AltavizError):
    """A configuration file, key or value is missing or invalid."""

    exit_code = 2


class UsageError(AltavizError):
    """A command was given bad arguments or inputs that do not exist."""

    exit_code = 2


class SchemaError(AltavizError):
    """Data does not match the contract its table or file promises."""


class LakehouseError(AltavizError):
    """A lakehouse path, table or Delta operation failed."""


class EnvironmentSetupError(AltavizError):
    """The machine lacks something altaviz needs to run (Java, Spark, a package)."""

    exit_code = 3


class FabricApiError(AltavizError):
    """A Fabric REST call failed; the message carries the status, error code and request id."""


class PipelineError(AltavizError):
    """A pipeline or notebook definition is invalid, or a pipeline run failed."""
