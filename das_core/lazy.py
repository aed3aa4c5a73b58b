"""A package's public names imported on first use (PEP 562), so importing the package stays light
(`import das_core.runs` does not load torch) and import cycles between its modules do not bite."""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, api: dict) -> tuple[Callable, Callable]:
    """(`__getattr__`, `__dir__`) for package `package`, whose names `api` (name -> submodule) load on first use.

    Args:
        package: the package's `__name__`.
        api: public name -> the submodule (relative to the package) that defines it.
    """
    def __getattr__(name: str):
        if name in api:
            value = getattr(import_module(f".{api[name]}", package), name)
            setattr(sys.modules[package], name, value)  # later look-ups skip this function
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list:
        return sorted(set(vars(sys.modules[package])) | set(api))

    return __getattr__, __dir__
