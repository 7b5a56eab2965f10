"""What each chart of ``cc-reaper report`` shows: the table behind it (built from the audit's
decisions) and its picture, PNG bytes from matplotlib's Agg canvas (no pyplot, no global backend).

Imported only by ``cc-reaper report`` when it runs (matplotlib is the ``report`` extra). Labels
come from the audit, which is untrusted text: they are cut, and never read as mathtext or TeX.
"""

from __future__ import annotations

import io
import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from reaper.models import Decision, Outcome

from reaper_cli.report import CANCELLATIONS, FAILURES, STALE

# Error codes drawn in the failures chart; the rest is one "(other codes)" series.
CHART_CODES = 8
LATEST_FAILURES = 50
NOT_RECORDED = "(not recorded)"
NO_TYPE = "(no type)"
NO_CODE = "(no code)"

DPI = 96
LABEL_CHARS = 40
# More category labels than this on an axis: only every n-th is written.
MAX_TICK_LABELS = 20


@dataclass(frozen=True)
class Bars:
    """Stacked bars: ``series[name][i]`` is that series' part of ``categories[i]``."""

    categories: list[str]
    series: dict[str, list[int]]
    value_label: str
    horizontal: bool = False


@dataclass(frozen=True)
class Boxes:
    groups: dict[str, list[float]]
    value_label: str


@dataclass(frozen=True)
class Section:
    """One part of the report: a chart (or none) and the table it is drawn from."""

    key: str
    title: str
    shows: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]
    chart: Bars | Boxes | None

    def png(self) -> bytes | None:
        if isinstance(self.chart, Bars):
            return bars(self.title, self.chart)
        if isinstance(self.chart, Boxes):
            return boxes(self.title, self.chart)
        return None


def build_sections(decisions: Sequence[Decision], days: list[date], top: int) -> list[Section]:
    """The report's parts in order: the five charts with their tables, then the failures."""
    return [
        per_day(decisions, days),
        ages(decisions, top),
        ranking(decisions, top, key_name="types", title="Top types", column="type", key=_type),
        ranking(
            decisions,
            top,
            key_name="starters",
            title="Top starters",
            column="started by",
            key=_starter,
        ),
        failures(decisions, days),
        latest_failures(decisions),
    ]


def _type(d: Decision) -> str:
    return d.type_name or NO_TYPE


def _starter(d: Decision) -> str:
    return d.started_by or NOT_RECORDED


def per_day(decisions: Iterable[Decision], days: list[date]) -> Section:
    counts: dict[date, Counter[Outcome]] = {day: Counter() for day in days}
    for d in decisions:
        if d.outcome in STALE:
            counts.setdefault(_day(d), Counter())[d.outcome] += 1
    return Section(
        key="per-day",
        title="Cancellations per day, by outcome",
        shows="Decisions about stale requests per UTC day: cancelled, cancel_complete, "
        "dry_run (would cancel), deferred by the cap or the kill switch, awaiting approval.",
        columns=("day", *(o.value for o in STALE), "total"),
        rows=[
            (day.isoformat(), *(counts[day][o] for o in STALE), sum(counts[day].values()))
            for day in days
        ],
        chart=Bars(
            categories=[day.isoformat() for day in days],
            series={o.value: [counts[day][o] for day in days] for o in STALE},
            value_label="decisions",
        ),
    )


def ages(decisions: Iterable[Decision], top: int) -> Section:
    hours: dict[str, list[float]] = {}
    for d in decisions:
        if d.outcome in CANCELLATIONS and d.age_seconds is not None:
            hours.setdefault(d.type_name or NO_TYPE, []).append(d.age_seconds / 3600)
    shown = sorted(hours.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:top]
    return Section(
        key="ages",
        title="Age at cancel, by type (hours)",
        shows="How old each request was when it was cancelled (or would have been, in a dry "
        f"run): a box per type, every cancel a point; the {top} types cancelled most.",
        columns=("type", "cancels", "min h", "median h", "max h"),
        rows=[
            (name, len(v), f"{min(v):.1f}", f"{statistics.median(v):.1f}", f"{max(v):.1f}")
            for name, v in shown
        ],
        chart=Boxes(groups=dict(shown), value_label="hours"),
    )


def ranking(
    decisions: Iterable[Decision],
    top: int,
    *,
    key_name: str,
    title: str,
    column: str,
    key: Callable[[Decision], str],
) -> Section:
    counts: dict[str, Counter[str]] = {}
    for d in decisions:
        if d.outcome in CANCELLATIONS:
            kind = "dry_run" if d.outcome is Outcome.DRY_RUN else "cancelled"
            counts.setdefault(key(d), Counter())[kind] += 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1].total(), kv[0]))
    shown, rest = ranked[:top], ranked[top:]
    rows: list[tuple[object, ...]] = [
        (name, c["cancelled"], c["dry_run"], c.total()) for name, c in shown
    ]
    if rest:
        others = sum((c for _, c in rest), Counter[str]())
        rows.append((f"({len(rest)} more)", others["cancelled"], others["dry_run"], others.total()))
    return Section(
        key=key_name,
        title=f"{title} (cancellations)",
        shows=f"Cancellations (and would-be cancellations of a dry run) by {column}; "
        f"the top {top}.",
        columns=(column, "cancelled", "would cancel (dry run)", "total"),
        rows=rows,
        chart=Bars(
            categories=[name for name, _ in shown],
            series={
                "cancelled": [c["cancelled"] for _, c in shown],
                "would cancel (dry run)": [c["dry_run"] for _, c in shown],
            },
            value_label="cancellations",
            horizontal=True,
        ),
    )


def failures(decisions: Iterable[Decision], days: list[date]) -> Section:
    counts: dict[tuple[date, str], Counter[Outcome]] = {}
    for d in decisions:
        if d.outcome in FAILURES:
            counts.setdefault((_day(d), d.error_code or NO_CODE), Counter())[d.outcome] += 1
    by_code = Counter[str]()
    for (_, code), c in counts.items():
        by_code[code] += c.total()
    drawn = [code for code, _ in sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0]))]
    series = {
        code: [counts.get((day, code), Counter()).total() for day in days]
        for code in drawn[:CHART_CODES]
    }
    if len(drawn) > CHART_CODES:
        series["(other codes)"] = [
            sum(counts.get((day, code), Counter()).total() for code in drawn[CHART_CODES:])
            for day in days
        ]
    return Section(
        key="failures",
        title="Failures and dead letters, per day by error code",
        shows="Failed decisions (dead-lettered: at once from a sweep or an event, on the last "
        "receive from the work queue) and invalid input (always dead-lettered), per UTC day.",
        columns=("day", "error code", "failed", "invalid", "total"),
        rows=[
            (day.isoformat(), code, c[Outcome.FAILED], c[Outcome.INVALID], c.total())
            for (day, code), c in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1].total()))
        ],
        chart=Bars(
            categories=[day.isoformat() for day in days], series=series, value_label="decisions"
        ),
    )


def latest_failures(decisions: Iterable[Decision]) -> Section:
    failed = sorted((d for d in decisions if d.outcome in FAILURES), key=lambda d: d.decided_at)
    return Section(
        key="latest-failures",
        title="Latest failures",
        shows=f"The last {LATEST_FAILURES} failed or invalid decisions, newest first "
        "(--csv has every decision).",
        columns=("decided at (UTC)", "token", "type", "source", "outcome", "error code", "error"),
        rows=[
            (
                f"{d.decided_at:%Y-%m-%d %H:%M:%S}",
                d.token,
                d.type_name or "-",
                d.source.value,
                d.outcome.value,
                d.error_code or "-",
                d.error_message or "-",
            )
            for d in reversed(failed[-LATEST_FAILURES:])
        ],
        chart=None,
    )


def _day(d: Decision) -> date:
    return d.decided_at.astimezone(UTC).date()


# ---------------------------------------------------------------------- pictures
def bars(title: str, spec: Bars) -> bytes:
    """Stacked bars, one stack per category, one colour per series."""
    with _plain_text():
        height = max(3.0, 0.35 * len(spec.categories) + 1.5) if spec.horizontal else 4.0
        figure, axes = _figure(title, height)
        totals = [0] * len(spec.categories)
        drawn = False
        positions = list(range(len(spec.categories)))
        for name, values in spec.series.items():
            if not any(values):
                continue
            if spec.horizontal:
                axes.barh(positions, values, left=totals, label=_label(name))
            else:
                axes.bar(positions, values, bottom=totals, label=_label(name))
            totals = [t + v for t, v in zip(totals, values, strict=True)]
            drawn = True
        if not drawn:
            return _empty(figure, axes)
        labels = _thin([_label(c) for c in spec.categories])
        if spec.horizontal:
            axes.set_yticks(positions, labels)
            axes.invert_yaxis()
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.set_xlabel(spec.value_label)
        else:
            axes.set_xticks(positions, labels, rotation=45, ha="right")
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            axes.set_ylabel(spec.value_label)
        axes.legend(fontsize="small")
        return _png(figure)


def boxes(title: str, spec: Boxes) -> bytes:
    """A box per group, with every value drawn over it as a point (a strip plot)."""
    with _plain_text():
        figure, axes = _figure(title, 4.5)
        groups = [(name, values) for name, values in spec.groups.items() if values]
        if not groups:
            return _empty(figure, axes)
        axes.boxplot(
            [values for _, values in groups],
            tick_labels=[_label(name) for name, _ in groups],
            showfliers=False,
        )
        for position, (_, values) in enumerate(groups, start=1):
            # A fixed spread, not a random one: the same audit draws the same picture.
            xs = [position + ((i % 7) - 3) * 0.04 for i in range(len(values))]
            axes.scatter(xs, values, s=12, alpha=0.6, color="tab:red", zorder=3)
        axes.set_ylabel(spec.value_label)
        axes.tick_params(axis="x", labelrotation=30)
        for tick in axes.get_xticklabels():
            tick.set_horizontalalignment("right")
        return _png(figure)


def _plain_text() -> AbstractContextManager[None]:
    """ "$...$" in a TypeName or an error code stays text, not mathtext (or an error)."""
    return rc_context({"text.parse_math": False, "text.usetex": False})


def _figure(title: str, height: float) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(9, height), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title)
    return figure, axes


def _empty(figure: Figure, axes: Axes) -> bytes:
    axes.text(0.5, 0.5, "nothing in this window", ha="center", va="center")
    axes.set_axis_off()
    return _png(figure)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _label(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _thin(labels: list[str]) -> list[str]:
    step = max(1, math.ceil(len(labels) / MAX_TICK_LABELS))
    return [label if i % step == 0 else "" for i, label in enumerate(labels)]
