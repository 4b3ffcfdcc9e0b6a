"""MkDocs hooks for the site (mkdocs.yml ``hooks:``).

The docstrings cross-reference in Sphinx roles (``:class:`~pepperflow.X```),
which Markdown renders as the role's name before a code span. This turns each
into a cross-reference that mkdocs-autorefs resolves to the name's API
entry, or leaves as plain code when the name has none (a private module,
a relative or a foreign name).
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):<code>(~?)([^<]+)</code>")


def _reference(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    title = target.rsplit(".", 1)[-1] if short else target
    if not target.startswith("pepperflow."):  # relative (``._codec``) or foreign
        return f"<code>{title}</code>"
    return f'<autoref identifier="{target}" optional><code>{title}</code></autoref>'


def on_page_content(html: str, **kwargs: Any) -> str:
    """Replace every Sphinx role in a rendered page with an optional cross-reference."""
    return _ROLE.sub(_reference, html)
