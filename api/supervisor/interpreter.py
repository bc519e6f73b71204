"""The command line that runs a Python module in a process of its own, with this interpreter."""

import sys


def python_module(module: str, *args: str) -> list[str]:
    """`python -P -m module args…`.

    `-m` alone puts the working directory first on `sys.path`, and the service may be started
    anywhere: a `flows/` or `api/` folder there must not shadow the installed packages.
    """
    return [sys.executable, "-P", "-m", module, *args]
