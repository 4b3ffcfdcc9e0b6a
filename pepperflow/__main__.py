"""``python -m pepperflow``: the ``pepperflow`` command (:mod:`pepperflow.cli`)."""

from pepperflow.cli import main

if __name__ == "__main__":
    main()
