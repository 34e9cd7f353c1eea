"""goodhart's exceptions.

Every error the Rust core reports is raised as :class:`GoodhartError`; the
ones the caller must fix (bad input data, a bad configuration or argument, a
missing file: those for which ``goodhart`` the command exits with status 2)
are :class:`InputError`, which is also a :class:`ValueError`. Messages are
the command's, without its ``error:`` prefix: they name the file (and row or
column, or setting) and the fix.
"""

from __future__ import annotations

__all__ = ["GoodhartError", "InputError"]


class GoodhartError(Exception):
    """An error of the goodhart pipeline (retrying may help)."""


class InputError(GoodhartError, ValueError):
    """Bad input data, configuration or argument: fix it and run again."""
