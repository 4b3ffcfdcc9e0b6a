"""Memory (requirement R055): memory stores with ttl, scan and clear, and their manager.

The public names are exported from :mod:`pepperflow`: ``MemoryEntry``,
``MemoryStore`` (the protocol), ``BaseMemoryStore``, ``LocalMemoryStore``,
``RedisMemoryStore`` and ``MemoryManager``. Each memory store is a view
over one pepperflow store. See docs/memory.md.
"""

__all__: list[str] = []
