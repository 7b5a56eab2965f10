"""``ccapi-emulator`` or ``python -m ccapi_emulator``: the emulator on its own, like moto_server."""

from __future__ import annotations

import argparse
import errno
import logging
import math
import signal
import sys
import threading
from types import FrameType
from typing import NoReturn

from ccapi_emulator.config import (
    CURSOR_MODES,
    FINISHED_CANCEL_MODES,
    MISSING_TYPE_NAME_MODES,
    EmulatorConfig,
)
from ccapi_emulator.conflicts import CONFLICT_MESSAGE_MODES, CONFLICT_MODES, LEFTOVER_MODES
from ccapi_emulator.hooks import HookSpec
from ccapi_emulator.lifecycle import STATUSES, Lifecycle
from ccapi_emulator.server import EmulatorServer

MAX_PORT = 65535


def _rate(text: str) -> float | None:
    """A rate in calls per second; 0 or 'none' turns the limit off."""
    if text.lower() in ("none", "off"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value < math.inf:
        raise argparse.ArgumentTypeError(
            f"expected calls per second > 0, or 0, 'none' or 'off' for no limit, got {text!r}"
        )
    return value or None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"expected a port from 0 to {MAX_PORT} (0: any free port), got {text!r}"
        )
    return value


def _seconds(text: str) -> float:
    """A duration: a finite number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1, got {text!r}")
    return value


def _lifecycle(text: str) -> Lifecycle:
    try:
        return Lifecycle.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _lifecycle_rule(text: str) -> tuple[str, Lifecycle]:
    pattern, _, spec = text.partition("=")
    if not spec:
        raise argparse.ArgumentTypeError("use GLOB=SPEC, e.g. 'AWS::RDS::*=stuck:IN_PROGRESS'")
    try:
        return pattern, Lifecycle.parse(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _hook_rule(text: str) -> tuple[str, HookSpec]:
    """GLOB=STATUS[:AFTER_SECONDS], e.g. 'AWS::S3::*=HOOK_IN_PROGRESS:60'."""
    pattern, _, spec = text.partition("=")
    status, _, after = spec.partition(":")
    if not pattern or not status:
        raise argparse.ArgumentTypeError(
            "use GLOB=STATUS[:SECONDS], e.g. 'AWS::S3::*=HOOK_PENDING'"
        )
    try:
        return pattern, HookSpec(status=status, after_seconds=float(after) if after else None)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


class _Parser(argparse.ArgumentParser):
    """Reports a bad flag or value in one line (no usage block, no traceback)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ccapi-emulator",
        description="Local emulator of the AWS Cloud Control API request surface.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    add("--port", type=_port, default=4567, help="port (0: any free port; default 4567)")
    add("--latency-ms", type=float, default=0.0, help="added to every API call")
    add("--rate", type=_rate, default=25.0, help="calls/s per operation family (0: no limit)")
    add("--account-rate", type=_rate, default=None, help="calls/s for all calls together")
    add("--burst-seconds", type=float, default=1.0, help="bucket size, in seconds of rate")
    add("--throttle-probability", type=_fraction, default=0.0, metavar="FRACTION")
    add("--internal-failure-probability", type=_fraction, default=0.0, metavar="FRACTION")
    add("--concurrent-modification-probability", type=_fraction, default=0.0, metavar="FRACTION")
    add("--cancel-complete-after", type=float, default=5.0, help="seconds in CANCEL_IN_PROGRESS")
    add(
        "--default-lifecycle",
        type=_lifecycle,
        default=Lifecycle.succeed(),
        help="succeed:SECONDS | fail:SECONDS | stuck:PENDING | stuck:IN_PROGRESS",
    )
    add(
        "--lifecycle",
        type=_lifecycle_rule,
        action="append",
        default=[],
        metavar="GLOB=SPEC",
        help="lifecycle for matching TypeNames, e.g. 'AWS::RDS::*=stuck:IN_PROGRESS' (repeatable)",
    )
    add(
        "--cursor",
        choices=CURSOR_MODES,
        default="opaque",
        help="NextToken of ListResourceRequests: the last item's key, or an offset",
    )
    add(
        "--listing-lag-seconds",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="ListResourceRequests shows statuses as they were this long ago",
    )
    add(
        "--finished-cancel",
        choices=FINISHED_CANCEL_MODES,
        default="status",
        help="answer to cancelling a request that is no longer PENDING/IN_PROGRESS",
    )
    add(
        "--missing-type-name",
        choices=MISSING_TYPE_NAME_MODES,
        default="none",
        help="leave TypeName out of List summaries ('list') or of every read-back event ('all')",
    )
    add(
        "--missing-type-name-fraction",
        type=_fraction,
        default=1.0,
        metavar="FRACTION",
        help="share of requests (chosen by token) that lose their TypeName",
    )
    add(
        "--conflicts",
        choices=CONFLICT_MODES,
        default="refuse",
        help="a write on a resource with an active request: ConcurrentOperationException or not",
    )
    add("--conflict-message", choices=CONFLICT_MESSAGE_MODES, default="with-token")
    add(
        "--cancelled-create-leaves",
        choices=LEFTOVER_MODES,
        default="nothing",
        help="what a CREATE cancelled to CANCEL_COMPLETE leaves for GetResource",
    )
    add(
        "--hook",
        type=_hook_rule,
        action="append",
        default=[],
        metavar="GLOB=STATUS[:SECONDS]",
        help="hook on matching TypeNames, e.g. 'AWS::S3::*=HOOK_IN_PROGRESS:60' (repeatable)",
    )
    add(
        "--record-cloudtrail",
        action="store_true",
        help="keep CloudTrail records of write calls (GET /_emulator/cloudtrail)",
    )
    add("--manual-clock", action="store_true", help="time moves only via POST /_emulator/clock")
    add("--random-seed", type=int, default=None, help="makes injected faults repeatable")
    add("--seed-stuck", type=int, default=0, metavar="N", help="start with N stuck requests")
    add("--seed-status", choices=STATUSES, default="IN_PROGRESS")
    add("--seed-type", default="AWS::S3::Bucket")
    add("--seed-age", type=float, default=7200.0, help="age of the seeded requests, seconds")
    add("--log-level", default="WARNING")
    return parser


def _config(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        manual_clock=args.manual_clock,
        latency_ms=args.latency_ms,
        rate_per_second=args.rate,
        account_rate_per_second=args.account_rate,
        burst_seconds=args.burst_seconds,
        throttle_probability=args.throttle_probability,
        internal_failure_probability=args.internal_failure_probability,
        concurrent_modification_probability=args.concurrent_modification_probability,
        cancel_complete_after_seconds=args.cancel_complete_after,
        default_lifecycle=args.default_lifecycle,
        lifecycles=dict(args.lifecycle),
        random_seed=args.random_seed,
        cursor=args.cursor,
        listing_lag_seconds=args.listing_lag_seconds,
        finished_cancel=args.finished_cancel,
        missing_type_name=args.missing_type_name,
        missing_type_name_fraction=args.missing_type_name_fraction,
        conflicts=args.conflicts,
        conflict_message=args.conflict_message,
        cancelled_create_leaves=args.cancelled_create_leaves,
        hooks=dict(args.hook),
        record_cloudtrail=args.record_cloudtrail,
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = _config(args)
    except ValueError as error:  # EmulatorConfig's own checks, reported like argparse's
        parser.error(str(error))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server = EmulatorServer(args.host, args.port, config)
    try:
        server.start()
    except OSError as error:  # the port is taken, or the host is not one of this machine's
        if error.errno == errno.EADDRINUSE:
            parser.error(
                f"argument --port: {args.host}:{args.port} is in use by another process "
                "(--port 0 picks a free port)"
            )
        parser.error(
            f"argument --host: cannot listen on {args.host}:{args.port}: {error.strerror or error}"
        )
    try:
        if args.seed_stuck:
            server.backend.seed(
                args.seed_stuck,
                type_name=args.seed_type,
                status=args.seed_status,
                age_seconds=args.seed_age,
            )
        print(f"ccapi-emulator listening on {server.endpoint_url}", flush=True)
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
