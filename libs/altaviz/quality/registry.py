"""The check registry: what a quality check receives, how it compares with its threshold, and lookup by name."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar, Union

from altaviz.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

S = TypeVar("S")


@dataclass(frozen=True)
class QualityInputs:
    """Everything the checks of one Silver run may look at.

    Attributes:
        clean: The clean rows this run produced (compressor_id, timestamp, the six sensors, ...).
        raw_rows: Bronze rows read for the run's window.
        clean_rows: Rows that passed validation.
        rejected_rows: Rows set aside as invalid.
        duplicate_rows: Rows dropped as duplicates.
        expected_units: Compressors expected to report in the window.
        as_of: When the run looked at the data (tz-aware; stored in UTC).
        trailing_clean_counts: Clean row counts of earlier runs, oldest first.
        fleet: Every stored clean reading (all runs; the whole `telemetry_clean`), which the fleet checks
            read by event time around `as_of`; None: the run's own clean rows stand in for it.
    """

    clean: DataFrame
    raw_rows: int
    clean_rows: int
    rejected_rows: int
    duplicate_rows: int
    expected_units: int
    as_of: datetime
    trailing_clean_counts: tuple[int, ...] = ()
    fleet: DataFrame | None = None

    @property
    def stored(self) -> DataFrame:
        """What the fleet checks read: `fleet`, or the run's clean rows without it."""
        return self.clean if self.fleet is None else self.fleet

    def __post_init__(self) -> None:
        for name in ("raw_rows", "clean_rows", "rejected_rows", "duplicate_rows", "expected_units"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"QualityInputs.{name} must be a non-negative integer (got {value!r})")
        if self.as_of.tzinfo is None or self.as_of.utcoffset() is None:
            raise ValueError(f"QualityInputs.as_of must be timezone-aware (got naive {self.as_of.isoformat()})")
        object.__setattr__(self, "as_of", self.as_of.astimezone(UTC))
        counts = tuple(self.trailing_clean_counts)
        if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts):
            raise ValueError(f"QualityInputs.trailing_clean_counts must be non-negative integers (got {counts!r})")
        object.__setattr__(self, "trailing_clean_counts", counts)


@dataclass(frozen=True)
class Skipped:
    """A check with nothing to judge: it passes with a null metric, and `reason` says why."""

    reason: str


@dataclass(frozen=True)
class NoParams:
    """Parameters of a check that takes none (any `params` key in YAML is then an error)."""


@dataclass(frozen=True)
class Aggregate:
    """A metric aggregated over `over` (default: the run's clean rows), with an aggregate explaining it.

    Attributes:
        value: The metric, an aggregate Column.
        note: A string aggregate said after the comparison in the result's message (how the metric came about).
        over: The frame to aggregate; every Aggregate over the same frame is computed in one Spark action.
    """

    value: Column
    note: Column | None = None
    over: DataFrame | None = None


#: What a check returns per result: an aggregate over `clean` (or an `Aggregate` over another frame), a number
#: from the counts, null, or a skip.
Metric: TypeAlias = Union["Column", Aggregate, float, None, Skipped]
CheckFunction: TypeAlias = Callable[[QualityInputs, Any], Metric | Mapping[str, Metric]]


def _at_least(metric: float, threshold: float) -> bool:
    return metric >= threshold


def _at_most(metric: float, threshold: float) -> bool:
    return metric <= threshold


def _near_one(metric: float, threshold: float) -> bool:
    return abs(metric - 1.0) <= threshold


#: Comparison name -> test of (metric, threshold). `abs_dev<=` reads "|metric - 1| <= threshold".
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": _at_least,
    "<=": _at_most,
    "abs_dev<=": _near_one,
}


def format_number(value: float | None) -> str:
    """A metric as the report and messages show it: three decimals, or `null`."""
    return "null" if value is None else f"{value:.3f}"


def describe(metric: float, comparison: str, threshold: float, passed: bool) -> str:
    """One phrase saying how a non-null metric stands against its threshold."""
    shown, limit = format_number(metric), f"{threshold:g}"
    if comparison == "abs_dev<=":
        deviation = format_number(abs(metric - 1.0))
        return f"|{shown} - 1| = {deviation} {'<=' if passed else 'exceeds'} {limit}"
    if passed:
        return f"{shown} {comparison} {limit}"
    return f"{shown} is {'below the minimum' if comparison == '>=' else 'above the maximum'} {limit}"


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its function, how its metric compares with a threshold, its parameters type."""

    name: str
    function: CheckFunction
    comparison: str
    params_type: type
    when_null: str

    def compare(self, metric: float, threshold: float) -> bool:
        """True when `metric` satisfies this check's comparison against `threshold` (NaN never does)."""
        return not math.isnan(metric) and COMPARISONS[self.comparison](metric, threshold)


class Registry(Generic[S]):
    """Specs (registered checks or row rules) by name, for YAML to declare: one mechanism for both kinds.

    A spec has `name` and `function`; `kind` words the errors ("check", "rule").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._specs: dict[str, S] = {}

    def add(self, spec: S) -> None:
        """Record `spec` under its name.

        Raises:
            ValueError: The name is already registered (a programming error).
        """
        name = spec.name  # type: ignore[attr-defined]
        if name in self._specs:
            raise ValueError(f"{self.kind} {name!r} is already registered "
                             f"(by {self._specs[name].function.__qualname__})")  # type: ignore[attr-defined]
        self._specs[name] = spec

    def view(self) -> Mapping[str, S]:
        """The registered specs by name (read-only view)."""
        return MappingProxyType(self._specs)

    def get(self, name: str) -> S:
        """The spec registered as `name`.

        Raises:
            ConfigError: No spec has that name; the message lists the registered ones.
        """
        try:
            return self._specs[name]
        except KeyError:
            allowed = ", ".join(sorted(self._specs)) or "none"
            raise ConfigError(f"{self.kind} {name!r} is not a registered {self.kind}; "
                              f"allowed {self.kind}s: {allowed}") from None


def declared_params(kind: str, name: str, params: Any, params_type: type) -> Any:
    """A declared entry's params: `params_type`'s defaults when None, else `params` if of that type.

    Raises:
        ConfigError: `params` is of another type (the params of another check or rule).
    """
    if params is None:
        return params_type()
    if not isinstance(params, params_type):
        raise ConfigError(f"params of {kind} {name!r} must be a {params_type.__name__} "
                          f"(got {type(params).__name__})")
    return params


_REGISTRY: Registry[CheckSpec] = Registry("check")


def register_check(name: str, *, comparison: str, params: type = NoParams,
                   when_null: str = "metric undefined (division by zero)") -> Callable[[CheckFunction], CheckFunction]:
    """Register a check function under `name` so YAML can declare it.

    Args:
        name: The name `config/quality.yaml` uses in `check:`.
        comparison: How the metric is compared with the threshold: `>=`, `<=` or `abs_dev<=`.
        params: A frozen dataclass of the check's parameters, built strictly from the entry's `params`.
        when_null: The message of a result whose metric comes out null (the check then fails).

    Returns:
        A decorator that records the function and returns it unchanged.

    Raises:
        ValueError: The comparison is unknown or the name is already registered (programming errors).
    """
    if comparison not in COMPARISONS:
        raise ValueError(f"check {name!r}: comparison {comparison!r} is not one of {', '.join(COMPARISONS)}")

    def decorate(function: CheckFunction) -> CheckFunction:
        _REGISTRY.add(CheckSpec(name, function, comparison, params, when_null))
        return function

    return decorate


def registered_checks() -> Mapping[str, CheckSpec]:
    """The registered checks by name (read-only view)."""
    return _REGISTRY.view()


def get_check(name: str) -> CheckSpec:
    """The check registered as `name`.

    Raises:
        ConfigError: No check has that name; the message lists the registered ones.
    """
    return _REGISTRY.get(name)
