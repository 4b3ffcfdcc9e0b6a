"""Change streams: the change events every store emits and the tools on them."""

from .events import Change as Change
from .events import DeleteChange as DeleteChange
from .events import ExpireChange as ExpireChange
from .events import SetChange as SetChange
from .events import apply as apply
from .events import fold as fold

__all__ = ["Change", "DeleteChange", "ExpireChange", "SetChange", "apply", "fold"]
