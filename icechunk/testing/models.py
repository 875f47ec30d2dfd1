"""Reference models that icechunk stores are compared against in property tests.

:class:`ModelStore` is zarr's in-memory store plus the hierarchy operations icechunk
adds (moving a node, shifting an array's chunk grid), implemented the obvious way on
plain keys so that an :class:`~icechunk.IcechunkStore` can be checked against it.

:class:`GroupNode` and :class:`ArrayNode` describe a hierarchy as plain data. The same
description can be written into any zarr store (:meth:`GroupNode.materialize`) and read
back from one (:meth:`GroupNode.from_store`), so two stores are easy to compare.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import zarr
import zarr.abc.store
import zarr.api.asynchronous
from zarr.core.buffer import Buffer, default_buffer_prototype
from zarr.storage import MemoryStore

__all__ = ["ArrayNode", "GroupNode", "ModelStore", "Node"]


def _chunk_key(array_path: str, index: tuple[int, ...]) -> str:
    return "/".join([array_path, "c", *map(str, index)])


def _strip_root(path: str, what: str) -> str:
    """``"/a/b"`` -> ``"a/b"``; a path without the leading ``/`` is refused."""
    if not path.startswith("/"):
        raise ValueError(f"{what} must be an absolute path starting with '/', got {path!r}")
    return path[1:]


class ModelStore(MemoryStore):
    """A :class:`zarr.storage.MemoryStore` that also moves nodes and shifts arrays.

    ``spec_version`` is a free attribute for tests that pair the model with a
    repository of a given spec version; :meth:`copy` carries it over.
    """

    spec_version: int

    async def _read(self, key: str) -> Buffer | None:
        return await self.get(key, prototype=default_buffer_prototype())

    async def _keys(self) -> list[str]:
        return [key async for key in self.list_prefix("")]

    async def move(self, source: str, dest: str) -> None:
        """Rename every key of the node at ``source`` (and below it) to live at ``dest``.

        Both paths are absolute (``"/"`` is the root). Keys are ``<node>/zarr.json`` or
        ``<node>/c/...``, so a node's keys are exactly those starting with ``<node>/``.
        """
        old = _strip_root(source, "source")
        new = _strip_root(dest, "dest")
        for key in await self._keys():
            if not key.startswith(old + "/"):
                continue
            data = await self._read(key)
            if data is None:
                continue
            await self.set(new + key[len(old) :], data)
            await self.delete(key)

    async def shift_array(
        self, array_path: str, offset: tuple[int, ...], num_chunks: tuple[int, ...]
    ) -> None:
        """Move every chunk of ``array_path`` by ``offset`` grid positions.

        ``num_chunks`` is the size of the chunk grid. A position whose source would fall
        outside the grid (or holds no chunk) ends up empty; chunks shifted past the edge
        are dropped. This is what icechunk's array shifting does to chunk keys.
        """
        moved: dict[str, Buffer] = {}
        emptied: list[str] = []
        for target in itertools.product(*map(range, num_chunks)):
            source = tuple(t - o for t, o in zip(target, offset, strict=True))
            in_grid = all(0 <= s < n for s, n in zip(source, num_chunks, strict=True))
            data = await self._read(_chunk_key(array_path, source)) if in_grid else None
            if data is None:
                emptied.append(_chunk_key(array_path, target))
            else:
                moved[_chunk_key(array_path, target)] = data
        # every read happened above, so no write can clobber a chunk still to be read
        for key in emptied:
            await self.delete(key)
        for key, data in moved.items():
            await self.set(key, data)

    async def copy(self) -> ModelStore:
        """An independent store holding the same keys and values."""
        twin = ModelStore()
        if hasattr(self, "spec_version"):
            twin.spec_version = self.spec_version
        for key in await self._keys():
            data = await self._read(key)
            if data is not None:
                await twin.set(key, data)
        return twin


@dataclass(frozen=True)
class ArrayNode:
    """An array leaf of a hierarchy description: its shape and dtype."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]


def _small_array() -> ArrayNode:
    return ArrayNode(shape=(1,), dtype=np.dtype("i4"))


@dataclass(frozen=True)
class GroupNode:
    """A group of a hierarchy description; ``children`` maps names to nodes."""

    children: dict[str, ArrayNode | GroupNode] = field(default_factory=dict)

    def walk(self, prefix: str | PurePosixPath = "") -> Iterator[tuple[PurePosixPath, Node]]:
        """Every node below this group with its path, parents before their children."""
        for name, child in self.children.items():
            path = PurePosixPath(prefix) / name
            yield path, child
            if isinstance(child, GroupNode):
                yield from child.walk(path)

    def nodes(self, prefix: str = "", *, include_root: bool = False) -> list[str]:
        """Paths of every node below this group (and ``prefix`` itself if asked)."""
        found = [str(path) for path, _ in self.walk(prefix)]
        return [prefix, *found] if include_root else found

    def groups(self, prefix: str = "", *, include_root: bool = False) -> list[str]:
        """Paths of the groups below this group (and ``prefix`` itself if asked)."""
        found = [str(path) for path, node in self.walk(prefix) if isinstance(node, GroupNode)]
        return [prefix, *found] if include_root else found

    def arrays(self, prefix: str = "") -> list[str]:
        """Paths of the arrays below this group."""
        return [str(path) for path, node in self.walk(prefix) if isinstance(node, ArrayNode)]

    def materialize(self, store: zarr.abc.store.Store) -> zarr.Group:
        """Write the described hierarchy into ``store`` (replacing it); the root group."""
        root = zarr.open_group(store, mode="w")
        pending: list[tuple[zarr.Group, GroupNode]] = [(root, self)]
        while pending:
            group, description = pending.pop()
            for name, child in description.children.items():
                if isinstance(child, ArrayNode):
                    group.create_array(name, shape=child.shape, dtype=child.dtype)
                else:
                    pending.append((group.create_group(name), child))
        return root

    @classmethod
    def from_dict(cls, tree: dict[str, Any]) -> GroupNode:
        """A description from nested dicts whose leaves are :class:`ArrayNode`."""
        return cls(
            children={
                name: value if isinstance(value, ArrayNode) else cls.from_dict(value)
                for name, value in tree.items()
            }
        )

    @classmethod
    def from_paths(cls, arrays: set[str], groups: set[str]) -> GroupNode:
        """A description from absolute array and group paths.

        Missing intermediate groups are implied; every array gets shape ``(1,)`` and
        dtype ``int32``. ``GroupNode.from_paths(arrays={"/a/x"}, groups={"/b"})``
        describes groups ``a`` and ``b`` and the array ``a/x``.
        """
        tree: dict[str, Any] = {}
        for path in sorted(groups):
            relative = _strip_root(path, "group path")
            if relative:
                _subtree(tree, relative.split("/"))
        for path in sorted(arrays):
            *parents, name = _strip_root(path, "array path").split("/")
            _subtree(tree, parents)[name] = _small_array()
        return cls.from_dict(tree)

    @classmethod
    def from_store(cls, store: zarr.abc.store.Store) -> GroupNode:
        """The hierarchy found in ``store``."""
        root = zarr.open_group(store, mode="r")
        tree: dict[str, Any] = {}
        for path, member in root.members(max_depth=None):
            _record(tree, path, member if isinstance(member, zarr.Array) else None)
        return cls.from_dict(tree)

    @classmethod
    async def from_store_async(cls, store: zarr.abc.store.Store) -> GroupNode:
        """The hierarchy found in ``store``, read with zarr's async API."""
        root = await zarr.api.asynchronous.open_group(store, mode="r")
        tree: dict[str, Any] = {}
        async for path, member in root.members(max_depth=None):
            _record(tree, path, member if isinstance(member, zarr.AsyncArray) else None)
        return cls.from_dict(tree)

    def outline(self) -> str:
        """A readable indented listing of the hierarchy (arrays show shape and dtype)."""
        lines = ["/"]
        for path, node in self.walk():
            indent = "  " * len(path.parts)
            if isinstance(node, ArrayNode):
                lines.append(f"{indent}{path.name} {node.shape} {node.dtype}")
            else:
                lines.append(f"{indent}{path.name}/")
        return "\n".join(lines)


def _subtree(tree: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    for part in parts:
        tree = tree.setdefault(part, {})
    return tree


def _record(tree: dict[str, Any], path: str, array: Any) -> None:
    """Add the member at ``path`` (an array, or a group when ``array`` is None)."""
    parts = path.split("/")
    if array is None:
        _subtree(tree, parts)
    else:
        _subtree(tree, parts[:-1])[parts[-1]] = ArrayNode(shape=array.shape, dtype=array.dtype)


Node = ArrayNode | GroupNode
