"""The provider records, kept in a pepperflow store: the truth of every provider's status.

A provider's :class:`~pepperflow.ProviderRecord` is the value of the key
``<prefix><name>`` in the manager's store (a record in a store of that
type, the manager's own; a dict in an untyped one); nothing else holds
it. A registration writes a fresh ``registered`` record; every later
transition reads the record, edits it and writes it back with
compare-and-set (``if_version``), so two writers of one record (a health
check and a reload running at once) never lose each other's change.
Readers (``status``, ``statuses``, change feeds, subscriptions) read the
store, so what they see is what the store holds, in any process that
shares it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio
import msgspec

from .._errors import VersionConflict
from ..stores.base import Store
from ._types import ProviderMetadata, ProviderRecord, ProviderStatus

__all__ = ["Edit", "RecordBook", "describe"]

#: An edit of a record: the fields to change, given the record as it is.
Edit = Callable[[ProviderRecord], Mapping[str, Any]]


def describe(exc: BaseException) -> str:
    """The text a record keeps of a failure: ``"ErrorType: message"`` or ``"cancelled"``."""
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return "cancelled"
    return f"{type(exc).__name__}: {exc}"


class RecordBook:
    """The records of one manager's providers in ``store``, under keys ``prefix + name``.

    Args:
        store: where the records live (the manager's own or the application's).
        prefix: the key prefix of the records (``"provider:"``).
        clock: wall-clock seconds since the epoch for the records' times.
    """

    __slots__ = ("clock", "prefix", "store")

    def __init__(self, store: Store[Any], prefix: str, clock: Callable[[], float]) -> None:
        self.store = store
        self.prefix = prefix
        self.clock = clock

    def key(self, name: str) -> str:
        """The store key of provider ``name``'s record."""
        return self.prefix + name

    def fresh(self, metadata: ProviderMetadata) -> ProviderRecord:
        """A ``registered`` record of a provider with ``metadata``, dated now."""
        now = self.clock()
        return ProviderRecord(
            **msgspec.structs.asdict(metadata),  # name, type, description, ... labels
            status=ProviderStatus.REGISTERED,
            registered_at=now,
            changed_at=now,
        )

    async def open(self, metadata: ProviderMetadata) -> None:
        """Write a fresh ``registered`` record, replacing an earlier provider's of that name."""
        record = self.fresh(metadata)
        await self.store.set(self.key(record.name), record)

    async def get(self, name: str) -> ProviderRecord | None:
        """The record of ``name``, or ``None``."""
        value = await self.store.get(self.key(name))
        return None if value is None else ProviderRecord.from_value(value)

    async def all(self) -> dict[str, ProviderRecord]:
        """Every record under the prefix, by provider name."""
        keys = [key async for key in self.store.scan(self.prefix)]
        values = await self.store.get_many(keys)
        return {
            key[len(self.prefix) :]: ProviderRecord.from_value(value)
            for key, value in values.items()
        }

    async def update(self, metadata: ProviderMetadata, edit: Edit) -> None:
        """Apply ``edit`` to the record of ``metadata.name`` and date the change.

        Compare-and-set: if another writer changed the record between the
        read and the write, the edit is applied again to its record. A
        record that is gone (the application deleted it) is edited from a
        fresh one.
        """
        key = self.key(metadata.name)
        while True:
            entry = await self.store.entry(key)
            if entry is None:
                current, version = self.fresh(metadata), 0
            else:
                current, version = ProviderRecord.from_value(entry.value), entry.version
            record = msgspec.structs.replace(current, **edit(current), changed_at=self.clock())
            try:
                await self.store.set(key, record, if_version=version)
            except VersionConflict:
                continue  # written meanwhile: edit what is there now
            return

    async def move(
        self,
        metadata: ProviderMetadata,
        status: ProviderStatus,
        error: str | None = None,
    ) -> None:
        """Record a transition to ``status`` with ``error`` (``None``: no error)."""
        await self.update(metadata, lambda _: {"status": status, "error": error})

    async def fail(self, metadata: ProviderMetadata, exc: BaseException) -> None:
        """Record ``failed`` with the text of ``exc``; a failing write is noted on ``exc``."""
        try:
            await self.move(metadata, ProviderStatus.FAILED, describe(exc))
        except Exception as error:
            exc.add_note(
                f"provider {metadata.name!r}: recording the failure in the store failed:"
                f" {describe(error)}"
            )
