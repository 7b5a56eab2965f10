"""The synthesized template (one synth per session, shared with tests/infrastructure's way of
building it from cdk.json's context) and the hypothesis profiles of tests/reliability."""

from __future__ import annotations

from tests.infrastructure.conftest import Synthesized, synthesized, synthesized_with_options
from tests.reliability import conftest as _profiles  # noqa: F401 - registers the profiles

__all__ = ["Synthesized", "synthesized", "synthesized_with_options"]
