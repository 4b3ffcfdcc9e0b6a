"""The public conformance suite, check by check, on every store backend."""

from pepperflow.testing import STORE_CHECKS

#: Each check's id in the test report: its function name without ``check_``.
CHECK_IDS = [check.__name__.removeprefix("check_") for check in STORE_CHECKS]
