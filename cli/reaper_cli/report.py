"""``cc-reaper report``: one self-contained HTML file from a window of the audit (charts, the
table behind each, the config and a summary), and with --csv every decision in the window.

matplotlib is the ``report`` extra, imported only when this command runs: ``cc-reaper --help``
and every other command never load it. Audit fields are untrusted text: every one is cut and
HTML-escaped in the page, and a CSV cell a spreadsheet would read as a formula is quoted.
"""

from __future__ import annotations

import argparse
import base64
import csv
import html
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reaper.adapters.audit_table import AuditTable
from reaper.config import ReaperConfig
from reaper.models import Decision, Outcome, clip
from reaper.wiring import build_audit_table

from reaper_cli.account import Account, Need
from reaper_cli.audit import parse_time
from reaper_cli.errors import USAGE, CliError
from reaper_cli.render import Output

if TYPE_CHECKING:
    from reaper_cli.report_charts import Section

HELP = "an HTML report of the audit over a window: charts, their tables, the config (--out)"
MISSING_EXTRA = (
    "the report needs the report extra: pip install 'cloudcontrol-request-reaper[report]'"
)
# Decided to cancel: done, or would be but for the dry run (charts 2 to 4 count both).
CANCELS = (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE)
CANCELLATIONS = (*CANCELS, Outcome.DRY_RUN)
# Everything decided about a stale request, by what happened to it (chart 1).
DEFERRED = (Outcome.DEFERRED_CAP, Outcome.DEFERRED_KILL_SWITCH)
STALE = (*CANCELLATIONS, *DEFERRED, Outcome.AWAITING_APPROVAL)
# Failed decisions are dead-lettered (an SQS record's on its last receive); invalid input always.
FAILURES = (Outcome.FAILED, Outcome.INVALID)
DEFAULT_TOP = 10
MAX_TOP = 50
# A table cell shows at most this much of an audit field (the CSV has it all).
CELL_CHARS = 200
CSV_COLUMNS = (
    "decided_at",
    "token",
    "source",
    "delivery_id",
    "request_id",
    "outcome",
    "dry_run",
    "type_name",
    "identifier",
    "operation",
    "status_seen",
    "status_after",
    "event_time",
    "first_seen",
    "age_seconds",
    "threshold_minutes",
    "error_code",
    "error_message",
    "reason",
    "why",
    "started_by",
    "user_agent",
    "hooks_token",
    "hook_status",
    "blocked_call",
    "leftover",
)
# A spreadsheet reads a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("report", help=HELP, description=HELP)
    add = parser.add_argument
    add("--since", default="7d", help="ISO-8601 time or age like 2h, 7d, 4w (default 7d)")
    add("--until", default="now", help="ISO-8601 time, age or 'now' (default)")
    add("--out", required=True, type=Path, metavar="FILE.html", help="where to write the report")
    add("--csv", type=Path, metavar="FILE.csv", help="also every decision in the window, one a row")
    add(
        "--top",
        type=int,
        default=DEFAULT_TOP,
        help=f"types and starters shown (1 to {MAX_TOP}, default {DEFAULT_TOP})",
    )
    add(
        "--config",
        type=Path,
        metavar="FILE.json",
        help="the config to show (the deployed function's REAPER_CONFIG); default: the defaults",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, account: Account, output: Output) -> int:
    if not 1 <= args.top <= MAX_TOP:
        raise CliError(f"--top must be 1 to {MAX_TOP}", USAGE)
    now = datetime.now(UTC)
    since, until = parse_time(args.since, now), parse_time(args.until, now)
    if since >= until:
        raise CliError(f"--since ({since:%Y-%m-%dT%H:%M}Z) must be before --until", USAGE)
    try:
        import reaper_cli.report_charts as charts  # noqa: PLC0415 (the extra, only when used)
    except ImportError:
        raise CliError(MISSING_EXTRA, USAGE) from None
    config, config_source = config_in_force(args.config)
    settings = account.settings(config, Need.TABLE)
    decisions = read_window(build_audit_table(settings, account.clients), since, until, output)
    window = f"{since:%Y-%m-%d %H:%M}Z to {until:%Y-%m-%d %H:%M}Z"
    page = Page(
        title=f"Cloud Control Request Reaper: {window}",
        summary=summary(decisions, window),
        where=[
            ("stack", "-" if args.table else args.stack_name),
            ("audit table", settings.audit_table_name),
            ("region", account.session.region_name or "-"),
            ("generated at", f"{now:%Y-%m-%d %H:%M:%S}Z"),
        ],
        config_source=config_source,
        config=config_rows(config),
        sections=charts.build_sections(decisions, days_of(since, until), args.top),
    )
    text = render(page)  # before the file is opened: a failed drawing leaves no stub
    _write(args.out, lambda file: file.write(text))
    if args.csv:
        _write(args.csv, lambda file: write_csv(file, decisions))
    if output.json:
        output.emit(
            {
                "out": str(args.out),
                "csv": str(args.csv) if args.csv else None,
                "decisions": len(decisions),
                "since": since,
                "until": until,
            }
        )
    else:
        also = f"; every decision in {args.csv}" if args.csv else ""
        output.out.print(
            f"Report of {len(decisions)} decision(s), {window}: {args.out}{also}",
            markup=False,
            soft_wrap=True,
        )
    return 0


def config_in_force(path: Path | None) -> tuple[ReaperConfig, str]:
    """The file's config as it is (its dry_run included: this command cancels nothing)."""
    if path is None:
        return ReaperConfig(), "ReaperConfig's defaults (--config FILE.json shows another)"
    try:
        text = path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read --config {path}: {exc.strerror}", USAGE) from None
    return ReaperConfig.model_validate_json(text), f"from {path}"


def days_of(since: datetime, until: datetime) -> list[date]:
    first, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def read_window(
    audit: AuditTable, since: datetime, until: datetime, output: Output
) -> list[Decision]:
    """``by_time(since, until)`` a UTC day at a time (its one query a day), with a progress bar."""
    decisions: list[Decision] = []
    days = days_of(since, until)
    with output.bar() as progress:
        task = progress.add_task("reading the audit", total=len(days))
        for day in days:
            start = max(since, datetime.combine(day, time.min, UTC))
            end = min(until, datetime.combine(day, time.max, UTC))
            decisions.extend(audit.by_time(start, end))
            progress.advance(task)
    return decisions


def summary(decisions: Sequence[Decision], window: str) -> list[tuple[str, object]]:
    counts = Counter(d.outcome for d in decisions)
    return [
        ("window (UTC)", window),
        ("decisions", len(decisions)),
        ("tokens", len({d.token for d in decisions})),
        ("cancelled", sum(counts[o] for o in CANCELS)),
        ("would cancel (dry run)", counts[Outcome.DRY_RUN]),
        ("deferred (cap or kill switch)", sum(counts[o] for o in DEFERRED)),
        ("awaiting approval", counts[Outcome.AWAITING_APPROVAL]),
        ("failed", counts[Outcome.FAILED]),
        ("invalid input", counts[Outcome.INVALID]),
    ]


def config_rows(config: ReaperConfig) -> list[tuple[str, object]]:
    """Each field as in the JSON of REAPER_CONFIG (numbers stay numbers)."""
    return [
        (name, value if type(value) in (int, float, str) else json.dumps(value))
        for name, value in config.model_dump(mode="json").items()
    ]


# ---------------------------------------------------------------------- the page
@dataclass(frozen=True)
class Page:
    title: str
    summary: list[tuple[str, object]]
    where: list[tuple[str, object]]
    config_source: str
    config: list[tuple[str, object]]
    sections: list[Section]


# No script, no external anything: the policy says so to the browser too.
HEAD = (
    '<meta charset="utf-8">'
    '<meta http-equiv="Content-Security-Policy" '
    "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
    "<style>body{font-family:sans-serif;margin:2em;max-width:80em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 2em}"
    "th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}"
    "td.n{text-align:right}img{max-width:100%}p.shows{color:#555}</style>"
)


def render(page: Page) -> str:
    """The whole report as one HTML document; every value through ``_cell`` (cut, escaped)."""
    parts = [
        f'<!doctype html><html lang="en"><head>{HEAD}<title>{_text(page.title)}</title></head>',
        f"<body><h1>{_text(page.title)}</h1>",
        '<section id="summary"><h2>Summary</h2>',
        _pairs(page.summary),
        _pairs(page.where),
        "</section>",
        f'<section id="config"><h2>Config</h2><p class="shows">{_text(page.config_source)}</p>',
        _pairs(page.config),
        "</section>",
    ]
    for section in page.sections:
        parts.append(f'<section id="{_text(section.key)}"><h2>{_text(section.title)}</h2>')
        parts.append(f'<p class="shows">{_text(section.shows)}</p>')
        png = section.png()
        if png is not None:
            data = base64.b64encode(png).decode("ascii")
            parts.append(f'<img alt="{_text(section.title)}" src="data:image/png;base64,{data}">')
        parts.append(_table(section.columns, section.rows))
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _pairs(rows: Iterable[tuple[str, object]]) -> str:
    cells = "".join(f"<tr><th>{_text(name)}</th>{_cell(value)}</tr>" for name, value in rows)
    return f"<table>{cells}</table>"


def _table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{_text(c)}</th>" for c in columns)
    body = "".join(f"<tr>{''.join(_cell(v) for v in row)}</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="n">{value}</td>'
    return f"<td>{_text(str(value))}</td>"


def _text(value: str) -> str:
    """Cut first, then escape (cutting after would break an entity)."""
    return html.escape(clip(value, CELL_CHARS) or "", quote=True)


# ---------------------------------------------------------------------- files
def write_csv(out: Any, decisions: Iterable[Decision]) -> None:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for d in decisions:
        writer.writerow([csv_cell(getattr(d, column)) for column in CSV_COLUMNS])


def csv_cell(value: object) -> str:
    """Plain text a spreadsheet shows as text: a leading ``=+-@`` gets a ``'``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    text = value.value if isinstance(value, Enum) else str(value)
    return "'" + text if isinstance(value, str) and text.startswith(FORMULA_STARTS) else text


def _write(path: Path, write: Callable[[Any], object]) -> None:
    try:
        with path.open("w", encoding="utf-8", newline="") as file:
            write(file)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}", USAGE) from None
