"""Goal 3: the cold import of the handler module, next to a bare ``import boto3``.

Each sample is a fresh interpreter that times its own import with perf_counter (the process
wall is kept too). Handler and boto3 samples alternate, so both see the same machine state.
The function's environment is set as the CDK stack sets it; no network is touched.

The handler is imported as Lambda imports it: from a directory built by the function that
builds the deployed code (infra/bytecode.py: the sources and their bytecode), first on
PYTHONPATH. For comparison, the same sources without bytecode (what the asset shipped before),
never written to (PYTHONDONTWRITEBYTECODE, as Lambda's read-only code directory): each of
those imports compiles every reaper module.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.stack import function_env
from infra.bytecode import SOURCE_DIR, build_code, source_files

CHILD_TIMEOUT_SECONDS = 60
TIMED_IMPORT = "import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
HANDLER = "import reaper.handler"
BOTO3 = "import boto3"
# What the first invocation adds in Lambda's INIT or first call: settings and the clients.
FIRST_CALL = "import reaper.handler; reaper.handler.container()"
# Which file the child imported: the timing is of the intended directory or of nothing.
WHERE = "import reaper.handler as h; print(h.__file__)"


@dataclass(frozen=True)
class Samples:
    import_seconds: list[float]
    process_seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.import_seconds)

    @property
    def process_median(self) -> float:
        return statistics.median(self.process_seconds)


@dataclass
class ColdStartResult:
    runs: int
    handler: Samples
    boto3: Samples
    handler_and_clients: Samples
    top_imports: list[tuple[str, float, float]] = field(default_factory=list)  # name, cum, self
    # The same sources without bytecode: the asset before it shipped any.
    handler_sources_only: Samples | None = None

    @property
    def ratio(self) -> float:
        return self.handler.median / self.boto3.median

    @property
    def sources_only_ratio(self) -> float | None:
        if self.handler_sources_only is None:
            return None
        return self.handler_sources_only.median / self.boto3.median


def _env() -> dict[str, str]:
    config = {"dry_run": False, "calls_per_second": 25, "max_concurrency": 1}
    return function_env(
        None,
        "bench-audit",
        "http://127.0.0.1:9/work",
        "http://127.0.0.1:9/dlq",
        config,
    )


def _on_path(env: dict[str, str], directory: Path) -> dict[str, str]:
    """``env`` with ``directory`` first on sys.path (before the editable install's finder,
    which maps ``reaper`` to lambda/ only when no path entry has it)."""
    return {**env, "PYTHONPATH": str(directory)}


def _check_imports_from(directory: Path, env: dict[str, str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", WHERE],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=True,
    )
    imported = Path(completed.stdout.strip().splitlines()[-1])
    if directory.resolve() not in imported.resolve().parents:
        raise RuntimeError(f"the child imported {imported}, not the code in {directory}")


def _copy_sources(into: Path) -> Path:
    for relative, path in source_files(SOURCE_DIR):
        (into / relative).parent.mkdir(parents=True, exist_ok=True)
        (into / relative).write_bytes(path.read_bytes())
    return into


def _sample(statement: str, env: dict[str, str]) -> tuple[float, float]:
    began = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", TIMED_IMPORT.format(statement=statement)],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=True,
    )
    wall = time.perf_counter() - began
    return float(completed.stdout.strip().splitlines()[-1]), wall


def import_profile(env: dict[str, str], top: int = 15) -> list[tuple[str, float, float]]:
    """The ``top`` largest cumulative entries of ``python -X importtime -c HANDLER``."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", HANDLER],
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        check=True,
    )
    rows: list[tuple[str, float, float]] = []
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        rows.append((name.rstrip(), int(cumulative_us) / 1e6, int(self_us) / 1e6))
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows[:top]


def run_cold_start(runs: int) -> ColdStartResult:
    with tempfile.TemporaryDirectory(prefix="cc-reaper-cold-") as scratch:
        shipped = build_code(SOURCE_DIR, Path(scratch) / "code")
        sources_only = _copy_sources(Path(scratch) / "sources")
        env = _on_path(_env(), shipped)
        sources_env = _on_path(_env(), sources_only)
        _check_imports_from(shipped, env)
        _check_imports_from(sources_only, sources_env)
        # label -> (statement, environment); one round takes one sample of each, in turn.
        plan = {
            "handler": (HANDLER, env),
            "boto3": (BOTO3, env),
            "first_call": (FIRST_CALL, env),
            "sources_only": (HANDLER, sources_env),
        }
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label in plan}
        for _ in range(runs):
            for label, (statement, statement_env) in plan.items():
                samples[label].append(_sample(statement, statement_env))
        top = import_profile(env)

    def of(label: str) -> Samples:
        pairs = samples[label]
        return Samples([p[0] for p in pairs], [p[1] for p in pairs])

    return ColdStartResult(
        runs=runs,
        handler=of("handler"),
        boto3=of("boto3"),
        handler_and_clients=of("first_call"),
        top_imports=top,
        handler_sources_only=of("sources_only"),
    )


if __name__ == "__main__":
    result = run_cold_start(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
    print(
        json.dumps(
            {
                "handler": result.handler.median,
                "boto3": result.boto3.median,
                "ratio": result.ratio,
                "handler_sources_only": (
                    result.handler_sources_only.median if result.handler_sources_only else None
                ),
                "ratio_sources_only": result.sources_only_ratio,
                "top": result.top_imports,
            },
            indent=1,
        )
    )
