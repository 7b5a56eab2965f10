"""The reliability fault matrix as a table: every scenario of ``reaper_local.faults``.

    python -m bench.fault_matrix                  # all scenarios, 1500 tokens each
    python -m bench.fault_matrix --tokens 3000 --only "all at once"
    python -m bench.fault_matrix --list

Starts moto's server and the Cloud Control emulator in this process, runs each scenario (the
same code tests/reliability asserts on), replays the DLQ after the faults heal, and prints one
row per scenario. Exit status 1 if any row breaks a promise (``Row.failures``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from ccapi_emulator import EmulatorConfig, EmulatorServer
from moto.server import ThreadedMotoServer
from reaper_local.faults import DEFAULT_TOKENS, SCENARIOS, Row, format_table, run_all, scenario


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="tokens per scenario")
    parser.add_argument("--only", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the scenario names and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(s.name for s in SCENARIOS))
        return 0
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
                verdict = "; ".join(row.failures) or "ok"
                print(f"  {row.fault}: {row.seconds:.1f} s, {verdict}", file=sys.stderr, flush=True)

            rows = run_all(f"http://{host}:{port}", emulator, chosen, args.tokens, progress)
    finally:
        moto.stop()
    print(format_table(rows))
    bad = [r for r in rows if r.failures]
    for row in bad:
        print(
            f"FAILED {row.fault}: {'; '.join(row.failures)}; lost {row.lost_tokens[:5]}, "
            f"wrongly {row.wrong_tokens[:5]}, recorded nowhere {row.nowhere_tokens[:5]}, "
            f"late {row.late_tokens[:5]}; counts {row.counts}"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
