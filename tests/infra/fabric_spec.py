"""The Fabric REST API's OpenAPI (Swagger 2.0) files as JSON Schema validators, so the fake checks what it is sent.

The specs are the copy of github.com/microsoft/fabric-rest-api-specs in `shared/specs/fabric-rest-api` beside the
checkout. Every `*.json` outside `examples/` is registered (by its `file:` URI) in one `referencing` registry, so
`$ref`s resolve across files. Swagger 2.0 schemas are a subset of JSON Schema Draft 4, validated with
`jsonschema.Draft4Validator`, whose `integer` is strict: 60.0 is not an integer (the API answers 400 to it).

Two Swagger features JSON Schema lacks are handled here:
- `discriminator` (polymorphism, e.g. `ScheduleConfig` by `type`): a base is rewritten into a custom keyword that
  validates an instance against the subtype its discriminator value names (`x-ms-discriminator-value`, else the
  subtype's name), or against the base alone for an unknown value; subtypes inherit from a copy of the base
  without the discriminator, so nothing recurses.
- path keys carrying a query (`.../staging/libraries?beta=false`): an operation matches only requests with it.

`format` is not checked: the spec's own examples use date-times without an offset (`2026-03-28T00:00:00`). A
null field counts as absent (Fabric answers `"failureReason": null`), and a `pattern` Python's `re` cannot compile
(`\\p{L}`, one in the whole spec) is skipped.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urldefrag, urljoin, urlparse
from urllib.request import url2pathname

from jsonschema import Draft4Validator, ValidationError, validators
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT4

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO.parent / "shared" / "specs" / "fabric-rest-api"
DISCRIMINATED = "x-altaviz-discriminated"
BASE_SUFFIX = "__base"
JSON_BODY_TYPES = ("application/json",)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Iterator:
    """`pattern`, except the few Python's `re` cannot compile (`\\p{L}`), which are not checked."""
    try:
        compiled = re.compile(pattern)
    except re.error:
        return
    if validator.is_type(instance, "string") and not compiled.search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _discriminated(validator: Any, spec: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]) -> Iterator:
    """The custom keyword a discriminated base becomes: validate against the subtype the instance names."""
    target = spec["base"]
    if validator.is_type(instance, "object"):
        target = spec["mapping"].get(instance.get(spec["propertyName"]), spec["base"])
    yield from validator.descend(instance, {"$ref": target})


def _extensible_enum(validator: Any, enums: list[Any], instance: Any, schema: Mapping[str, Any]) -> Iterator:
    """`enum`, except that an answer may carry a value an `x-ms-enum` with `modelAsString` will gain later."""
    if not (schema.get("x-ms-enum") or {}).get("modelAsString"):
        yield from Draft4Validator.VALIDATORS["enum"](validator, enums, instance, schema)


RequestValidator = validators.extend(Draft4Validator, {DISCRIMINATED: _discriminated, "pattern": _pattern})
ResponseValidator = validators.extend(RequestValidator, {"enum": _extensible_enum})


@dataclass(frozen=True)
class Operation:
    """One operation of the spec: its method and path template, what it accepts and what it answers."""

    method: str
    template: str
    pattern: re.Pattern[str]
    query: tuple[tuple[str, str], ...]
    query_names: frozenset[str]
    body: dict[str, Any] | None
    body_name: str
    body_required: bool
    consumes: tuple[str, ...]
    responses: dict[str, dict[str, Any] | None] = field(hash=False)
    examples: tuple[Path, ...] = ()  # the `x-ms-examples` files: parameters and responses of a real exchange

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"

    def specificity(self) -> tuple[int, int]:
        """Literal path segments, then query constraints: `/items/bulkExport...` beats `/items/{itemId}`."""
        path = self.template.split("?")[0]
        return sum(not s.startswith("{") for s in path.split("/")), len(self.query)


class FabricSpec:
    """The operations of every spec file and a validator for each body and response schema."""

    def __init__(self, root: Path = SPECS) -> None:
        root = Path(root)
        if not (root / "platform" / "swagger.json").is_file():
            raise FileNotFoundError(f"The Fabric REST API specs are not at {root}: the fake validates against them "
                                    "(shared/specs/fabric-rest-api beside the checkout)")
        docs = {path.resolve().as_uri(): json.loads(path.read_text(encoding="utf-8"))
                for path in sorted(root.rglob("*.json")) if "examples" not in path.relative_to(root).parts}
        for doc in docs.values():
            _loosen_free_form_objects(doc)
        _rewrite_discriminators(docs)
        self._by_folded_uri = {uri.casefold(): uri for uri in docs}
        self.registry: Registry = Registry(retrieve=self._retrieve).with_resources(
            (uri, DRAFT4.create_resource(doc)) for uri, doc in docs.items())
        self.operations = [op for uri, doc in docs.items() if "paths" in doc for op in _operations(uri, doc)]

    def _retrieve(self, uri: str) -> Resource:
        """Refs that name a file in another case (`../../Common/definitions.json`) find it anyway."""
        found = self._by_folded_uri.get(uri.casefold())
        if found is None or found == uri:
            raise NoSuchResource(ref=uri)
        return self.registry.get_or_retrieve(found).value

    def operation(self, method: str, path: str, query: Mapping[str, str]) -> Operation | None:
        """The most specific operation matching a request (path without the `/v1` base), or None."""
        found = [op for op in self.operations if op.method == method and op.pattern.fullmatch(path)
                 and all(query.get(k, "").lower() == v.lower() for k, v in op.query)]
        return max(found, key=Operation.specificity, default=None)

    def request_errors(self, op: Operation, query: Mapping[str, str], content_type: str | None,
                       body: Any) -> list[str]:
        """What is wrong with a request for `op`: undeclared query parameters, a missing or invalid body."""
        errors = [f"query parameter {name!r} is not a parameter of {op.name}" for name in query
                  if name not in op.query_names]
        if body not in (None, b"") and op.consumes and content_type not in op.consumes:
            return [*errors, f"{op.name} consumes {', '.join(op.consumes)}, not {content_type}"]
        if op.body is None:
            if body not in (None, b"") and content_type in JSON_BODY_TYPES:
                errors.append(f"{op.name} takes no body")
            return errors
        if body is None:
            return [*errors, f"{op.name} needs a JSON body"] if op.body_required else errors
        return errors + self.errors(op.body, body)

    def response_errors(self, op: Operation, status: int, body: Any) -> list[str]:
        """What is wrong with the JSON answered for `op` with `status` (the `default` schema for errors)."""
        if str(status) in op.responses:
            schema = op.responses[str(status)]
        elif status >= 400:
            schema = op.responses.get("default")
        else:
            return [f"{op.name} does not answer {status} (only {', '.join(sorted(op.responses))})"]
        if schema is None or schema.get("type") == "file" or body is None:
            return []
        return self.errors(schema, body, answer=True)

    def errors(self, schema: Mapping[str, Any], instance: Any, *, answer: bool = False) -> list[str]:
        """Each violation as `<field path>: <reason>`, ordered by path (`answer`: extensible enums allowed)."""
        validator = self._validator(json.dumps(schema, sort_keys=True), answer)
        found = validator.iter_errors(_without_nulls(instance))
        return [f"{'.'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}"
                for e in sorted(found, key=lambda e: [str(p) for p in e.absolute_path])]

    @functools.cache  # noqa: B019 - one spec per session; validators are costly to build
    def _validator(self, schema_json: str, answer: bool) -> Any:
        kind = ResponseValidator if answer else RequestValidator
        return kind(json.loads(schema_json), registry=self.registry)


@functools.cache
def fabric_spec() -> FabricSpec:
    """The spec, loaded once per test session."""
    return FabricSpec()


def _without_nulls(instance: Any) -> Any:
    """The instance with null-valued object fields dropped: Fabric sends and accepts null for an absent field."""
    if isinstance(instance, dict):
        return {k: _without_nulls(v) for k, v in instance.items() if v is not None}
    if isinstance(instance, list):
        return [_without_nulls(v) for v in instance]
    return instance


def _definition_key(uri: str) -> tuple[str, str]:
    doc, fragment = urldefrag(uri)
    return doc.casefold(), fragment


def _loosen_free_form_objects(node: Any) -> None:
    """`{"type": "object"}` with nothing else to say is AutoRest's "any value" (parameter values are 'x', 1, true)."""
    if isinstance(node, dict):
        if node.get("type") == "object" and not {"properties", "additionalProperties", "allOf", "$ref"} & set(node):
            del node["type"]
        for value in node.values():
            _loosen_free_form_objects(value)
    elif isinstance(node, list):
        for value in node:
            _loosen_free_form_objects(value)


def _rewrite_discriminators(docs: dict[str, dict[str, Any]]) -> None:
    """Turn each discriminated base into the custom keyword; point its subtypes at a plain copy of it."""
    bases = {(uri.casefold(), f"/definitions/{name}"): (uri, name)
             for uri, doc in docs.items() for name, schema in doc.get("definitions", {}).items()
             if "discriminator" in schema}
    mappings: dict[tuple[str, str], dict[str, str]] = {key: {} for key in bases}
    for uri, doc in docs.items():
        for name, schema in doc.get("definitions", {}).items():
            for parent in schema.get("allOf", []):
                key = _definition_key(urljoin(uri, parent.get("$ref", "")))
                if key in bases:
                    mappings[key][schema.get("x-ms-discriminator-value", name)] = f"{uri}#/definitions/{name}"
                    parent["$ref"] += BASE_SUFFIX
    for key, (uri, name) in bases.items():
        definitions = docs[uri]["definitions"]
        base = {k: v for k, v in definitions[name].items() if k != "discriminator"}
        definitions[name + BASE_SUFFIX] = base
        definitions[name] = {DISCRIMINATED: {"propertyName": definitions[name]["discriminator"],
                                             "mapping": mappings[key],
                                             "base": f"{uri}#/definitions/{name}{BASE_SUFFIX}"}}


def _absolute(schema: Any, base_uri: str) -> Any:
    """A copy of an inline schema with every `$ref` made absolute (operation schemas sit outside `definitions`)."""
    if isinstance(schema, dict):
        return {k: urljoin(base_uri, v) if k == "$ref" else _absolute(v, base_uri) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_absolute(v, base_uri) for v in schema]
    return schema


def _operations(uri: str, doc: Mapping[str, Any]) -> Iterator[Operation]:
    folder = Path(url2pathname(urlparse(uri).path)).parent
    for key, item in doc["paths"].items():
        path, _, query = key.partition("?")
        pattern = re.compile("/".join("[^/]+" if s.startswith("{") else re.escape(s) for s in path.split("/")))
        for method, op in item.items():
            if method == "parameters":
                continue
            params = [_parameter(doc, p) for p in [*item.get("parameters", []), *op.get("parameters", [])]]
            body = next((p for p in params if p.get("in") == "body"), None)
            yield Operation(
                method=method.upper(), template=key, pattern=pattern, query=tuple(parse_qsl(query)),
                query_names=frozenset(p["name"] for p in params if p.get("in") == "query"),
                body=_absolute(body["schema"], uri) if body else None, body_name=body["name"] if body else "",
                body_required=bool(body and body.get("required")),
                consumes=tuple(op.get("consumes") or doc.get("consumes") or ()),
                responses={status: _absolute(answer["schema"], uri) if "schema" in answer else None
                           for status, answer in op.get("responses", {}).items()},
                examples=tuple(folder / ex["$ref"] for ex in op.get("x-ms-examples", {}).values()))


def _parameter(doc: Mapping[str, Any], parameter: Mapping[str, Any]) -> Mapping[str, Any]:
    """A parameter, following a local `#/parameters/...` reference."""
    ref = parameter.get("$ref", "")
    return doc["parameters"][ref.rsplit("/", 1)[-1]] if ref.startswith("#/parameters/") else parameter
