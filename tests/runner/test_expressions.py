"""Pipeline expressions: the supported subset evaluates like Data Factory; anything else is named and refused."""

from __future__ import annotations

import pytest

from altaviz.runner.expressions import ExpressionError, Scope, check_expression, evaluate_value, split_template

SCOPE = Scope(
    pipeline={"parameters": {"as_of": "", "env": "staging", "hours": 4, "flag": True},
              "RunId": "run-7", "TriggerTime": "2026-11-22T05:00:00.1234567Z", "Pipeline": "pl_x",
              "TriggerType": "Manual"},
    activities={"Silver": {"status": "Succeeded",
                           "output": {"result": {"exitValue": '{"rows": 12, "as_of": "2026-11-21T00:00:00"}'}},
                           "error": {"message": ""}}},
)

CASES = {
    "parameter": ("@pipeline().parameters.env", "staging"),
    "typed-parameter": ("@pipeline().parameters.hours", 4),
    "run-id": ("@pipeline().RunId", "run-7"),
    "exit-value": ("@activity('Silver').output.result.exitValue", '{"rows": 12, "as_of": "2026-11-21T00:00:00"}'),
    "json-member": ("@json(activity('Silver').output.result.exitValue).rows", 12),
    "json-index": ("@json(activity('Silver').output.result.exitValue)['as_of']", "2026-11-21T00:00:00"),
    "if-empty": ("@if(empty(pipeline().parameters.as_of), pipeline().TriggerTime, pipeline().parameters.as_of)",
                 "2026-11-22T05:00:00.1234567Z"),
    "concat": ("@concat('altaviz-', pipeline().parameters.env, '-', string(pipeline().parameters.hours))",
               "altaviz-staging-4"),
    "string-functions": ("@toUpper(replace(trim('  a-b  '), '-', '_'))", "A_B"),
    "substring": ("@substring(pipeline().TriggerTime, 0, 10)", "2026-11-22"),
    "equals-and-not": ("@and(equals(pipeline().parameters.env, 'staging'), not(pipeline().parameters.flag))", False),
    "coalesce": ("@coalesce(null, 'x')", "x"),
    "quoted-quote": ("@concat('it''s ', 'fine')", "it's fine"),
    "case-insensitive-property": ("@pipeline().runid", "run-7"),
    "interpolation": ("run @{pipeline().RunId} for @{pipeline().parameters.hours}h", "run run-7 for 4h"),
    "escaped-at": ("@@not an expression", "@not an expression"),
    "plain-text": ("hourly", "hourly"),
    "format-date": ("@formatDateTime('2026-11-22T05:07:00Z', 'yyyy-MM-dd HH:mm')", "2026-11-22 05:07"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_supported_expressions_evaluate(case):
    """Each supported form gives the value Data Factory would."""
    text, expected = CASES[case]
    for piece in split_template(text):
        if not isinstance(piece, str):
            check_expression(piece, text)
    assert evaluate_value(text, SCOPE) == expected


REFUSED = {
    "unknown-function": ("@addDays(pipeline().TriggerTime, 1)", "unsupported function 'addDays'"),
    "variables": ("@variables('x')", "unsupported function 'variables'"),
    "pipeline-property": ("@pipeline().DataFactory", "unsupported property pipeline().DataFactory"),
    "activity-property": ("@activity('Silver').input", "unsupported property activity(...).input"),
    "activity-name-not-literal": ("@activity(pipeline().RunId).output", "activity() takes one quoted activity name"),
    "nested-unknown": ("@concat('a', item().name)", "unsupported function 'item'"),
}


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_unsupported_expressions_are_refused_naming_what_is_unsupported(case):
    """The check names the unsupported function or property and the whole expression."""
    text, expected = REFUSED[case]
    with pytest.raises(ExpressionError) as caught:
        for piece in split_template(text):
            if not isinstance(piece, str):
                check_expression(piece, text[1:])
    assert expected in str(caught.value) and text in str(caught.value)


def test_reading_a_missing_property_names_what_exists():
    """A typo in a path fails at evaluation with the properties that do exist."""
    with pytest.raises(ExpressionError, match=r"no property 'exitvalu' \(has: exitValue\)"):
        evaluate_value("@activity('Silver').output.result.exitvalu", SCOPE)


def test_reading_an_activity_that_has_not_run_is_an_error():
    """`activity('X')` for an activity without an outcome fails clearly."""
    with pytest.raises(ExpressionError, match="activity 'Gold' has not run"):
        evaluate_value("@activity('Gold').output.result.exitValue", SCOPE)
