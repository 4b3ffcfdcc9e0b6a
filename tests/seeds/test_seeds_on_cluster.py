"""The seeds' validation tests that use Redis, again on the private Redis
Cluster: the seed's ``RedisStorageProvider({"host": ..., "port": ...})``
names one node, and the store finds the cluster behind it when it opens.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.seeds import test_seed_r065 as r065
from tests.support.storage_providers import Providers, make_providers

pytestmark = pytest.mark.anyio


@pytest.fixture
def cluster_providers(request: pytest.FixtureRequest, tmp_path: Path) -> Providers:
    return make_providers(request, "redis-cluster", tmp_path)


async def test_r065_storage_system_on_a_cluster(cluster_providers: Providers) -> None:
    await r065.test_storage_system(cluster_providers)
