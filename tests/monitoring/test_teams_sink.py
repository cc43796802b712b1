"""TeamsSink against a local webhook, and the Adaptive Cards it posts."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer

from altaviz.monitoring.errors import MonitorSinkError
from altaviz.monitoring.teams import (
    TeamsSink,
    critical_alerts_card,
    failure_card,
    quality_block_card,
    teams_message,
)

HOOK = "/workflows/3f2a9c/triggers/manual/paths/invoke"
SIG = "Zk3c9Rr2T0pSecretSignature"
CARD = {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "hello"}]}


def webhook(httpserver: HTTPServer) -> str:
    """The webhook URL, signature included, as Workflows hands it out."""
    return httpserver.url_for(HOOK) + f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"


@pytest.fixture()
def teams(httpserver, fake_time) -> Iterator[TeamsSink]:
    """A sink aimed at the local webhook, on fake time, with the default 60 s budget."""
    sink = TeamsSink(webhook(httpserver), sleep=fake_time.sleep, clock=fake_time.clock)
    yield sink
    sink.close()


def texts(element) -> list[str]:
    """Every TextBlock text and FactSet title/value in a card, in order."""
    if isinstance(element, list):
        return [t for item in element for t in texts(item)]
    if not isinstance(element, dict):
        return []
    found = [element["text"]] if element.get("type") == "TextBlock" else []
    if element.get("type") == "FactSet":
        found += [f"{f['title']}: {f['value']}" for f in element["facts"]]
    return found + [t for key in ("body", "items", "columns") for t in texts(element.get(key, []))]


def test_a_202_with_an_empty_body_is_success_and_the_card_goes_as_a_workflows_message(httpserver, teams):
    """The payload is a message with one adaptive-card attachment whose content is the card; 202 means taken."""
    httpserver.expect_oneshot_request(HOOK, method="POST").respond_with_data("", 202)

    teams.post(CARD)

    [(request, _)] = httpserver.log
    assert request.args["sig"] == SIG
    assert json.loads(request.get_data()) == {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                         "content": CARD}]}


def test_the_legacy_200_1_answer_is_success(httpserver, teams):
    """An old-style connector's 200 with body "1" counts as success too."""
    httpserver.expect_oneshot_request(HOOK, method="POST").respond_with_data("1", 200)

    teams.post(CARD)
    assert len(httpserver.log) == 1


def test_throttling_is_retried_after_the_retry_after_seconds(httpserver, teams, fake_time):
    """A 429 with Retry-After: 7 waits exactly 7 s and posts again; the 202 that follows is success."""
    httpserver.expect_ordered_request(HOOK, method="POST").respond_with_data("", 429, {"Retry-After": "7"})
    httpserver.expect_ordered_request(HOOK, method="POST").respond_with_data("", 202)

    teams.post(CARD)

    assert fake_time.sleeps == [7.0]
    assert len(httpserver.log) == 2


def test_a_failing_webhook_gives_up_within_the_budget_without_showing_the_url(httpserver, teams, fake_time):
    """500 every time: backoff 1, 2, 4, 8, 16 s, then one error that names Teams and the status but not the URL."""
    httpserver.expect_request(HOOK, method="POST").respond_with_data(f"flow failed for {webhook(httpserver)}", 500)

    with pytest.raises(MonitorSinkError) as caught:
        teams.post(CARD)

    message = str(caught.value)
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0] and sum(fake_time.sleeps) <= 60
    assert len(httpserver.log) == 6
    assert "Teams webhook" in message and "HTTP 500" in message and "6 attempts" in message
    assert SIG not in message and HOOK not in message and httpserver.url_for("/") not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_refused_card_is_not_retried(httpserver, teams, fake_time):
    """A 400 (e.g. a card the flow's schema rejects) fails at once with the status and the start of the body."""
    httpserver.expect_request(HOOK, method="POST").respond_with_json(
        {"error": {"code": "TriggerInputSchemaMismatch", "message": "The input body did not match"}}, 400)

    with pytest.raises(MonitorSinkError, match="HTTP 400.*TriggerInputSchemaMismatch"):
        teams.post(CARD)
    assert fake_time.sleeps == [] and len(httpserver.log) == 1


def test_a_webhook_that_never_answers_times_out_and_fails(fake_time):
    """A server that accepts the connection but never answers: each attempt times out, then one error."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}{HOOK}?sig={SIG}"
        sink = TeamsSink(url, sleep=fake_time.sleep, clock=fake_time.clock, max_total_seconds=2,
                         timeout_seconds=0.05)

        with pytest.raises(MonitorSinkError, match="Timeout") as caught:
            sink.post(CARD)

    assert fake_time.sleeps == [1.0]
    assert SIG not in str(caught.value) and "127.0.0.1" not in str(caught.value)


def test_the_sink_repr_hides_the_webhook(httpserver, teams):
    """repr() of the sink does not show the webhook URL."""
    assert SIG not in repr(teams) and HOOK not in repr(teams)


@pytest.mark.parametrize("card", [
    failure_card(pipeline="pl_altaviz_hourly", run_id="r1", environment="prod", stage="silver",
                 error_type="SchemaError", error_message="bad column"),
    quality_block_card(run_id="r1", environment="prod", failed_checks=[]),
    critical_alerts_card(run_id="r1", environment="prod", alerts=[]),
], ids=["failure", "quality-block", "critical-alerts"])
def test_every_card_is_an_adaptive_card_1_4_inside_a_workflows_message(card):
    """Each builder returns AdaptiveCard 1.4 content; teams_message wraps it as the one adaptive attachment."""
    message = teams_message(card)

    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4" and card["body"]
    assert message["type"] == "message"
    assert message["attachments"] == [{"contentType": "application/vnd.microsoft.card.adaptive",
                                       "contentUrl": None, "content": card}]


def test_the_failure_card_names_the_run_stage_and_error_and_links_the_logs_only_when_given():
    """Pipeline, environment, run, stage and error are shown; "Open logs" appears only with a logs URL."""
    kwargs = {"pipeline": "pl_altaviz_hourly", "run_id": "run-42", "environment": "prod", "stage": "gold",
              "error_type": "LakehouseError", "error_message": "table gold.fleet_alerts is locked"}

    without = failure_card(**kwargs)
    with_logs = failure_card(**kwargs, logs_url="https://portal.azure.com/#logs")

    shown = texts(without)
    assert "Altaviz pipeline pl_altaviz_hourly failed in prod" in shown
    assert {"Run: run-42", "Stage: gold", "Error: LakehouseError"} <= set(shown)
    assert "table gold.fleet_alerts is locked" in shown
    assert "actions" not in without
    assert with_logs["actions"] == [{"type": "Action.OpenUrl", "title": "Open logs",
                                     "url": "https://portal.azure.com/#logs"}]


def test_the_quality_card_lists_each_blocking_check_with_its_metric_and_threshold():
    """One fact per failed check: its metric and what it needed; a null metric says why."""
    card = quality_block_card(run_id="run-42", environment="staging", failed_checks=[
        {"name": "fleet_completeness", "metric": 0.84999, "comparison": ">=", "threshold": 0.85},
        {"name": "reading_freshness", "metric": None, "comparison": "<=", "threshold": 2,
         "message": "no readings"}])

    shown = texts(card)
    assert ("2 blocking quality checks failed, so the window's rows are held out of Gold until a later run passes "
            "it or `altaviz quality release` lets it through.") in shown
    assert "fleet_completeness: 0.84999, needs >= 0.85" in shown
    assert "reading_freshness: no value (no readings); needs <= 2" in shown


def alert(n: int) -> dict:
    """A new critical alert on unit CMP-n."""
    return {"compressor_id": f"CMP-{n:05d}", "basin": "Permian", "sensor": "discharge_temp_f", "value": 270.0 + n,
            "opened_at": datetime(2026, 11, 21, 6, 0, tzinfo=UTC)}


@pytest.mark.parametrize(("count", "rows", "more"), [(3, 3, None), (10, 10, None), (13, 10, "and 3 more")],
                         ids=["few", "exactly-top", "truncated"])
def test_the_alert_digest_is_one_card_with_the_top_units_and_how_many_more(count, rows, more):
    """One card per run: the count, a header and at most `top` unit rows in the order given, then "and N more"."""
    card = critical_alerts_card(run_id="run-42", environment="prod", alerts=[alert(n) for n in range(count)])

    shown = texts(card)
    units = [t for t in shown if t.startswith("CMP-")]
    assert f"{count} new critical alerts in prod" in shown
    assert units == [f"CMP-{n:05d}" for n in range(rows)]
    assert ("and 3 more" in shown) is (more is not None)
    assert {"270", "discharge_temp_f", "Permian", "2026-11-21 06:00 UTC"} <= set(shown)
