"""Helpers for testing code that uses icechunk, in the layout of the real package.

:mod:`icechunk.testing.strategies` holds hypothesis strategies for repository
configurations, chunk coordinates and maintenance cutoffs; :mod:`icechunk.testing.invariants`
holds reusable assertions about histories and listings; :mod:`icechunk.testing.models`
describes hierarchies as data and models a store with moves, :mod:`icechunk.testing.trees`
draws hierarchies and valid or invalid moves, :mod:`icechunk.testing.utils` pairs a model
with an icechunk session; :class:`LatencyStorage` delays
every request of a wrapped storage. The submodules need
``hypothesis`` (the ``test`` extra). They are meant for tests only.
"""

from __future__ import annotations

from icechunk.testing._latency import LatencyStorage

__all__ = ["LatencyStorage"]
