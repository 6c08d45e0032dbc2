"""Named kill windows: ``fault_point("name")`` marks a place where a SIGKILL must lose nothing.

A no-op unless ``$CM_FAULT`` is set. Then it hands the name to the module that
``$CM_FAULT_HANDLER`` names (the fault-injection tests use
``orchestrator.testing.faults``, which SIGKILLs the process when ``$CM_FAULT`` lists the
point). Production code knows nothing more: the list of windows, and what a kill at each
must leave behind, live with the tests.
"""
from __future__ import annotations

import importlib
import os


def fault_point(name: str) -> None:
    """Give the fault handler a chance to kill the process here (see the module doc)."""
    if "CM_FAULT" in os.environ and (handler := os.environ.get("CM_FAULT_HANDLER")):
        importlib.import_module(handler).fault(name)
