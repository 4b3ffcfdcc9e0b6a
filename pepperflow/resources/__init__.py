"""Resources (requirement R045): acquired by id, released, cleaned up, monitored.

The public names are exported from :mod:`pepperflow`: ``ResourceManager``,
``DefaultResourceManager``, ``managed_resource``, ``ResourceMetrics``,
``ResourceStatus`` and ``ResourceRecord``. See docs/resources.md.
"""

__all__: list[str] = []
