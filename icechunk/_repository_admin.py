"""Administrative parts of :class:`icechunk.Repository`: status, feature flags, defaults.

Kept out of ``repository.py`` so that module stays about refs, history and sessions.
:class:`RepositoryAdminMixin` is one of ``Repository``'s bases; it only uses ``self._core``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from icechunk import _admin_core
from icechunk._config_core import FeatureFlag
from icechunk._sync import sync, sync_twin
from icechunk.format.model import RepoInfo
from icechunk.ops import RepoStatus

if TYPE_CHECKING:
    from icechunk._ancestry_graph import AncestryGraph
    from icechunk._repo_core import RepoCore
    from icechunk.conflicts import ConflictSolver
    from icechunk.session import Session
    from icechunk.store import IcechunkStore

__all__ = ["RepositoryAdminMixin"]


def _refuse_v1(core: RepoCore, action: str) -> None:
    if core.spec_version == 1:
        from icechunk._v1_repo import refuse_v1_write

        refuse_v1_write(action)


def _flags(info: RepoInfo) -> list[FeatureFlag]:
    return [
        FeatureFlag._new(
            spec.id, spec.name, spec.default_enabled, _admin_core.flag_setting(info, spec.id)
        )
        for spec in _admin_core.FEATURE_FLAGS
    ]


class RepositoryAdminMixin:
    """Status, feature flags, default commit metadata, transactions and the history graph."""

    _core: RepoCore
    _default_commit_metadata: dict[str, Any]

    if TYPE_CHECKING:

        async def writable_session_async(self, branch: str) -> Session: ...

    # ------------------------------------------------------------------ status
    async def get_status_async(self) -> RepoStatus:
        """The repository's availability status: online, or read-only and why."""
        _refuse_v1(self._core, "read the repository status")
        return RepoStatus._from_data((await self._core.info()).status)

    get_status = sync_twin(get_status_async)

    @property
    def status(self) -> RepoStatus:
        """The repository's availability status."""
        return self.get_status()

    async def set_status_async(self, status: RepoStatus) -> None:
        """Set the availability status.

        A read-only repository refuses writable sessions, commits and every other change
        except setting the status back.
        """
        if not isinstance(status, RepoStatus):
            raise TypeError(f"expected a RepoStatus, got {type(status).__name__}")
        _refuse_v1(self._core, "set the repository status")
        await _admin_core.set_status(self._core.refs, status._data)

    set_status = sync_twin(set_status_async)

    # ------------------------------------------------------------------ feature flags
    async def feature_flags_async(self) -> list[FeatureFlag]:
        """Every known feature flag with its current setting."""
        _refuse_v1(self._core, "read feature flags")
        return _flags(await self._core.info())

    feature_flags = sync_twin(feature_flags_async)

    async def enabled_feature_flags_async(self) -> list[FeatureFlag]:
        """The feature flags that are on."""
        return [flag for flag in await self.feature_flags_async() if flag.enabled]

    enabled_feature_flags = sync_twin(enabled_feature_flags_async)

    async def disabled_feature_flags_async(self) -> list[FeatureFlag]:
        """The feature flags that are off."""
        return [flag for flag in await self.feature_flags_async() if not flag.enabled]

    disabled_feature_flags = sync_twin(disabled_feature_flags_async)

    async def set_feature_flag_async(self, name: str, setting: bool | None) -> None:
        """Turn a feature flag on (True) or off (False), or back to its default (None).

        Raises
        ------
        InvalidInputError
            When ``name`` is not a known flag.
        """
        _refuse_v1(self._core, "set a feature flag")
        await _admin_core.set_feature_flag(self._core.refs, name, setting)

    set_feature_flag = sync_twin(set_feature_flag_async)

    # ------------------------------------------------------------------ commit defaults
    def set_default_commit_metadata(self, metadata: dict[str, Any]) -> None:
        """Metadata merged into every commit of sessions created after this call.

        Keys given to ``commit(metadata=...)`` win over these. Pass ``{}`` to clear.
        """
        if not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
        self._default_commit_metadata = dict(metadata)

    def default_commit_metadata(self) -> dict[str, Any]:
        """The metadata set with :meth:`set_default_commit_metadata` (a copy)."""
        return dict(getattr(self, "_default_commit_metadata", {}))

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def transaction(
        self,
        branch: str,
        *,
        message: str,
        metadata: dict[str, Any] | None = None,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1_000,
    ) -> Iterator[IcechunkStore]:
        """A writable store on ``branch`` that is committed when the block exits.

        If the block raises, nothing is committed and the exception propagates.

        Yields
        ------
        IcechunkStore
            The store of a new writable session on ``branch``.
        """
        session = sync(self.writable_session_async(branch))
        yield session.store
        session.commit(
            message=message,
            metadata=metadata,
            rebase_with=rebase_with,
            rebase_tries=rebase_tries,
        )

    # ------------------------------------------------------------------ history graph
    async def ancestry_graph_async(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
        plain: bool = False,
    ) -> AncestryGraph:
        """The commit graph of every branch and tag, or of one branch, tag or snapshot.

        ``print()`` it for a coloured terminal graph (``plain=True`` for no colours);
        notebooks show it as an SVG diagram.
        """
        from icechunk._ancestry_graph import build_ancestry_graph

        return await build_ancestry_graph(
            self._core, branch=branch, tag=tag, snapshot_id=snapshot_id, plain=plain
        )

    ancestry_graph = sync_twin(ancestry_graph_async)
