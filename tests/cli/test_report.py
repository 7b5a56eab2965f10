"""Given decisions in the audit table, when an operator runs ``cc-reaper report``, then one
self-contained HTML file holds a real PNG per chart and, under each, a table whose numbers are
the audit's; untrusted audit text is escaped and cut; ``--csv`` has every decision of the window;
without matplotlib the command says which extra to install, in one line."""

from __future__ import annotations

import base64
import csv
import io
import re
import struct
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from enum import Enum
from html.parser import HTMLParser

import pytest
from matplotlib.image import imread
from reaper.models import Decision, Outcome
from reaper_cli.report import CSV_COLUMNS, MISSING_EXTRA

from .seeding import decision, seed_audit

DEPLOYER = "arn:aws:iam::111122223333:role/deployer"
ANA = "arn:aws:iam::111122223333:user/ana"
SCRIPT = "<script>alert('owned')</script>"
FORMULA = '=HYPERLINK("x","click")'
LONG = "y" * 1000
HOUR = 3600
NOW = datetime.now(UTC)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


SEEDED = [
    decision(
        "tok-1",
        type_name="AWS::S3::Bucket",
        started_by=DEPLOYER,
        age_seconds=7 * HOUR,
        decided_at=ago(days=1),
    ),
    decision(
        "tok-2",
        type_name="AWS::S3::Bucket",
        started_by=DEPLOYER,
        age_seconds=8 * HOUR,
        outcome=Outcome.CANCELLED,
        decided_at=ago(minutes=5),
    ),
    decision(
        "tok-3",
        type_name="AWS::Logs::LogGroup",
        age_seconds=int(6.5 * HOUR),
        outcome=Outcome.DRY_RUN,
        dry_run=True,
        decided_at=ago(days=2),
    ),
    decision(
        "tok-4",
        type_name="AWS::Logs::LogGroup",
        age_seconds=9 * HOUR,
        outcome=Outcome.DEFERRED_CAP,
        decided_at=ago(minutes=4),
    ),
    decision(
        "tok-5",
        type_name="AWS::Logs::LogGroup",
        outcome=Outcome.FAILED,
        error_code="Throttling",
        error_message=SCRIPT,
        decided_at=ago(days=1, minutes=1),
    ),
    decision(
        "tok-6",
        outcome=Outcome.FAILED,
        error_code="InternalFailure",
        error_message=FORMULA,
        decided_at=ago(minutes=3),
    ),
    decision(
        "tok-10",
        type_name="AWS::Logs::LogGroup",
        outcome=Outcome.FAILED,
        error_code="Throttling",
        error_message=LONG,
        decided_at=ago(days=1, minutes=1),
    ),
    decision("tok-7", outcome=Outcome.NOT_STALE, age_seconds=HOUR, decided_at=ago(minutes=2)),
    decision(
        "tok-8",
        type_name="AWS::RDS::DBInstance",
        started_by=ANA,
        age_seconds=25 * HOUR,
        decided_at=ago(days=3),
    ),
    # A TypeName that would be mathtext, were chart labels not plain text
    decision(
        "tok-9",
        type_name="Custom::$x^$::Thing",
        outcome=Outcome.DRY_RUN,
        age_seconds=6 * HOUR,
        dry_run=True,
        decided_at=ago(days=4),
    ),
]
OUTSIDE = decision("tok-old", decided_at=ago(days=10))
CANCELLED = {Outcome.CANCELLED, Outcome.CANCEL_COMPLETE}
STALE = [
    *CANCELLED,
    Outcome.DRY_RUN,
    Outcome.DEFERRED_CAP,
    Outcome.DEFERRED_KILL_SWITCH,
    Outcome.AWAITING_APPROVAL,
]


class Report(HTMLParser):
    """Each <section id=...>: its table rows (cell texts) and its images' sources."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[list[str]]] = {}
        self.images: dict[str, list[str]] = {}
        self.references: list[str] = []
        self._section = ""
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.references += [v or "" for k, v in attrs if k in ("src", "href", "action")]
        if tag == "section":
            self._section = found["id"] or ""
        elif tag == "img":
            self.images.setdefault(self._section, []).append(found["src"] or "")
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.setdefault(self._section, []).append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def table(self, section: str) -> dict[str, list[str]]:
        """Rows after the header, by their first cell."""
        return {row[0]: row[1:] for row in self.rows[section][1:]}


@pytest.fixture
def report(cli, stack, tmp_path):
    seed_audit(stack, *SEEDED, OUTSIDE)
    out, csv_path = tmp_path / "report.html", tmp_path / "decisions.csv"
    result = cli("report", "--since", "7d", "--out", str(out), "--csv", str(csv_path))
    assert result.code == 0, result.err
    text = out.read_text(encoding="utf-8")
    parsed = Report()
    parsed.feed(text)
    return text, parsed, csv_path


def day(d: Decision) -> str:
    return d.decided_at.date().isoformat()


def test_the_summary_counts_the_window_of_the_audit(report):
    _, parsed, _ = report
    summary = {row[0]: row[1] for row in parsed.rows["summary"]}
    outcomes = Counter(d.outcome for d in SEEDED)

    assert summary["decisions"] == str(len(SEEDED))
    assert summary["cancelled"] == str(sum(outcomes[o] for o in CANCELLED))
    assert summary["would cancel (dry run)"] == str(outcomes[Outcome.DRY_RUN])
    assert summary["failed"] == str(outcomes[Outcome.FAILED])
    assert summary["window (UTC)"].endswith("Z")


def test_cancellations_per_day_equal_the_audit(report):
    _, parsed, _ = report
    header = parsed.rows["per-day"][0]
    expected = Counter((day(d), d.outcome.value) for d in SEEDED if d.outcome in STALE)

    table = parsed.table("per-day")
    assert len(table) == 8  # every UTC day of a 7-day window, today included
    for when, cells in table.items():
        counts = dict(zip(header[1:], cells, strict=True))
        for outcome in STALE:
            assert counts[outcome.value] == str(expected[(when, outcome.value)])
        assert counts["total"] == str(sum(n for (d, _), n in expected.items() if d == when))


def ranking(key) -> dict[str, list[str]]:
    counts: dict[str, Counter[str]] = {}
    for d in SEEDED:
        if d.outcome in CANCELLED or d.outcome is Outcome.DRY_RUN:
            kind = "dry" if d.outcome is Outcome.DRY_RUN else "cancelled"
            counts.setdefault(key(d), Counter())[kind] += 1
    return {k: [str(c["cancelled"]), str(c["dry"]), str(c.total())] for k, c in counts.items()}


def test_top_types_and_starters_equal_the_audit(report):
    _, parsed, _ = report

    assert parsed.table("types") == ranking(lambda d: d.type_name)
    assert parsed.table("starters") == ranking(lambda d: d.started_by or "(not recorded)")
    assert parsed.table("starters")[DEPLOYER] == ["2", "0", "2"]


def test_age_at_cancel_by_type_in_hours(report):
    _, parsed, _ = report

    assert parsed.table("ages") == {
        "AWS::S3::Bucket": ["2", "7.0", "7.5", "8.0"],
        "AWS::Logs::LogGroup": ["1", "6.5", "6.5", "6.5"],
        "AWS::RDS::DBInstance": ["1", "25.0", "25.0", "25.0"],
        "Custom::$x^$::Thing": ["1", "6.0", "6.0", "6.0"],
    }


def test_failures_per_day_by_error_code(report):
    _, parsed, _ = report
    expected = Counter((day(d), d.error_code) for d in SEEDED if d.outcome is Outcome.FAILED)

    assert sorted(parsed.rows["failures"][1:]) == sorted(
        [when, code, str(n), "0", str(n)] for (when, code), n in expected.items()
    )
    assert max(expected.values()) == 2  # two failures with one code on one day


def test_every_chart_is_a_png_that_decodes(report):
    _, parsed, _ = report
    charts = {section: srcs for section, srcs in parsed.images.items()}

    assert set(charts) == {"per-day", "ages", "types", "starters", "failures"}
    for srcs in charts.values():
        (src,) = srcs
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        width, height = struct.unpack(">II", png[16:24])
        assert width > 100 and height > 100
        assert imread(io.BytesIO(png), format="png").shape[:2] == (height, width)


def test_the_page_references_nothing_outside_itself(report):
    text, parsed, _ = report

    assert not re.search(r"https?://", text)
    assert parsed.references and all(r.startswith("data:") for r in parsed.references)
    assert "<script" not in text.lower() and "<link" not in text.lower()


def test_audit_text_is_escaped_and_cut(report):
    text, parsed, _ = report
    failures = {row[1]: row for row in parsed.rows["latest-failures"][1:]}

    # The parser unescapes what the page escaped: the text reads as it was written
    assert failures["tok-5"][-1] == SCRIPT
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in text
    assert failures["tok-6"][-1] == FORMULA
    # A long field is cut in the page (the CSV has it whole)
    assert LONG not in text
    assert len(failures["tok-10"][-1]) == 200 and failures["tok-10"][-1].endswith("y…")


def test_the_csv_holds_every_decision_of_the_window(report):
    _, _, csv_path = report
    with csv_path.open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = {row["token"]: row for row in reader}

    assert set(rows) == {d.token for d in SEEDED}  # tok-old is outside the window
    for seeded in SEEDED:
        expected = {column: plain(getattr(seeded, column)) for column in CSV_COLUMNS}
        if seeded.error_message == FORMULA:  # a spreadsheet must not run it
            expected["error_message"] = "'" + FORMULA
        assert rows[seeded.token] == expected
    assert set(CSV_COLUMNS) <= set(Decision.__dataclass_fields__)


def plain(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime):
        return value.isoformat()
    return value.value if isinstance(value, Enum) else str(value)


def test_an_empty_window_is_a_report_of_nothing(cli, stack, tmp_path):
    out = tmp_path / "empty.html"

    result = cli("--json", "report", "--since", "2h", "--out", str(out))

    assert result.code == 0, result.err
    assert result.json_lines()[0]["decisions"] == 0
    parsed = Report()
    parsed.feed(out.read_text(encoding="utf-8"))
    assert {row[0]: row[1] for row in parsed.rows["summary"]}["decisions"] == "0"
    assert len(parsed.images) == 5


def test_the_config_shown_is_the_one_given(cli, stack, tmp_path):
    config = tmp_path / "reaper.json"
    config.write_text('{"dry_run": false, "default_threshold_minutes": 120}')
    out = tmp_path / "report.html"

    result = cli("report", "--since", "1h", "--out", str(out), "--config", str(config))

    assert result.code == 0, result.err
    parsed = Report()
    parsed.feed(out.read_text(encoding="utf-8"))
    shown = {row[0]: row[1] for row in parsed.rows["config"]}
    assert shown["dry_run"] == "false"
    assert shown["default_threshold_minutes"] == "120"
    assert shown["blocking_threshold_minutes"] == "null"


def test_without_the_extra_it_says_which_to_install(cli, stack, tmp_path, monkeypatch):
    # Given matplotlib cannot be imported (and the charts module is not loaded yet)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.delitem(sys.modules, "reaper_cli.report_charts", raising=False)
    out = tmp_path / "report.html"

    result = cli("report", "--out", str(out))

    assert result.code == 2
    assert result.err.splitlines() == [f"cc-reaper: error: {MISSING_EXTRA}"]
    assert MISSING_EXTRA == (
        "the report needs the report extra: pip install 'cloudcontrol-request-reaper[report]'"
    )
    assert not out.exists()


def test_help_never_imports_matplotlib():
    code = (
        "import sys, contextlib, io\n"
        "from reaper_cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print('matplotlib' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert done.stdout.strip() == "False"
