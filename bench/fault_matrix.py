"""The reliability fault matrix: every fault scenario of tests/reliability, as a table.

    python -m bench.fault_matrix                  # all scenarios, about 1500 tokens each
    python -m bench.fault_matrix --tokens 3000 --only "all at once"

Starts moto's server and the Cloud Control emulator in this process, runs each scenario of
``tests.reliability.scenarios`` (the same code the tests assert on) and prints one row per
fault: tokens in, cancelled, left alone, audited, dead-lettered, lost, wrongly cancelled.
Exit status 1 if any row lost a token or cancelled one it should not have.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ccapi_emulator import EmulatorConfig, EmulatorServer
from moto.server import ThreadedMotoServer

from tests.reliability.scenarios import (
    DEFAULT_TOKENS,
    SCENARIOS,
    Row,
    format_table,
    run_all,
    scenario,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="tokens per scenario")
    parser.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    args = parser.parse_args(argv)
    chosen = [scenario(name) for name in args.only] if args.only else list(SCENARIOS)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    config = EmulatorConfig(
        manual_clock=True, rate_per_second=None, cancel_complete_after_seconds=0, random_seed=3
    )
    try:
        with EmulatorServer(host="127.0.0.1", port=0, config=config) as emulator:

            def progress(row: Row) -> None:
                print(f"  {row.fault}: {row.seconds:.1f} s", file=sys.stderr, flush=True)

            rows = run_all(f"http://{host}:{port}", emulator, chosen, args.tokens, progress)
    finally:
        moto.stop()
    print(format_table(rows))
    bad = [r for r in rows if r.lost or r.wrongly_cancelled]
    for row in bad:
        print(f"FAILED {row.fault}: lost {row.lost_tokens}, wrongly {row.wrong_tokens}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
