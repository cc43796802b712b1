"""The altaviz error hierarchy (every expected failure is an AltavizError with a message naming the bad value),
and the one way an exception becomes one line."""

import re

_JAVA_EXCEPTION_PREFIX = re.compile(r"^:?\s*([\w$]+\.)+[\w$]*(Exception|Error):\s*")
_NOISE = ("at ", "JVM stacktrace", "An error occurred while calling", "...")
ONE_LINE_CHARS = 300


def one_line(exc: BaseException) -> str:
    """The line worth showing of an error: a Java error's root cause (its last `Caused by:`) without class names
    or stack frames, else the message's first telling line, else the type's name; at most 300 characters."""
    lines = [line.strip() for line in (str(exc) or type(exc).__name__).splitlines() if line.strip()]
    causes = [line[len("Caused by:"):].strip() for line in lines if line.startswith("Caused by:")]
    useful = [line for line in lines if not line.startswith(_NOISE)]
    chosen = causes[-1] if causes else (useful[0] if useful else lines[0] if lines else type(exc).__name__)
    return _JAVA_EXCEPTION_PREFIX.sub("", chosen)[:ONE_LINE_CHARS] or type(exc).__name__


def described(exc: BaseException) -> str:
    """`Type: one line` (what went wrong, for records and logs)."""
    return f"{type(exc).__name__}: {one_line(exc)}"


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
