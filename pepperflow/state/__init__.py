"""State (requirement R058): managers of ephemeral, persistent and shared state.

The public names are exported from :mod:`pepperflow`: ``StateType``,
``StateEntry``, ``StateManager``, ``BaseStateManager``,
``PersistentStateManager``, ``SharedStateManager``,
``StateManagerFactory`` and ``default_state_path``. Each manager is a view
over one pepperflow store. See docs/state.md.
"""

__all__: list[str] = []
