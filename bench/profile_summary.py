"""Where a profiled sweep's CPU went: a summary of py-spy's raw (collapsed) stacks.

``python -m bench.run_all --only sweep --profile cpu`` writes ``sweep-<stamp>.pyspy.txt`` (one
line a distinct stack: frames joined by ``;``, then a sample count). This prints the share of
samples under each reaper function (inclusive: the deepest reaper frame of each stack, and
every reaper frame on it), the leaf functions (self time) and a coarse split by library.

    python -m bench.profile_summary bench/results/sweep-<stamp>.pyspy.txt [--top 25]
    python -m bench.profile_summary RAW --under AuditTable.claim_ahead   # what one call costs

``--under FUNC`` splits the samples of the stacks through ``FUNC`` (its deepest frame) by every
function beneath it (inclusive): e.g. the claim's PutItem against the cancel's
(``CloudControlAdapter._progress``), stage by stage (serializing, signing, sending, parsing).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^():]+)(?::\d+)?\)$")
# Coarse buckets, tried from the leaf up: the first frame that is a listed library's or the
# reaper's own names the bucket (a dataclass copy made by reaper code counts as the reaper's).
LIBRARIES: tuple[tuple[str, str], ...] = (
    ("logging", "aws_lambda_powertools/logging/"),
    ("logging", "logging/__init__.py"),
    ("metrics", "aws_lambda_powertools/metrics/"),
    ("json", "json/"),
    ("http (urllib3, http.client, socket)", "urllib3/"),
    ("http (urllib3, http.client, socket)", "http/client.py"),
    ("http (urllib3, http.client, socket)", "socket.py"),
    ("botocore signing", "botocore/auth.py"),
    ("botocore signing", "botocore/signers.py"),
    ("botocore parsing", "botocore/parsers.py"),
    ("botocore serializing", "botocore/serialize.py"),
    ("botocore events/hooks", "botocore/hooks.py"),
    ("botocore other", "botocore/"),
    ("threading/futures", "threading.py"),
    ("threading/futures", "concurrent/futures/"),
)


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """Stacks as (frames root to leaf as (function, file)), samples)."""
    stacks: list[tuple[list[tuple[str, str]], int]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        body, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames: list[tuple[str, str]] = []
        for part in body.split(";"):
            match = FRAME.match(part.strip())
            if match:
                frames.append((match["func"], match["file"]))
        stacks.append((frames, int(count)))
    return stacks


def _is_reaper(file: str) -> bool:
    return file.startswith("reaper/")


def summarize(stacks: list[tuple[list[tuple[str, str]], int]], top: int) -> str:
    total = sum(count for _, count in stacks) or 1
    deepest: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    for frames, count in stacks:
        reaper = [f"{func} ({file})" for func, file in frames if _is_reaper(file)]
        deepest[reaper[-1] if reaper else "(no reaper frame)"] += count
        for name in dict.fromkeys(reaper):
            inclusive[name] += count
        if frames:
            func, file = frames[-1]
            leaves[f"{func} ({file})"] += count
        bucket = "other"
        for _func, file in reversed(frames):
            hit = next((name for name, prefix in LIBRARIES if prefix in file), None)
            if _is_reaper(file):
                hit = "reaper's own code (and the standard library under it)"
            if hit:
                bucket = hit
                break
        libraries[bucket] += count

    def table(title: str, counter: Counter[str]) -> list[str]:
        rows = [f"{title} ({total} samples)"]
        rows += [f"  {c / total:6.1%}  {name}" for name, c in counter.most_common(top)]
        return rows

    lines = table("by library (leaf-most match)", libraries)
    lines += table("deepest reaper frame", deepest)
    lines += table("inclusive, every reaper frame", inclusive)
    lines += table("leaf functions (self)", leaves)
    return "\n".join(lines)


def under(stacks: list[tuple[list[tuple[str, str]], int]], func: str, top: int) -> str:
    """The samples of the stacks through ``func``, split by each function beneath it."""
    below: Counter[str] = Counter()
    total = 0
    for frames, count in stacks:
        at = [i for i, (name, _file) in enumerate(frames) if name == func]
        if not at:
            continue
        total += count
        for name in dict.fromkeys(f"{f} ({file})" for f, file in frames[at[-1] + 1 :]):
            below[name] += count
    everything = sum(count for _, count in stacks) or 1
    rows = [f"under {func}: {total} samples ({total / everything:.1%} of all), inclusive"]
    rows += [f"  {c / (total or 1):6.1%}  {name}" for name, c in below.most_common(top)]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("raw", type=Path, help="py-spy --format raw output")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--under", metavar="FUNC", help="split the samples under one function")
    args = parser.parse_args(argv)
    stacks = parse(args.raw)
    print(under(stacks, args.under, args.top) if args.under else summarize(stacks, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
