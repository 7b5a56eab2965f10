#!/usr/bin/env python3
"""The CDK app: `npx cdk synth|deploy` runs this file. It only builds the App."""

from __future__ import annotations

import sys
from pathlib import Path

# The function's package holds the config model the context is validated with; make it
# importable even where the project is not pip-installed.
sys.path.insert(0, str(Path(__file__).resolve().parent / "lambda"))

from aws_cdk import App

from infra.application import build_app
from infra.config import ConfigError


def main() -> None:
    app = App()
    try:
        build_app(app)
    except ConfigError as exc:
        sys.exit(str(exc))
    app.synth()


if __name__ == "__main__":
    main()
