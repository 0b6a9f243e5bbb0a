"""``python -m anyzmq``: the ``anyzmq`` command line."""

from anyzmq._cli import main

raise SystemExit(main())
