"""pyroute2's ``IPRoute``, without the start-up of pyroute2's whole package.

``import pyroute2`` runs the package's ``__init__``, which loads NDB, IPDB, conntrack and
with them sqlite3 and multiprocessing: about 6 MB of a bridge that should stay under 40 MB
on a small gateway, for nothing the bridge uses. Here the package is registered without
running its ``__init__``, and runs it only when someone asks for a name that only the
``__init__`` defines (``from pyroute2 import NDB``): then everything is as usual, only
later. Submodules (``pyroute2.iproute.linux``, ``pyroute2.netns``) load as they always do.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any


def _register_lazily() -> None:
    if "pyroute2" in sys.modules:
        return  # already imported the usual way: nothing to save
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.loader is None:
        return  # the import below says what is missing
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def __getattr__(name: str) -> Any:  # PEP 562: a name the module does not have yet
        if name.startswith("__"):
            raise AttributeError(name)  # introspection, not a use
        if importlib.util.find_spec(f"pyroute2.{name}") is not None:
            return importlib.import_module(f"pyroute2.{name}")  # from pyroute2 import config
        del package.__getattr__  # type: ignore[attr-defined]
        loader.exec_module(package)  # a name only the __init__ defines: run it now
        return getattr(package, name)

    package.__getattr__ = __getattr__  # type: ignore[attr-defined]
    sys.modules["pyroute2"] = package


_register_lazily()

from pyroute2.iproute.linux import IPRoute  # noqa: E402
from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402

__all__ = ["IPRoute", "NetlinkError"]
