"""Providers (requirement R084): a registry the application creates and closes.

The public names are exported from :mod:`pepperflow`: ``ProviderType``,
``ProviderMetadata``, ``Provider``, ``MemoryProvider``, ``StoreProvider``,
``ProviderManager``, ``ProviderMonitor``, ``ProviderStatus`` and
``ProviderRecord``. See docs/providers.md.
"""

__all__: list[str] = []
