"""Storage, credential and config objects refuse to pickle; repositories carry them privately.

A pickled storage or credential would hold its secret in a byte string anyone can read, so,
like the real package, these objects raise ``TypeError`` when pickled (or copied through
the pickle protocol). The objects that must travel to other processes (repositories,
read-only sessions, forks and their stores) call :func:`pack` on what they hold: it
replaces every refusing object by a private :class:`_Packed` record of how to rebuild it,
which pickles as that rebuild call. Unpickling therefore yields the rebuilt objects
directly; nothing else ever produces a pickle of them.

This module imports nothing from the package, so every layer can use it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar

__all__ = ["PICKLE_NOTE", "Unpicklable", "pack", "refusal"]

#: The PEP 678 note every refusal carries.
PICKLE_NOTE = (
    "storage, credential and config objects never pickle on their own (they may hold "
    "secrets); pickle the Repository, a read-only Session or a fork (Session.fork()) "
    "instead, which carry what a copy needs to reconnect"
)


def refusal(name: str) -> TypeError:
    """The error for pickling an object presented as ``name`` (with the note above)."""
    error = TypeError(f"cannot pickle {name!r} object")
    error.add_note(PICKLE_NOTE)
    return error


class Unpicklable:
    """Mixin: instances refuse pickling; :func:`pack` rebuilds them from ``_pickle_reduce``.

    Subclasses implement :meth:`_pickle_reduce`; ``copy.copy`` and ``copy.deepcopy`` keep
    working through it (the package copies configs internally).
    """

    __slots__ = ()

    #: The name the refusal shows; by default the class name without leading underscores.
    _PICKLE_NAME: ClassVar[str] = ""

    def _pickle_reduce(self) -> tuple[Any, ...]:
        """``(rebuild, args)`` such that ``rebuild(*args)`` is an equal object."""
        raise NotImplementedError

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise refusal(self._PICKLE_NAME or type(self).__name__.lstrip("_"))

    def __reduce__(self) -> Any:
        return self.__reduce_ex__(2)

    def __copy__(self) -> Any:
        rebuild, args = self._pickle_reduce()
        return rebuild(*args)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        rebuild, args = self._pickle_reduce()
        return rebuild(*copy.deepcopy(args, memo))


class _Packed:
    """A refusing object in transit: pickles as the call that rebuilds it."""

    __slots__ = ("args", "rebuild")

    def __init__(self, rebuild: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.rebuild = rebuild
        self.args = args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.rebuild, self.args)


def pack(value: Any) -> Any:
    """``value`` with every :class:`Unpicklable` inside (dicts, lists, tuples) made picklable.

    The result is meant only for a ``__getstate__``: unpickling it gives back equal
    objects, rebuilt, in place of the packed records.
    """
    if isinstance(value, Unpicklable):
        rebuild, args = value._pickle_reduce()
        return _Packed(rebuild, pack(args))
    if isinstance(value, dict):
        return {pack(k): pack(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(pack(v) for v in value)
    return value
