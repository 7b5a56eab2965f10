"""moto's server (DynamoDB and SQS for the audit table and queues) in its own process.

    python -m bench.moto_runner   # prints "moto listening on http://127.0.0.1:<port>"

Like ``moto_server``, but on a free port it names, and it stops cleanly on SIGTERM; served
by waitress, which keeps HTTP/1.1 connections open as AWS's endpoints do (werkzeug's server,
which ``moto_server`` uses, closes every connection after one response, so each DynamoDB call
would pay a TCP connect and close that it never pays in AWS: ~20% of the sweep's CPU samples);
and with one fix to TransactWriteItems (``_cheap_transactions``) so that moto, not the reaper,
is not what a benchmark of transactional claims measures.
"""

from __future__ import annotations

import copy
import logging
import signal
import sys
import threading
from types import FrameType
from typing import Any

import waitress  # type: ignore[import-untyped]
from moto.dynamodb import models
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

_TRANSACTIONS = threading.Lock()
# Requests served at once (waitress queues the rest on their kept-alive connections).
WAITRESS_THREADS = 16


class _NoTableCopy:
    """``copy`` for moto.dynamodb.models: a Table is not deep-copied, anything else is."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _cheap_transactions() -> None:
    """moto 5.2 backs a transaction up by deep-copying the whole table once per item (100
    copies of a 40,000-item table for one 100-item claim), without a lock, so concurrent
    transactions also race ("dictionary changed size during iteration"). Here transactions
    run one at a time and back up only the items they touch; a cancelled transaction still
    leaves the table exactly as it was, as DynamoDB does."""
    original = models.DynamoDBBackend.transact_write_items
    setattr(models, "copy", _NoTableCopy)  # noqa: B010 - the module's own name for copy

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _TRANSACTIONS:
            saved: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
            for entry in transact_items:
                op = next(iter(entry.values()))
                name = op.get("TableName")
                if name not in self.tables:
                    continue
                table = self.tables[name]
                key = op.get("Key")
                if "Item" in op:
                    attrs = op["Item"]
                    names = (table.hash_key_attr, table.range_key_attr)
                    key = {n: attrs[n] for n in names if n and n in attrs}
                try:
                    current = self.get_item(name, key)
                except Exception:  # a bad key: moto's own call below reports it
                    continue
                before = None if current is None else current.to_json()["Attributes"]
                saved.append((name, key, before))
            try:
                original(self, transact_items)
            except Exception:
                for name, key, attrs in reversed(saved):
                    if attrs is None:
                        self.delete_item(name, key)
                    else:
                        self.put_item(name, attrs)
                raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main() -> int:
    logging.getLogger("waitress").setLevel(logging.ERROR)
    _cheap_transactions()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    app = DomainDispatcherApplication(create_backend_app)
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=WAITRESS_THREADS)
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    print(f"moto listening on http://127.0.0.1:{server.effective_port}", flush=True)
    stop.wait()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
