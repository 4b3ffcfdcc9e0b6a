"""Notebook display: a table of any records, and a store's live table.

Every pepperflow record (an entry, a snapshot, statistics, a change, a
metric sample, a storage search result), every store and a metrics
registry shows itself as an HTML table in Jupyter (``_repr_html_``, see
:mod:`pepperflow._html`). This module adds:

* :class:`Table`: any records in one table, one row each, such as the
  results of a search: ``Table([r async for r in storage.search(query)])``;
* :class:`LiveTable`: ``await store.display(pattern)``, the keys matching
  ``pattern`` with their values, redrawn as the store's changes arrive.

IPython is not a dependency: it is imported only when a live table is
shown in it (``_ipython_display_``).
"""

from ._tables import LiveTable as LiveTable
from ._tables import Table as Table

__all__ = ["LiveTable", "Table"]
