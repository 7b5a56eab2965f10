"""How the audit adapter talks to DynamoDB: paged queries, batch reads and writes with their
unprocessed items retried, and every botocore error turned into a StoreError."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from reaper.adapters._errors import code_and_message
from reaper.adapters.audit_items import PK, Item
from reaper.errors import StoreError
from reaper.sizing import AUDIT_WRITERS

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Row = TypeVar("Row")

BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
UNPROCESSED_ATTEMPTS = 8


class TableClient:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _query(self, **params: Any) -> Iterator[Item]:
        params = {"TableName": self._table, **params}
        while True:
            response = self._call(self._client.query, **params)
            yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last

    def _batch_get(
        self,
        keys: list[Item],
        projection: str | None = f"{PK}, first_seen, started_by, user_agent",
        *,
        consistent: bool = False,
        names: dict[str, str] | None = None,
    ) -> list[Item]:
        """Up to 100 keys; ``projection`` None reads whole items."""
        items: list[Item] = []
        wanted: dict[str, Any] = {"Keys": keys}
        if projection is not None:
            wanted["ProjectionExpression"] = projection
        if names:
            wanted["ExpressionAttributeNames"] = names
        if consistent:
            wanted["ConsistentRead"] = True
        request: dict[str, Any] = {self._table: wanted}
        for attempt in range(UNPROCESSED_ATTEMPTS):
            response = self._call(self._client.batch_get_item, RequestItems=request)
            items.extend(response.get("Responses", {}).get(self._table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
            time.sleep(min(1.0, 0.05 * 2**attempt))
        raise StoreError("UnprocessedKeys", "BatchGetItem left keys unprocessed after retries")

    def _put_all(self, rows: Sequence[Row], to_item: Callable[[Row], Item]) -> None:
        """Rows of distinct keys, 25 a BatchWriteItem, from up to ``WRITERS`` threads. Items
        are built only when their call goes out, so a 10,000-decision sweep never holds all
        of them at once. Raises the first StoreError (other calls may have been written)."""
        chunks = [rows[i : i + BATCH_WRITE_MAX] for i in range(0, len(rows), BATCH_WRITE_MAX)]

        def write(chunk: Sequence[Row]) -> None:
            self._batch_write([{"PutRequest": {"Item": to_item(row)}} for row in chunk])

        if len(chunks) <= 1:
            for chunk in chunks:
                write(chunk)
            return
        with ThreadPoolExecutor(
            min(AUDIT_WRITERS, len(chunks)), thread_name_prefix="audit"
        ) as pool:
            for done in pool.map(write, chunks):
                del done

    def _batch_write(self, puts: list[Item]) -> None:
        """One BatchWriteItem, its unprocessed items retried with backoff."""
        pending: dict[str, Any] = {self._table: puts}
        for attempt in range(UNPROCESSED_ATTEMPTS):
            response = self._call(self._client.batch_write_item, RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(min(1.0, 0.05 * 2**attempt))
        raise StoreError("UnprocessedItems", "BatchWriteItem left items unprocessed after retries")

    @staticmethod
    def _call(method: Any, **params: Any) -> Any:
        try:
            return method(**params)
        except (ClientError, BotoCoreError) as exc:
            raise store_error(exc) from exc


def store_error(error: ClientError | BotoCoreError) -> StoreError:
    return StoreError(*code_and_message(error))
