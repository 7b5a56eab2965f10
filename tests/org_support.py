"""What the organization's tests share: the CLI run in-process, and a spy on its progress bar."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from reaper_cli.main import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``cc-reaper ARGV`` in this process: exit code, stdout, stderr."""
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@dataclass
class ProgressSpy:
    """Every task a rich Progress was given (description, total) and every advance."""

    tasks: list[tuple[str, float | None]] = field(default_factory=list)
    advanced: list[float] = field(default_factory=list)

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch) -> ProgressSpy:
        from rich.progress import Progress  # noqa: PLC0415

        spy = cls()
        add_task, advance = Progress.add_task, Progress.advance

        def spy_add(self: Progress, description: str, *args: Any, **kwargs: Any) -> Any:
            spy.tasks.append((description, kwargs.get("total")))
            return add_task(self, description, *args, **kwargs)

        def spy_advance(self: Progress, task: Any, amount: float = 1) -> None:
            spy.advanced.append(amount)
            advance(self, task, amount)

        monkeypatch.setattr(Progress, "add_task", spy_add)
        monkeypatch.setattr(Progress, "advance", spy_advance)
        return spy
