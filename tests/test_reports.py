"""Typed stage reports: what monitoring, the CLI and the exit values read survives JSON and refuses strangers."""

from __future__ import annotations

import json

import pytest

from altaviz.reports import REPORTS, BronzeReport, GoldReport, SilverReport, StageResult


def test_a_stage_result_survives_its_json_with_its_report_typed_by_stage():
    result = StageResult("silver", 10, 7, 1.5, SilverReport("s-1", raw_rows=10, clean_rows=7, rejected_rows=2,
                                                            duplicate_rows=1, reject_reasons={"stuck_sensor": 2},
                                                            held=True, blocked=["fleet_completeness"]))
    back = StageResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back == result and isinstance(back.report, SilverReport) and back.report.held is True


def test_a_report_refuses_a_field_it_does_not_have_naming_it():
    with pytest.raises(ValueError, match="GoldReport has no field 'rejected_rows'"):
        GoldReport.from_dict({"rejected_rows": 1})
    with pytest.raises(ValueError, match="no report type for stage 'stream'"):
        StageResult.from_dict({"stage": "stream", "rows_in": 0, "rows_out": 0, "seconds": 0.0, "details": {}})


def test_every_stage_has_its_report_type():
    assert set(REPORTS) == {"bronze", "bronze_stream", "silver", "gold", "ml", "sql_endpoint_refresh"}
    assert REPORTS["bronze"] is BronzeReport


def test_a_report_given_as_its_dict_is_typed_by_stage_and_checked():
    result = StageResult("gold", 5, 3, 2.0, {"run_id": "g-1", "agg_rows": 3})
    assert result.report == GoldReport("g-1", agg_rows=3)
    with pytest.raises(ValueError, match="SilverReport has no field 'agg_rowz'"):
        StageResult("silver", 1, 1, 0.1, {"agg_rowz": 3})
