"""Hypothesis profiles for the reliability and security suites.

With ``CI`` set the examples are derandomized (a fixed seed: the same examples on every run);
locally each run explores new ones. The example counts are set per test: thousands for the
pure parsing functions, hundreds at the handler level.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    database=None,
    # Generating thousands of nested JSON values is itself the slow part, on purpose.
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
