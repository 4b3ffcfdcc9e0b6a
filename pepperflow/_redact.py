"""``redacted(url)``: a store URL as messages, reprs and logs may show it.

Every place pepperflow puts a URL (or a store spec that may be one) into an
error message, a repr, a log record or a figure shows ``redacted(url)``,
never the URL itself, so no password is ever printed::

    redacted("redis://user:secret@host:6379/0") == "redis://user:***@host:6379/0"

What is hidden:

* the password of the URL's userinfo (``user:***@``), and the whole
  userinfo when it has no ``:`` (``***@``: ``redis://secret@host`` is
  often a password written without a user);
* the value of every query option whose name says it is a secret
  (``password``, ``passwd``, ``pass``, ``secret``, ``token``, ``auth``...,
  in any case, e.g. ``?ssl_password=***``).

The userinfo is taken to end at the **last** ``@`` after ``://``, so a
password with an unescaped ``@``, ``/``, ``?`` or ``#`` in it (which makes
the URL malformed) is hidden whole too. The price: an ``@`` in a path or an
option's value hides what comes before it as well, which never shows a
secret. Text without ``://`` is read the same way (``user:pw@host``). What
starts with ``/``, ``.`` or ``~`` (after ``://`` if any) is a path, with no
userinfo (``sqlite:////home/me@work/app.db`` is shown as it is).
Never raises: anything that is not a ``str`` is shown by its ``repr``,
redacted the same way.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["MASK", "redacted", "secrets_in"]

#: What stands in for a hidden secret.
MASK = "***"

# A query option whose name holds one of these words carries a secret.
_SECRET_OPTION = re.compile(
    r"([?&;][^=&;#]*(?:pass|secret|token|auth|credential)[^=&;#]*=)([^&;#]*)", re.IGNORECASE
)


def _parts(text: str) -> tuple[str, str | None, str, str]:
    """``text`` as (what precedes the userinfo, the user or ``None`` when the
    userinfo has no ``:``, the secret of the userinfo, what follows it)."""
    head, sep, rest = text.partition("://")
    if not sep:
        head, rest = "", text
    if "@" not in rest or rest.startswith(("/", ".", "~")):
        return head + sep, None, "", rest
    userinfo, _, rest = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return head + sep, user if colon else None, password if colon else userinfo, "@" + rest


def redacted(url: object) -> str:
    """``url`` (or its ``repr``, if not a str) with every secret in it replaced by ``***``."""
    text = url if isinstance(url, str) else repr(url)
    head, user, _, rest = _parts(text)
    if rest.startswith("@"):
        head += MASK if user is None else f"{user}:{MASK}"
    return head + _SECRET_OPTION.sub(rf"\g<1>{MASK}", rest)


def secrets_in(url: str) -> set[str]:
    """The secrets :func:`redacted` hides in ``url``, as written and percent-decoded.

    For scrubbing them from text that did not come from pepperflow (a
    driver's message) before it is shown.
    """
    _, _, secret, rest = _parts(url)
    found = {secret, *(match.group(2) for match in _SECRET_OPTION.finditer(rest))}
    return {text for raw in found for text in (raw, unquote(raw)) if text}
