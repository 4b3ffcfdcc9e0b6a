"""The ACL user of docs/security.md, as the tests build theirs from it."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["ACL_LINE", "acl_command"]

_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
#: The ACL line of docs/security.md, for the namespace "app" (password CHANGE-ME).
ACL_LINE = re.search(r"^ACL SETUSER app .*$", _DOC.read_text(encoding="utf-8"), re.M)


def acl_command(user: str, keys: str, password: str, *, without: str = "") -> list[str]:
    """The words of docs/security.md's ACL line for ``user``, the key
    patterns ``keys`` (instead of its ``~pf:{app}:*``) and ``password``,
    less the command ``without``."""
    assert ACL_LINE is not None, "docs/security.md lost its ACL SETUSER line"
    line = ACL_LINE.group(0).replace("~pf:{app}:*", keys).replace("CHANGE-ME", password)
    words = [word for word in line.split() if word != f"+{without}"]
    words[2] = user
    return words
