"""simulate(): landing files per arrival hour under the contract, reference data, labels and re-runs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from altaviz.errors import UsageError
from altaviz.lakehouse.paths import LocalLakehousePaths, OneLakePaths
from altaviz.simulator import TELEMETRY_SCHEMA, simulate

# The `simulated` fixture's run (tests/simulator/conftest.py).
DEMO_UNITS, DEMO_DAYS, DEMO_START, DEMO_SEED = 200, 2, date(2025, 6, 1), 42

HOUR_US = 3_600_000_000
FILE_NAME = re.compile(r"date=(\d{4}-\d{2}-\d{2})/telemetry_(\d{8})_(\d{2})\.parquet$")


def _hour_start_us(path: str) -> int:
    day, stamp, hour = FILE_NAME.search(path).groups()
    assert stamp == day.replace("-", ""), "the date folder is the file's arrival date"
    at = datetime.strptime(f"{stamp}{hour}", "%Y%m%d%H").replace(tzinfo=UTC)
    return int(at.timestamp()) * 1_000_000


def test_landing_files_follow_the_contract(simulated):
    """Every landing file has exactly the telemetry contract's columns, names, order and types."""
    _, report = simulated
    for path in report.files:
        assert pq.read_schema(path).equals(TELEMETRY_SCHEMA), path


def test_one_file_per_arrival_hour_under_date_folders(simulated):
    """Files are named by arrival hour under date=YYYY-MM-DD folders of the lh_bronze_raw landing zone."""
    root, report = simulated
    assert len(report.files) == 24 * DEMO_DAYS
    landing = Path(root) / "lh_bronze_raw.Lakehouse" / "Files" / "landing" / "telemetry"
    assert sorted(report.files) == sorted(str(p) for p in landing.glob("date=*/*.parquet"))
    hours = [_hour_start_us(p) for p in report.files]
    first = int(datetime.combine(DEMO_START, datetime.min.time(), UTC).timestamp()) * 1_000_000
    assert hours == [first + h * HOUR_US for h in range(24 * DEMO_DAYS)]


def test_rows_land_in_the_hour_they_arrive(landed, simulated):
    """Readings are never filed before they were taken, and almost all land in their own hour's file."""
    _, report = simulated
    hour_of_file = {Path(p).name: _hour_start_us(p) for p in report.files}
    file_hour = np.array([hour_of_file[f] for f in landed["file"].to_pylist()])
    ts = landed["timestamp"].cast(pa.int64()).to_numpy()
    assert (ts < file_hour + HOUR_US).all()
    assert np.mean(ts >= file_hour) > 0.99


def test_late_rows_arrive_in_a_later_file(landed, simulated, profile):
    """About the configured share of rows arrive 1-6 hours late, in a later hour's file."""
    _, report = simulated
    hour_of_file = {Path(p).name: _hour_start_us(p) for p in report.files}
    file_hour = np.array([hour_of_file[f] for f in landed["file"].to_pylist()])
    lag_hours = (file_hour - landed["timestamp"].cast(pa.int64()).to_numpy()) / HOUR_US
    late = lag_hours > 0
    expected = profile.dirt.late_rate + profile.dirt.duplicate_rate
    assert 0.4 * expected < late.mean() < 2 * expected
    assert lag_hours.max() <= 7 + 3


def test_duplicates_are_exact_copies_in_later_files(landed):
    """A reading sent twice appears as an identical row in a later hour's file."""
    keys = pa.table({"id": landed["compressor_id"], "ts": landed["timestamp"]})
    counts = keys.group_by(["id", "ts"]).aggregate([([], "count_all")])
    repeated = counts.filter(pc.greater(counts["count_all"], 1))
    assert 0 < repeated.num_rows < 0.003 * landed.num_rows
    for row in repeated.slice(0, 10).to_pylist():
        mask = pc.and_(pc.equal(landed["compressor_id"], row["id"]), pc.equal(landed["timestamp"], row["ts"]))
        copies = landed.filter(mask)
        first, second = copies.drop_columns(["file"]).to_pylist()
        assert first == second  # nulls read back as None, so equal copies compare equal
        assert len(set(copies["file"].to_pylist())) == 2


def test_rows_within_files_are_not_perfectly_sorted(simulated):
    """Out-of-order arrival: some files hold rows whose timestamps go backwards."""
    _, report = simulated
    stamps = [pq.read_table(p, columns=["timestamp"])["timestamp"].cast(pa.int64()).to_numpy()
              for p in report.files]
    backwards = [np.diff(ts).min() < 0 for ts in stamps]
    assert sum(backwards) > 0


def test_report_matches_what_was_written(simulated, landed):
    """The report counts the rows, files, labels and failing units actually written."""
    root, report = simulated
    assert report.readings == landed.num_rows
    assert (report.compressors, report.days, report.start, report.seed) == (DEMO_UNITS, DEMO_DAYS, DEMO_START,
                                                                             DEMO_SEED)
    assert pq.read_metadata(report.labels_file).num_rows == report.label_rows > 0
    assert report.failing_units >= 0.03 * DEMO_UNITS
    names = sorted(Path(p).name for p in report.reference_files)
    assert names == ["basins.parquet", "compressors.parquet", "stations.parquet"]
    assert all(Path(p).is_relative_to(Path(root)) for p in (*report.files, *report.reference_files))


def test_labels_name_units_of_the_fleet(simulated):
    """Failure labels point at fleet compressors and carry UTC onset and failure times."""
    _, report = simulated
    labels = pq.read_table(report.labels_file)
    compressors = next(p for p in report.reference_files if p.endswith("compressors.parquet"))
    fleet_ids = set(pq.read_table(compressors, columns=["compressor_id"])["compressor_id"].to_pylist())
    assert set(labels["compressor_id"].to_pylist()) <= fleet_ids
    assert str(labels.schema.field("failure_time").type) == "timestamp[us, tz=UTC]"
    assert pc.all(pc.less(labels["onset_time"], labels["failure_time"])).as_py()


def test_rerun_rewrites_identical_files(simulated, tmp_path):
    """Re-running with the same arguments rewrites every file byte for byte."""
    root, report = simulated
    before = {p: Path(p).read_bytes() for p in (*report.files, *report.reference_files, report.labels_file)}
    again = simulate(LocalLakehousePaths(root), compressors=DEMO_UNITS, days=DEMO_DAYS, start=DEMO_START,
                     seed=DEMO_SEED)
    assert again.files == report.files
    assert {p: Path(p).read_bytes() for p in before} == before
    assert not list(Path(root).rglob(".*.tmp")), "no temp files left behind"


def test_day_by_day_equals_multi_day(landed, tmp_path):
    """Simulating the days one at a time lands the same readings as one multi-day run."""
    paths = LocalLakehousePaths(tmp_path)
    files = []
    for i in range(DEMO_DAYS):
        files += simulate(paths, compressors=DEMO_UNITS, days=1, start=DEMO_START + timedelta(days=i),
                          seed=DEMO_SEED).files
    one_by_one = pa.concat_tables(pq.read_table(p) for p in files)
    keys = [("compressor_id", "ascending"), ("timestamp", "ascending")]
    assert one_by_one.num_rows == landed.num_rows
    assert one_by_one.sort_by(keys).equals(landed.drop_columns(["file"]).sort_by(keys))


def test_start_defaults_to_today_minus_days(tmp_path):
    """Without a start the data ends at today 00:00 UTC."""
    report = simulate(LocalLakehousePaths(tmp_path), compressors=3, days=2)
    assert report.start == datetime.now(UTC).date() - timedelta(days=2)


def test_progress_reports_reference_and_days(tmp_path):
    """progress(step, done, total) is called for the reference files and after each day."""
    calls = []
    simulate(LocalLakehousePaths(tmp_path), compressors=5, days=2, start=DEMO_START,
             progress=lambda *args: calls.append(args))
    assert calls == [("reference", 4, 4), ("day", 1, 2), ("day", 2, 2)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": date(1999, 1, 1)}, "horizon"),
        ({"days": 0}, "days must be >= 1"),
        ({"compressors": 0}, "compressors must be >= 1"),
    ],
    ids=["outside-horizon", "no-days", "no-units"],
)
def test_bad_arguments_are_usage_errors(tmp_path, kwargs, message):
    """Windows outside the plan horizon and empty runs are UsageErrors."""
    with pytest.raises(UsageError, match=message):
        arguments = {"compressors": 5, "days": 1, "start": DEMO_START, **kwargs}
        simulate(LocalLakehousePaths(tmp_path), **arguments)


def test_remote_lakehouse_is_refused():
    """Only local lakehouse roots are written."""
    with pytest.raises(UsageError, match="local"):
        simulate(OneLakePaths("workspace"), compressors=5, days=1, start=DEMO_START)
