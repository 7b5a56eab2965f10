"""``cc-reaper``: parse, run one command, map every error to one line and an exit status."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError
from reaper.errors import ReaperError
from reaper.observability import logger as reaper_logger

from reaper_cli import (
    apply,
    approve,
    audit,
    emulator,
    killswitch,
    leftovers,
    plan,
    redrive,
    report,
    sweep,
    tokens,
    unblock,
)
from reaper_cli.account import Account, add_account_options
from reaper_cli.errors import FAILURE, USAGE, CliError, aws_setup_line, client_error_line
from reaper_cli.render import Output, stdout_to_devnull

Command = Callable[[argparse.Namespace, Account, Output], int]
INTERRUPTED = 130
# stdout's reader left early (`| head`): a shell's status for a writer stopped by SIGPIPE.
READER_GONE = 141
DISTRIBUTION = "cloudcontrol-request-reaper"

EPILOG = """\
AWS configuration is boto3's: --profile/AWS_PROFILE, --region/AWS_DEFAULT_REGION/AWS_REGION,
and endpoints from AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_<SERVICE> (e.g.
AWS_ENDPOINT_URL_CLOUDCONTROL for the emulator). Table and queues come from the stack's outputs
unless given. docs/cli.md has examples.
"""


class Parser(argparse.ArgumentParser):
    """Usage errors in one line too (sub-commands are made with this class as well)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="cc-reaper",
        description="Operate the Cloud Control Request Reaper: sweep, cancel, status, unblock, "
        "audit, leftovers, redrive, kill switch, and the local emulator.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_account_options(parser, top_level=True)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (
        sweep,
        plan,
        apply,
        approve,
        tokens,
        unblock,
        audit,
        leftovers,
        redrive,
        killswitch,
        report,
    ):
        module.register(commands)
    for sub in commands.choices.values():
        add_account_options(sub, top_level=False)
    emulator.register(commands)  # its flags are the emulator's own
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "emulator":
        args.emulator_args = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    output = Output(json_lines=bool(getattr(args, "json", False)))
    try:
        account = Account(args) if getattr(args, "needs_account", True) else None
        run: Command = args.run
        with reaper_logs_on_stderr(verbose=args.verbose):
            code = run(args, account, output)  # type: ignore[arg-type]
        return READER_GONE if output.reader_gone else code
    except BrokenPipeError:  # stdout and stderr both piped to a reader that left
        stdout_to_devnull()
        return READER_GONE
    except KeyboardInterrupt:
        return _fail("interrupted", INTERRUPTED)
    except CliError as exc:
        return _fail(exc.message, exc.exit_code)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        return _fail(f"invalid config: {problems}", USAGE)
    except ReaperError as exc:  # an adapter's, maybe wrapping missing credentials
        return _fail(aws_setup_line(exc) or f"{exc.code}: {exc.message}", FAILURE)
    except ClientError as exc:
        return _fail(client_error_line(exc), FAILURE)
    except BotoCoreError as exc:
        return _fail(aws_setup_line(exc) or str(exc), FAILURE)


def package_version() -> str:
    """The installed distribution's version ("unknown" when run from a bare source tree)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@contextmanager
def reaper_logs_on_stderr(*, verbose: bool) -> Iterator[None]:
    """The service logs JSON through Powertools to stdout (Lambda's log stream). Here stdout
    is the command's output: the logs go to stderr, and only with --verbose below ERROR."""
    handler = reaper_logger.registered_handler
    level = reaper_logger.log_level
    stream = handler.setStream(sys.stderr) if isinstance(handler, logging.StreamHandler) else None
    reaper_logger.setLevel(logging.INFO if verbose else logging.ERROR)
    try:
        yield
    finally:
        reaper_logger.setLevel(level)
        if stream is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"cc-reaper: error: {message}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
