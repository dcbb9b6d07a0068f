"""The embedded DynamoDB at a cost that does not grow with the data: two small patches to moto.

TransactWriteItems: moto backs up every table a transaction names (``copy.deepcopy`` of the whole table) so that it can
roll back; a day of local use makes every purchase slower and the process larger (measured: 3.3 ms
per two-item transaction on an empty table, 118 ms at 4,000 items). A transaction only ever changes
the items it names, so this patch snapshots those items instead and puts them back on failure. moto's
own transaction code still runs unchanged; only its whole-table backup is skipped (the "backup" it
restores is the live table).

Query: moto finds a partition's items by sorting every item of the table and keeping those with
the hash key (about 5 ms per thousand items stored); a base-table query here reads the partition
itself. Index queries are left as moto does them.

``tests/unit/test_moto_patches.py`` runs the same transactions and queries through stock moto and
through the patches and compares every answer and every item.

And one refusal DynamoDB makes that moto's transactions leave out (``install_fidelity``, for the
tests and the local stack): a transaction's Update whose ``ExpressionAttributeValues`` hold a value no
expression uses is cancelled with a ``ValidationError`` reason (moto refuses it in UpdateItem, not in
TransactWriteItems; a ConditionCheck's values DynamoDB does not check). Without it, code that sends a
spare value passes every test and fails every such write in AWS."""

from __future__ import annotations

import copy
import functools
import re
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.exceptions import TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

_STOCK: Callable[..., None] = DynamoDBBackend.transact_write_items
_STOCK_QUERY: Callable[..., Any] = Table.query


def _touched(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[tuple[Table, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the item or None) for every item the transaction names."""
    touched = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName", ""))
        if table is None:
            continue
        key = op.get("Item") if op_type == "Put" else op.get("Key")
        names = [name for name in (table.hash_key_attr, table.range_key_attr) if name]
        if not isinstance(key, dict) or any(name not in key for name in names):
            continue  # moto refuses the transaction before writing anything
        hash_key, range_key = backend.get_keys_value(table, {name: key[name] for name in names})
        touched.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    return touched


def _restore(touched: list[tuple[Table, Any, Any, Any]]) -> None:
    # Backwards, so that an item named twice ends as it was before the first.
    for table, hash_key, range_key, original in reversed(touched):
        if original is None:
            if range_key is not None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items.pop(hash_key, None)
        elif range_key is not None:
            table.items[hash_key][range_key] = original
        else:
            table.items[hash_key] = original


@contextmanager
def _without_table_backups() -> Iterator[None]:
    """moto's backup of a table becomes the live table itself (its rollback then reassigns it)."""

    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    stock_copy = models.copy  # type: ignore[attr-defined]
    models.copy = types.SimpleNamespace(deepcopy=deepcopy)  # type: ignore[attr-defined,assignment]
    try:
        yield
    finally:
        models.copy = stock_copy  # type: ignore[attr-defined]


@functools.wraps(_STOCK)
def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    touched = _touched(self, transact_items)
    try:
        with _without_table_backups():
            _STOCK(self, transact_items)
    except Exception:
        _restore(touched)
        raise


@functools.wraps(_STOCK_QUERY)
def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name is not None or hash_key is None or not self.range_key_attr:
        return _STOCK_QUERY(self, hash_key, *args, **kwargs)
    partition = list(self.items.get(hash_key, {}).values())
    # moto's query reads ``self.all_items()`` and sorts what matches: for this call, the partition only.
    self.all_items = lambda: partition  # type: ignore[method-assign]
    try:
        return _STOCK_QUERY(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


_PLACEHOLDER = re.compile(r":[A-Za-z0-9_]+")


def _unused_values(kind: str, op: dict[str, Any]) -> list[str]:
    if kind != "Update":
        return []
    used = set(_PLACEHOLDER.findall(f"{op.get('UpdateExpression', '')} {op.get('ConditionExpression', '')}"))
    return sorted(set(op.get("ExpressionAttributeValues") or {}) - used)


def _refusing_unused_values(transact: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(transact)
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        reasons: list[tuple[str | None, str | None, None]] = []
        for entry in transact_items:
            kind, op = next(iter(entry.items()))
            unused = _unused_values(kind, op)
            message = f"Value provided in ExpressionAttributeValues unused in expressions: keys: {{{', '.join(unused)}}}"
            reasons.append(("ValidationError", message, None) if unused else (None, None, None))
        if any(code for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        transact(self, transact_items)

    transact_write_items.refuses_unused_values = True  # type: ignore[attr-defined]
    return transact_write_items


def install_fidelity() -> None:
    """moto's transactions refuse what DynamoDB's refuse (above); over whatever is installed, once."""
    current = DynamoDBBackend.transact_write_items
    if not getattr(current, "refuses_unused_values", False):
        DynamoDBBackend.transact_write_items = _refusing_unused_values(current)  # type: ignore[method-assign]


_BEFORE: list[Callable[..., None]] = []  # what install() replaced, for uninstall()


def install() -> None:
    """Patches moto in this process. Not thread-safe on its own: the embedded DynamoDB serves one
    request at a time."""
    _BEFORE.append(DynamoDBBackend.transact_write_items)
    DynamoDBBackend.transact_write_items = _refusing_unused_values(transact_write_items)  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def uninstall() -> None:
    """Back to what ``install`` found (stock moto, with ``install_fidelity``'s refusal if it was there)."""
    if _BEFORE:
        DynamoDBBackend.transact_write_items = _BEFORE.pop()  # type: ignore[method-assign]
    Table.query = _STOCK_QUERY  # type: ignore[method-assign]
