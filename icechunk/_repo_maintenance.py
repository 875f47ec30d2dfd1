"""Maintenance methods of :class:`~icechunk.Repository`: expiration, GC, storage stats.

Kept apart from ``repository.py`` as a mixin so the facade stays readable; every
method is a thin sync/async wrapper over :mod:`icechunk._expire`, :mod:`icechunk._gc`
and :mod:`icechunk._stats`.
"""

from __future__ import annotations

import datetime as dt
import warnings
from typing import TYPE_CHECKING, Any

from icechunk._sync import sync_twin

if TYPE_CHECKING:
    from icechunk._maintenance_types import ChunkStorageStats, GCSummary
    from icechunk._repo_core import RepoCore
    from icechunk.snapshots import ManifestFileInfo

__all__ = ["MaintenanceMixin"]

_MANIFEST_MEM = 512 * 1024 * 1024
_DECODED_MEM = 4 * 1024 * 1024 * 1024


class MaintenanceMixin:
    """Expiration, garbage collection and chunk statistics of a repository."""

    _core: RepoCore

    # ------------------------------------------------------------------ expiration
    async def expire_snapshots_async(
        self,
        older_than: dt.datetime,
        *,
        delete_expired_branches: bool = False,
        delete_expired_tags: bool = False,
    ) -> set[str]:
        """Drop snapshots written before ``older_than`` from the history.

        Only the repo info file changes (one atomic update, logged as
        ``ExpirationRan``); no object is deleted, run :meth:`garbage_collect` for that.
        A kept snapshot whose parent expires is re-parented onto the root snapshot.
        On a spec-version-1 repository, which has no repo info file, that snapshot file
        is rewritten in place with its new parent instead, ref by ref (tags first), and
        the ids released from every ref's history are returned, expired tips included.

        Parameters
        ----------
        older_than : datetime.datetime
            Timezone-aware bound, exclusive: a snapshot written exactly then is kept.
            The root snapshot and the tip of ``main`` never expire; other branch and tag
            tips are kept unless the matching ``delete_expired_*`` flag is set.
        delete_expired_branches : bool, optional
            Delete branches (never ``main``) whose tip expired.
        delete_expired_tags : bool, optional
            Delete tags whose target expired; their names cannot be reused.

        Returns
        -------
        set[str]
            Ids of the snapshots removed from the history. Other refs may still point
            at some of them.

        Raises
        ------
        TypeError
            If ``older_than`` is not a timezone-aware datetime.
        """
        from icechunk._expire import expire_snapshots

        return await expire_snapshots(
            self._core,
            older_than,
            delete_expired_branches=delete_expired_branches,
            delete_expired_tags=delete_expired_tags,
        )

    expire_snapshots = sync_twin(expire_snapshots_async)

    # ------------------------------------------------------------------ gc
    async def garbage_collect_async(
        self,
        delete_object_older_than: dt.datetime,
        *,
        dry_run: bool = False,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = _MANIFEST_MEM,
        max_decoded_manifest_mem_bytes: int = _DECODED_MEM,
        max_concurrent_manifest_fetches: int = 500,
        max_concurrent_deletes: int = 10,
        max_consecutive_delete_failures: int = 50,
        max_concurrent_listings: int | None = None,
    ) -> GCSummary:
        """Delete objects that no branch or tag can reach and that are older than a cutoff.

        Parameters
        ----------
        delete_object_older_than : datetime.datetime
            Timezone-aware cutoff, exclusive: only objects written entirely before it
            are deleted. Snapshots, transaction logs, manifests and chunks reachable
            from any ref (or still listed and written after the cutoff) are kept.
        dry_run : bool, optional
            Count what would be deleted without deleting or rewriting anything.
        max_snapshots_in_memory, max_concurrent_manifest_fetches : int, optional
            Bounds on concurrent snapshot and manifest reads.
        max_compressed_manifest_mem_bytes, max_decoded_manifest_mem_bytes : int, optional
            Accepted for compatibility; must be positive.
        max_concurrent_deletes, max_consecutive_delete_failures : int, optional
            Accepted for compatibility; must be positive.
        max_concurrent_listings : int or None, optional
            Accepted for compatibility; must be positive when given.

        Returns
        -------
        GCSummary
            Counts and bytes of the deleted objects, and any delete failures.
        """
        from icechunk._gc import GCLimits, check_positive, garbage_collect

        check_positive(
            max_compressed_manifest_mem_bytes=max_compressed_manifest_mem_bytes,
            max_decoded_manifest_mem_bytes=max_decoded_manifest_mem_bytes,
            max_concurrent_deletes=max_concurrent_deletes,
            max_consecutive_delete_failures=max_consecutive_delete_failures,
            max_concurrent_listings=max_concurrent_listings,
        )
        limits = GCLimits(max_snapshots_in_memory, max_concurrent_manifest_fetches)
        return await garbage_collect(
            self._core, delete_object_older_than, dry_run=dry_run, limits=limits
        )

    garbage_collect = sync_twin(garbage_collect_async)

    # ------------------------------------------------------------------ manifests
    async def rewrite_manifests_async(
        self,
        message: str,
        *,
        branch: str,
        metadata: dict[str, Any] | None = None,
        commit_method: str = "new_commit",
    ) -> str:
        """Write fresh manifests for every array of ``branch``'s tip and commit them.

        The data does not change; the commit metadata records the manifest splitting
        configuration in effect under ``metadata["__icechunk"]["splitting_config"]``.

        Parameters
        ----------
        message : str
            Commit message.
        branch : str
            The branch to rewrite and commit to.
        metadata : dict, optional
            Extra commit metadata.
        commit_method : {"new_commit", "amend"}, optional
            Add a commit, or replace the tip commit (logged as ``CommitAmended``).

        Returns
        -------
        str
            The new snapshot id.
        """
        from icechunk._rewrite import rewrite_manifests

        return await rewrite_manifests(
            self._core, message, branch=branch, metadata=metadata, commit_method=commit_method
        )

    rewrite_manifests = sync_twin(rewrite_manifests_async)

    async def list_manifest_files_async(self, snapshot_id: str) -> list[ManifestFileInfo]:
        """The manifest files a snapshot uses, with their sizes and chunk ref counts."""
        from icechunk.snapshots import ManifestFileInfo

        sid = await self._core.resolve_snapshot(snapshot_id)
        snap = await self._core.assets.fetch_snapshot(sid)
        return [ManifestFileInfo(info) for info in snap.manifest_files]

    list_manifest_files = sync_twin(list_manifest_files_async)

    # ------------------------------------------------------------------ inspection
    async def inspect_snapshot_async(self, snapshot_id: str) -> dict[str, Any]:
        """A snapshot's header, commit data, manifests and node tree, as a dict.

        A debugging aid: keys are ``id``, ``header``, ``flushed_at``, ``commit_message``,
        ``metadata``, ``manifests`` and ``nodes``.
        """
        from icechunk._inspect import inspect_snapshot

        return await inspect_snapshot(self._core, snapshot_id)

    inspect_snapshot = sync_twin(inspect_snapshot_async)

    async def inspect_manifest_async(self, manifest_id: str) -> dict[str, Any]:
        """A manifest's header and chunk ref counts per array and kind, as a dict."""
        from icechunk._inspect import inspect_manifest

        return await inspect_manifest(self._core, manifest_id)

    inspect_manifest = sync_twin(inspect_manifest_async)

    async def inspect_transaction_log_async(self, snapshot_id: str) -> dict[str, Any]:
        """The changes recorded with a snapshot (new, deleted, updated nodes, chunks, moves)."""
        from icechunk._inspect import inspect_transaction_log

        return await inspect_transaction_log(self._core, snapshot_id)

    inspect_transaction_log = sync_twin(inspect_transaction_log_async)

    async def inspect_repo_info_async(self) -> dict[str, Any]:
        """The repo info file as a dict: refs, snapshots, metadata, latest ops-log entries."""
        from icechunk._inspect import inspect_repo_info

        return await inspect_repo_info(self._core)

    inspect_repo_info = sync_twin(inspect_repo_info_async)

    # ------------------------------------------------------------------ stats
    async def chunk_storage_stats_async(
        self,
        *,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = _MANIFEST_MEM,
        max_decoded_manifest_mem_bytes: int = _DECODED_MEM,
        max_concurrent_manifest_fetches: int = 500,
    ) -> ChunkStorageStats:
        """Chunk bytes of every snapshot reachable from a branch or tag, by chunk kind.

        Native chunks count once per chunk file, virtual chunks once per
        (location, offset, length), inline chunks once per manifest holding them.
        Unreachable snapshots (after ``reset_branch`` or expiration) are not counted.

        Returns
        -------
        ChunkStorageStats
            ``native_bytes``, ``virtual_bytes`` and ``inlined_bytes``.
        """
        from icechunk._gc import GCLimits, check_positive
        from icechunk._stats import chunk_storage_stats

        check_positive(
            max_compressed_manifest_mem_bytes=max_compressed_manifest_mem_bytes,
            max_decoded_manifest_mem_bytes=max_decoded_manifest_mem_bytes,
        )
        limits = GCLimits(max_snapshots_in_memory, max_concurrent_manifest_fetches)
        return await chunk_storage_stats(self._core, limits)

    chunk_storage_stats = sync_twin(chunk_storage_stats_async)

    async def total_chunks_storage_async(
        self,
        *,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = _MANIFEST_MEM,
        max_decoded_manifest_mem_bytes: int = _DECODED_MEM,
        max_concurrent_manifest_fetches: int = 500,
    ) -> int:
        """Native chunk bytes of all reachable snapshots (async; deprecated)."""
        _warn_total_deprecated(name="total_chunks_storage_async")
        stats = await self.chunk_storage_stats_async(
            max_snapshots_in_memory=max_snapshots_in_memory,
            max_compressed_manifest_mem_bytes=max_compressed_manifest_mem_bytes,
            max_decoded_manifest_mem_bytes=max_decoded_manifest_mem_bytes,
            max_concurrent_manifest_fetches=max_concurrent_manifest_fetches,
        )
        return stats.native_bytes

    def total_chunks_storage(
        self,
        *,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = _MANIFEST_MEM,
        max_decoded_manifest_mem_bytes: int = _DECODED_MEM,
        max_concurrent_manifest_fetches: int = 500,
    ) -> int:
        """Native chunk bytes of all reachable snapshots.

        Deprecated: use ``chunk_storage_stats(...).native_bytes``.
        """
        _warn_total_deprecated(stacklevel=3)
        stats = self.chunk_storage_stats(
            max_snapshots_in_memory=max_snapshots_in_memory,
            max_compressed_manifest_mem_bytes=max_compressed_manifest_mem_bytes,
            max_decoded_manifest_mem_bytes=max_decoded_manifest_mem_bytes,
            max_concurrent_manifest_fetches=max_concurrent_manifest_fetches,
        )
        return stats.native_bytes


def _warn_total_deprecated(stacklevel: int = 3, name: str = "total_chunks_storage") -> None:
    suffix = "_async" if name.endswith("_async") else ""
    warnings.warn(
        f"{name} is deprecated; use chunk_storage_stats{suffix}(...).native_bytes, "
        "which also reports inline and virtual chunk bytes",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
