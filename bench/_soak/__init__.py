"""The soak run of ``bench/soak.py``: its parent (``parent.py``, ``faults.py``,
``report.py``) and the child processes it starts (``child.py``, ``writers.py``,
``subscribers.py``), which talk the messages of ``protocol.py``."""
