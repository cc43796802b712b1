"""The subset of the Fabric/Data Factory pipeline expression language the local runner evaluates.

A JSON string is an expression when it starts with `@` (`@@` escapes a literal `@`); `@{...}` inside a string is
interpolated. Supported: `pipeline()` (`parameters.X`, `RunId`, `TriggerTime`, `TriggerType`, `Pipeline`),
`activity('X')` (`output...`, `error.message`, `status`), literals, member and index access, and the functions in
`FUNCTIONS`. Anything else is rejected when the pipeline is checked, before any notebook runs, naming the function.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from altaviz.errors import PipelineError


class ExpressionError(PipelineError):
    """An expression does not parse, uses something unsupported, or fails when evaluated."""


@dataclass(frozen=True)
class Literal:
    """A string, number, boolean or null literal."""

    value: Any


@dataclass(frozen=True)
class Call:
    """A function call: `name(arg, ...)`."""

    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Member:
    """Property access: `target.name`."""

    target: Any
    name: str


@dataclass(frozen=True)
class Index:
    """Index access: `target[key]`."""

    target: Any
    key: Any


_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>\?\.|[().,\[\]])
)""", re.VERBOSE)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"cannot parse expression @{text}: unexpected {text[pos:pos + 20].strip()!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            found = "the end" if token is None else repr(token[1])
            raise ExpressionError(f"cannot parse expression @{self.text}: expected {value or 'more'}, found {found}")
        self.pos += 1
        return token

    def parse(self) -> Any:
        node = self.expression()
        if self.peek() is not None:
            raise ExpressionError(f"cannot parse expression @{self.text}: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def expression(self) -> Any:
        kind, value = self.take()
        if kind == "string":
            node: Any = Literal(value[1:-1].replace("''", "'"))
        elif kind == "number":
            node = Literal(float(value) if "." in value else int(value))
        elif kind == "name" and value in ("true", "false", "null"):
            node = Literal({"true": True, "false": False, "null": None}[value])
        elif kind == "name":
            self.take("(")
            args: list[Any] = []
            if self.peek() != ("punct", ")"):
                args.append(self.expression())
                while self.peek() == ("punct", ","):
                    self.take(",")
                    args.append(self.expression())
            self.take(")")
            node = Call(value, tuple(args))
        else:
            raise ExpressionError(f"cannot parse expression @{self.text}: unexpected {value!r}")
        while (token := self.peek()) in (("punct", "."), ("punct", "?."), ("punct", "[")):
            self.take()
            if token[1] == "[":
                node = Index(node, self.expression())
                self.take("]")
            else:
                node = Member(node, self.take()[1])
        return node


def parse_expression(text: str) -> Any:
    """Parse one expression (without its leading `@`) into a small AST."""
    return _Parser(text).parse()


_INTERPOLATION = re.compile(r"@\{(.*?)\}")


def split_template(value: str) -> list[str | Any]:
    """A JSON string as literal text pieces and parsed expressions; a plain string is one literal piece."""
    if value.startswith("@@"):
        return [value[1:]]
    if value.startswith("@") and not value.startswith("@{"):
        return [parse_expression(value[1:])]
    pieces: list[str | Any] = []
    last = 0
    for match in _INTERPOLATION.finditer(value):
        pieces.append(value[last:match.start()])
        pieces.append(parse_expression(match.group(1)))
        last = match.end()
    pieces.append(value[last:])
    return [p for p in pieces if p != ""] or [""]


def as_text(value: Any) -> str:
    """How an expression value reads inside a string: JSON for objects, `True`/`False` as Data Factory writes them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ExpressionError(f"json() got text that is not JSON: {value[:80]!r}") from exc


def _if(condition: Any, when_true: Any, when_false: Any) -> Any:
    return when_true if condition else when_false


def _utc_now(fmt: str | None = None) -> str:
    now = datetime.now(UTC)
    return now.strftime(_dotnet_format(fmt)) if fmt else now.isoformat().replace("+00:00", "Z")


def _dotnet_format(fmt: str) -> str:
    """The common .NET date format tokens the pipeline uses, as strftime codes."""
    for dotnet, python in (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")):
        fmt = fmt.replace(dotnet, python)
    return fmt


def _format_date_time(value: str, fmt: str | None = None) -> str:
    parsed = datetime.fromisoformat(value)
    return parsed.strftime(_dotnet_format(fmt)) if fmt else parsed.isoformat()


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "concat": lambda *parts: "".join(as_text(p) for p in parts),
    "string": as_text,
    "int": lambda v: int(v),
    "float": lambda v: float(v),
    "bool": lambda v: v if isinstance(v, bool) else str(v).strip().lower() == "true",
    "json": _json,
    "equals": lambda a, b: a == b,
    "not": lambda v: not v,
    "and": lambda a, b: bool(a) and bool(b),
    "or": lambda a, b: bool(a) or bool(b),
    "if": _if,
    "empty": lambda v: v is None or len(v) == 0,
    "coalesce": lambda *vs: next((v for v in vs if v is not None), None),
    "toLower": lambda v: str(v).lower(),
    "toUpper": lambda v: str(v).upper(),
    "trim": lambda v: str(v).strip(),
    "replace": lambda v, old, new: str(v).replace(old, new),
    "substring": lambda v, start, length: str(v)[int(start):int(start) + int(length)],
    "startsWith": lambda v, prefix: str(v).startswith(prefix),
    "endsWith": lambda v, suffix: str(v).endswith(suffix),
    "contains": lambda v, item: item in v,
    "utcNow": _utc_now,
    "formatDateTime": _format_date_time,
}
PIPELINE_PROPERTIES = ("parameters", "RunId", "TriggerTime", "TriggerType", "Pipeline")
ACTIVITY_PROPERTIES = ("output", "error", "status")


def references(node: Any) -> list[tuple[str, str]]:
    """What an expression refers to: ("activity", name) and ("parameter", name) pairs."""
    found: list[tuple[str, str]] = []

    def walk(n: Any) -> None:
        if isinstance(n, Member):
            if (isinstance(n.target, Member) and n.target.name.lower() == "parameters"
                    and _is_call(n.target.target, "pipeline")):
                found.append(("parameter", n.name))
            walk(n.target)
        elif isinstance(n, Index):
            walk(n.target)
            walk(n.key)
        elif isinstance(n, Call):
            if n.name == "activity" and n.args and isinstance(n.args[0], Literal):
                found.append(("activity", str(n.args[0].value)))
            for arg in n.args:
                walk(arg)

    walk(node)
    return found


def _is_call(node: Any, name: str) -> bool:
    return isinstance(node, Call) and node.name == name


def check_expression(node: Any, source: str) -> None:
    """Reject what the runner cannot evaluate: unknown functions, properties and argument shapes."""
    if isinstance(node, Call):
        if node.name == "pipeline":
            if node.args:
                raise ExpressionError(f"pipeline() takes no arguments in @{source}")
        elif node.name == "activity":
            if len(node.args) != 1 or not isinstance(node.args[0], Literal) or not isinstance(node.args[0].value, str):
                raise ExpressionError(f"activity() takes one quoted activity name in @{source}")
        elif node.name not in FUNCTIONS:
            raise ExpressionError(f"unsupported function {node.name!r} in expression @{source} "
                                  f"(the local runner evaluates: pipeline, activity, {', '.join(sorted(FUNCTIONS))})")
        for arg in node.args:
            check_expression(arg, source)
    elif isinstance(node, Member):
        if _is_call(node.target, "pipeline") and node.name.lower() not in {p.lower() for p in PIPELINE_PROPERTIES}:
            raise ExpressionError(f"unsupported property pipeline().{node.name} in @{source} "
                                  f"(supported: {', '.join(PIPELINE_PROPERTIES)})")
        if _is_call(node.target, "activity") and node.name.lower() not in ACTIVITY_PROPERTIES:
            raise ExpressionError(f"unsupported property activity(...).{node.name} in @{source} "
                                  f"(supported: {', '.join(ACTIVITY_PROPERTIES)})")
        check_expression(node.target, source)
    elif isinstance(node, Index):
        check_expression(node.target, source)
        check_expression(node.key, source)
    elif _is_call(node, "pipeline") or _is_call(node, "activity"):
        return


@dataclass(frozen=True)
class Scope:
    """What expressions can see while a pipeline runs."""

    pipeline: Mapping[str, Any]
    activities: Mapping[str, Mapping[str, Any]]


def _lookup(value: Any, key: Any, where: str) -> Any:
    if isinstance(value, Mapping):
        if key in value:
            return value[key]
        folded = {str(k).lower(): v for k, v in value.items()}  # property names are case-insensitive
        if str(key).lower() in folded:
            return folded[str(key).lower()]
        raise ExpressionError(f"{where}: no property {key!r} (has: {', '.join(map(str, value)) or 'nothing'})")
    if isinstance(value, list | str) and isinstance(key, int):
        try:
            return value[key]
        except IndexError as exc:
            raise ExpressionError(f"{where}: index {key} is out of range") from exc
    raise ExpressionError(f"{where}: cannot read {key!r} from a {type(value).__name__}")


def evaluate(node: Any, scope: Scope, source: str) -> Any:
    """Evaluate a parsed expression."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Member):
        return _lookup(evaluate(node.target, scope, source), node.name, f"@{source}")
    if isinstance(node, Index):
        return _lookup(evaluate(node.target, scope, source), evaluate(node.key, scope, source), f"@{source}")
    if isinstance(node, Call):
        if node.name == "pipeline":
            return scope.pipeline
        if node.name == "activity":
            name = node.args[0].value
            if name not in scope.activities:
                raise ExpressionError(f"@{source}: activity {name!r} has not run")
            return scope.activities[name]
        args = [evaluate(a, scope, source) for a in node.args]
        try:
            return FUNCTIONS[node.name](*args)
        except ExpressionError:
            raise
        except (TypeError, ValueError, KeyError) as exc:
            raise ExpressionError(f"@{source}: {node.name}() failed: {exc}") from exc
    raise ExpressionError(f"@{source}: cannot evaluate {node!r}")


def evaluate_value(value: str, scope: Scope) -> Any:
    """Evaluate a JSON string that may be an expression or contain `@{...}` interpolations."""
    pieces = split_template(value)
    if len(pieces) == 1 and not isinstance(pieces[0], str):
        return evaluate(pieces[0], scope, value[1:])
    return "".join(p if isinstance(p, str) else as_text(evaluate(p, scope, value)) for p in pieces)
