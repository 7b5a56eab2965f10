"""The audit table's open-run marks (an ended sweep's write-aheads are found through them)
and the read that finds those write-aheads. Items in ``audit_items``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from reaper import contracts
from reaper.adapters.audit_io import BATCH_GET_MAX, BATCH_WRITE_MAX, TableClient
from reaper.adapters.audit_items import (
    CLAIM_SK,
    TTL,
    ahead_from_claim,
    decision_key,
    key,
    opt,
    run_from_item,
    run_item,
    run_key,
    run_token_parts,
    run_tokens_item,
    run_tokens_key,
)
from reaper.models import Decision, OpenRun, Outcome


class RunMarks(TableClient):
    def open_run(self, run: OpenRun, tokens: Sequence[str]) -> OpenRun:
        """The tokens first (small items, no index key), then the mark that names them."""
        parts = run_token_parts(list(dict.fromkeys(tokens)))
        opened = replace(run, parts=len(parts))
        rows = list(enumerate(parts))
        for i in range(0, len(rows), BATCH_WRITE_MAX):
            self._batch_write(
                [
                    {"PutRequest": {"Item": run_tokens_item(opened, n, part)}}
                    for n, part in rows[i : i + BATCH_WRITE_MAX]
                ]
            )
        self._call(self._client.put_item, TableName=self._table, Item=run_item(opened))
        return opened

    def run_tokens(self, run: OpenRun) -> list[str]:
        """The tokens an open run chose (``open_run``)."""
        keys = [run_tokens_key(run, n) for n in range(run.parts)]
        tokens: list[str] = []
        for i in range(0, len(keys), BATCH_GET_MAX):
            for item in self._batch_get(keys[i : i + BATCH_GET_MAX], None, consistent=True):
                tokens += item["tokens"]["S"].split("\n")
        return tokens

    def close_run(self, run: OpenRun) -> None:
        """Out of the index (its key removed) and gone a day later (TTL): an update, as
        the role grants no DeleteItem."""
        self._call(
            self._client.update_item,
            TableName=self._table,
            Key=run_key(run),
            UpdateExpression=f"SET closed = :t, {TTL} = :e REMOVE "
            f"{contracts.TABLE_GSI_PARTITION_KEY}, {contracts.TABLE_GSI_SORT_KEY}",
            ExpressionAttributeValues={
                ":t": {"BOOL": True},
                ":e": {"N": str(int((run.held_until + timedelta(days=1)).timestamp()))},
            },
        )

    def ended_runs(self, now: datetime) -> list[OpenRun]:
        """Open runs whose holder has ended (``held_until`` before ``now``): the index's
        RUNS partition holds open ones only (the role may query the index, not the table)."""
        runs = [
            run_from_item(item)
            for item in self._query(
                IndexName=contracts.TABLE_GSI_NAME,
                KeyConditionExpression="gsi1pk = :p",
                ExpressionAttributeValues={":p": {"S": contracts.GSI_RUNS_PARTITION}},
            )
            if not item.get("closed", {}).get("BOOL", False)
        ]
        return [r for r in runs if r.held_until < now]

    def written_ahead(self, tokens: Sequence[str], owners: Collection[str]) -> list[Decision]:
        """The decisions ``owners`` wrote ahead in their claims of these tokens and never
        replaced with a recorded outcome (no decision item, or only a failed one)."""
        unique = list(dict.fromkeys(tokens))
        aheads: list[Decision] = []
        for i in range(0, len(unique), BATCH_GET_MAX):
            keys = [key(f"TOKEN#{t}", CLAIM_SK) for t in unique[i : i + BATCH_GET_MAX]]
            for item in self._batch_get(keys, None, consistent=True):
                ahead = ahead_from_claim(item)
                if ahead is not None and opt(item, "owner") in owners:
                    aheads.append(ahead)
        left: list[Decision] = []
        for i in range(0, len(aheads), BATCH_GET_MAX):
            part = aheads[i : i + BATCH_GET_MAX]
            keys = [decision_key(d.token, d.source, d.delivery_id) for d in part]
            items = self._batch_get(keys, "#t, outcome", consistent=True, names={"#t": "token"})
            done = {item["token"]["S"] for item in items if item["outcome"]["S"] != Outcome.FAILED}
            left += [d for d in part if d.token not in done]
        return left
