"""Silver's row rules: named, registered tests that give a reading its reject reason, applied by one `split`.

A rule is a function returning a Spark Column: the detail of why a reading breaks it, or null when the reading
passes. `config/quality.yaml` declares which rules apply, in which order (the first rule a reading breaks is its
`reject_reason`) and with which parameters. Adding a rule is one registered function and one YAML entry.

Some rules need more than the reading's own columns: a `prepare` hook adds helper columns to the frame first
(the stuck test's run lengths, the outlier test's per-unit statistics), a `begin` hook starts reads that do not
depend on the labels (run beside the other rules), and an `after_passing` rule is judged only against the rows
that passed every rule before it (its statistics must not count readings already rejected).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

from altaviz.quality.registry import NoParams, Registry, declared_params

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

REASON, DETAIL = "reject_reason", "reject_detail"


@dataclass(frozen=True)
class RowEnv:
    """What rules may look at besides the reading itself.

    Attributes:
        spark: The session (rules broadcast the few rows they compute).
        as_of: The run's as-of time (UTC).
        span: The oldest and newest reading time of the window (UTC).
        newest_seen: The newest reading time of every earlier run (None before the first).
        context: Stored clean readings of the window's units just before and among their new readings
            (at least `lookback` of the declared rules before each unit's oldest new one); None without any.
        clean_between: Stored clean readings with a time in `[start, end]` (None without a clean table).
        rejected_between: Stored rejected readings with a time in `[start, end]` (None without the table).
        side_by_side: Whether independent Spark jobs may run at once.
        progress: Where rules say what they are doing.
    """

    spark: SparkSession
    as_of: datetime
    span: tuple[datetime, datetime]
    newest_seen: datetime | None = None
    context: DataFrame | None = None
    clean_between: Callable[[datetime, datetime], DataFrame | None] = lambda start, end: None
    rejected_between: Callable[[datetime, datetime], DataFrame | None] = lambda start, end: None
    side_by_side: bool = False
    progress: Callable[[str], None] = lambda message: None
    _kept: list[DataFrame] = field(default_factory=list, repr=False, compare=False)

    def keep(self, frame: DataFrame) -> DataFrame:
        """Cache `frame` (read by several actions) until `release`."""
        kept = frame.persist()
        self._kept.append(kept)
        return kept

    def release(self) -> None:
        """Drop every frame `keep` cached."""
        while self._kept:
            self._kept.pop().unpersist()


RuleFunction: TypeAlias = Callable[[Any, RowEnv], "Column"]
Prepare: TypeAlias = Callable[["DataFrame", Any, RowEnv, Any], "DataFrame"]


@dataclass(frozen=True)
class RuleSpec:
    """A registered row rule.

    Attributes:
        name: The name YAML declares and `reject_reason` records.
        function: `(params, env) -> Column`: the detail text for a reading that breaks the rule, else null.
        params_type: A frozen dataclass of the rule's parameters, built strictly from YAML.
        prepare: `(frame, params, env, begun) -> frame` adding the helper columns `function` reads.
        begin: `(params, env) -> begun`, called before any rule is applied; its result goes to `prepare`.
        after_passing: Judge only the rows every earlier rule passed (`prepare` sees their `reject_reason`).
        lookback: `params -> timedelta`: how much stored history before each unit's readings `env.context`
            must hold for this rule.
    """

    name: str
    function: RuleFunction
    params_type: type = NoParams
    prepare: Prepare | None = None
    begin: Callable[[Any, RowEnv], Any] | None = None
    after_passing: bool = False
    lookback: Callable[[Any], timedelta] | None = None


_RULES: Registry[RuleSpec] = Registry("rule")


def register_rule(name: str, *, params: type = NoParams, prepare: Prepare | None = None,
                  begin: Callable[[Any, RowEnv], Any] | None = None, after_passing: bool = False,
                  lookback: Callable[[Any], timedelta] | None = None) -> Callable[[RuleFunction], RuleFunction]:
    """Register a row rule under `name` so `config/quality.yaml` can declare it (see `RuleSpec`).

    Raises:
        ValueError: The name is already registered (a programming error).
    """

    def decorate(function: RuleFunction) -> RuleFunction:
        _RULES.add(RuleSpec(name, function, params, prepare, begin, after_passing, lookback))
        return function

    return decorate


def registered_rules() -> Mapping[str, RuleSpec]:
    """The registered rules by name (read-only view)."""
    return _RULES.view()


def get_rule(name: str) -> RuleSpec:
    """The rule registered as `name`.

    Raises:
        ConfigError: No rule has that name; the message lists the registered ones.
    """
    return _RULES.get(name)


@dataclass(frozen=True)
class RuleConfig:
    """One declared rule: the registered rule it runs and its parameters (None: the rule's defaults)."""

    rule: str
    params: Any = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params",
                           declared_params("rule", self.rule, self.params, get_rule(self.rule).params_type))

    @property
    def spec(self) -> RuleSpec:
        """The registered rule."""
        return get_rule(self.rule)


def reject_when(test: Column, detail: Column) -> Column:
    """A rule's result: `detail` where `test` holds (never null there), else null (a null test passes)."""
    from pyspark.sql import functions as F

    return F.when(F.coalesce(test, F.lit(False)), F.coalesce(detail, F.lit("no detail")))


def lookback(rules: Sequence[RuleConfig]) -> timedelta:
    """The longest stored history before a unit's readings any declared rule needs in `RowEnv.context`."""
    return max((r.spec.lookback(r.params) for r in rules if r.spec.lookback is not None), default=timedelta(0))


def _decide(frame: DataFrame, pending: list[tuple[str, Column]]) -> DataFrame:
    """`frame` with `reject_reason`/`reject_detail` set by the first of `pending` a so-far clean row breaks.

    The rule results become columns first and the reason a CASE over them: the generated code stays small
    enough for Spark to compile (one long nested CASE of rich expressions falls back to interpretation).
    """
    from pyspark.sql import functions as F

    if REASON not in frame.columns:
        frame = frame.select("*", F.lit(None).cast("string").alias(REASON), F.lit(None).cast("string").alias(DETAIL))
    if not pending:
        return frame
    names = [f"_rule_{i}" for i in range(len(pending))]
    tested = frame.select("*", *[column.alias(n) for n, (_, column) in zip(names, pending, strict=True)])
    reason = F.when(F.col(REASON).isNotNull(), F.col(REASON))
    for n, (rule, _) in zip(names, pending, strict=True):
        reason = reason.when(F.col(n).isNotNull(), F.lit(rule))
    others = [c for c in frame.columns if c not in (REASON, DETAIL)]
    return tested.select(*others, reason.alias(REASON), F.coalesce(F.col(DETAIL), *map(F.col, names)).alias(DETAIL))


def begin(rules: Sequence[RuleConfig], env: RowEnv) -> dict[str, Any]:
    """Start what the rules read independently of the labels (their `begin` hooks), by rule name."""
    return {r.rule: r.spec.begin(r.params, env) for r in rules if r.spec.begin is not None}


def label(df: DataFrame, rules: Sequence[RuleConfig], env: RowEnv, begun: Mapping[str, Any] | None = None
          ) -> DataFrame:
    """`df` with `reject_reason` (the first declared rule a reading breaks, null for clean) and `reject_detail`.

    `begun`: what `begin(rules, env)` started earlier (by default it is started here). Frames cached on the way
    (before an `after_passing` rule) stay cached until `env.release()`.
    """
    begun = begin(rules, env) if begun is None else begun
    frame, pending = df, []
    for declared in rules:
        spec = declared.spec
        if spec.after_passing:
            frame, pending = env.keep(_decide(frame, pending)), []
        if spec.prepare is not None:
            frame = spec.prepare(frame, declared.params, env, begun.get(declared.rule))
        pending.append((declared.rule, spec.function(declared.params, env)))
    return _decide(frame, pending)


def split(df: DataFrame, rules: Sequence[RuleConfig], env: RowEnv) -> tuple[DataFrame, DataFrame]:
    """`(valid, rejected)`: the readings no declared rule rejects, and the others with `reject_reason`/`_detail`.

    Both keep `df`'s columns (helper columns the rules add stay, prefixed `_`); call `env.release()` once
    done with them.
    """
    from pyspark.sql import functions as F

    labelled = label(df, rules, env)
    clean = F.col(REASON).isNull()
    return labelled.where(clean).drop(REASON, DETAIL), labelled.where(~clean)
