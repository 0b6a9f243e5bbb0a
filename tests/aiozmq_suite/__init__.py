"""aiozmq 1.0's own rpc tests, run against anyzmq (``nox -s aiozmq_suite``).

``run.py`` downloads aiozmq 1.0.0's source distribution, copies its six rpc test
files into a scratch folder unchanged and runs them in a pytest process of their
own, with ``adapter/`` first on ``sys.path``: its ``aiozmq`` package offers the
aiozmq names those tests use on top of anyzmq, and shadows a real aiozmq.
``expectations.py`` (a pytest plugin of that process) lists the tests expected to
fail and why. Nothing here is collected by the main test run.
"""
