"""The public conformance suite, check by check, on every store backend."""

from __future__ import annotations

import pytest

from pepperflow.testing import STORE_CHECKS, StoreCheck, StoreFactory
from pepperflow.testing._restart import (
    check_schema_evolution,
    check_typed_other_reader,
    check_typed_restart,
)
from pepperflow.testing._typed import (
    check_typed_metadata,
    check_typed_restore,
    check_typed_round_trip,
    check_wrong_type_refused,
)

#: Each check's id in the test report: its function name without ``check_``.
CHECK_IDS = [check.__name__.removeprefix("check_") for check in STORE_CHECKS]

#: The checks that do nothing on a store class whose constructor takes no ``type=``.
TYPED_CHECKS: frozenset[StoreCheck] = frozenset(
    {
        check_typed_round_trip,
        check_typed_metadata,
        check_wrong_type_refused,
        check_typed_restore,
        check_typed_restart,
        check_typed_other_reader,
        check_schema_evolution,
    }
)


def takes_types(backend: type) -> bool:
    """Whether ``backend(...)`` takes ``type=`` and ``metadata_type=``.

    A typed check on a backend that does not is skipped, visibly, rather
    than passed: it would check nothing.
    """
    return StoreFactory(backend).typed


def skip_if_untyped(check: StoreCheck, backend: type) -> None:
    """Skip ``check`` when it is a typed check and ``backend`` takes no ``type=``."""
    if check in TYPED_CHECKS and not takes_types(backend):
        pytest.skip(f"{backend.__name__}(...) takes no type= and metadata_type=")
