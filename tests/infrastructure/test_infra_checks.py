"""Checks on the synthesized template: cfn-lint, and the pinned CDK CLI synthesizing offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import REPO_ROOT, Synthesized

# CDK's own pattern (DependsOn next to a GetAtt of the same resource); not ours to fix.
CFN_LINT_IGNORED = ("W3005",)


def test_cfn_lint_finds_nothing_in_the_template(synthesized: Synthesized) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--ignore-checks",
            *CFN_LINT_IGNORED,
            "--format",
            "parseable",
            "--",
            str(synthesized.template_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _offline_env(home: Path) -> dict[str, str]:
    """No credentials, no telemetry, notices or version check, and no way out."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "CDK_")) and k not in {"HTTP_PROXY", "HTTPS_PROXY"}
    }
    env.update(
        {
            "HOME": str(home),  # no ~/.aws, no ~/.cdk cache of an earlier run
            # cdk.json runs `python3 app.py`: this interpreter's venv first, as if activated.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            "CDK_DISABLE_VERSION_CHECK": "1",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "AWS_EC2_METADATA_DISABLED": "true",
            # Any attempt to reach the network goes to a closed port and fails.
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "",
        }
    )
    return env


def _cdk_synth(home: Path, outdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`cdk synth` through the CLI pinned in package-lock.json, offline."""
    cdk = REPO_ROOT / "node_modules" / ".bin" / "cdk"
    assert cdk.exists(), (
        "node_modules/.bin/cdk is missing: run `npm ci` (or `make setup`) to install the CDK CLI "
        "pinned in package-lock.json"
    )
    assert shutil.which("node"), "node is not on PATH: the CDK CLI needs Node.js"
    command = [str(cdk), "synth", "--quiet", "--no-notices", "--no-version-reporting"]
    return subprocess.run(
        [*command, *args, "-o", str(outdir)],
        cwd=REPO_ROOT,
        env=_offline_env(home),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_pinned_cdk_cli_synthesizes_offline(tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    result = _cdk_synth(tmp_path, outdir)
    assert result.returncode == 0, result.stdout + result.stderr
    template = json.loads((outdir / "CloudControlReaper.template.json").read_text())
    assert any(r["Type"] == "AWS::Lambda::Function" for r in template["Resources"].values())
    report = json.loads((outdir / "validation-report.json").read_text())
    assert report["pluginReports"][0]["conclusion"] == "success"
    # Nothing was fetched: no notices cache under the empty HOME.
    assert not (tmp_path / ".cdk" / "cache" / "notices.json").exists()


def test_cdk_cli_reports_bad_context_with_the_key(tmp_path: Path) -> None:
    result = _cdk_synth(tmp_path, tmp_path / "cdk.out", "-c", "maxConcurrency=1")
    assert result.returncode != 0
    assert "- maxConcurrency: must be at least 2" in result.stderr
