"""Repository availability status and feature flags, as stored in the repo info file.

Both live in the spec-v2 repo file: the status table (availability, when, why) and two
sorted lists of feature-flag ids explicitly enabled or disabled. A flag with neither
setting takes its default. Every change is one conditional update of the repo file with
its own ops-log entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from icechunk.errors import ErrorKind, InvalidInputError, ReadOnlyError, SessionStateError
from icechunk.format.model import (
    RepoAvailability,
    RepoInfo,
    RepoStatusData,
    UpdateKind,
    UpdateRecord,
)

if TYPE_CHECKING:
    from icechunk.refs import RepoInfoStore

__all__ = [
    "FEATURE_FLAGS",
    "FeatureFlagSpec",
    "flag_by_name",
    "flag_setting",
    "refuse_if_not_online",
    "require_feature",
    "set_feature_flag",
    "set_status",
]


@dataclass(frozen=True, slots=True)
class FeatureFlagSpec:
    """A feature flag known to this version: its stable id, name and default."""

    id: int
    name: str
    default_enabled: bool


# Ids are part of the on-disk format (they are what the repo file stores); names are
# what users pass. Listed in the order the reference implementation reports them.
FEATURE_FLAGS: tuple[FeatureFlagSpec, ...] = (
    FeatureFlagSpec(3, "move_node", True),
    FeatureFlagSpec(5, "delete_tag", True),
    FeatureFlagSpec(4, "create_tag", True),
)


def flag_by_name(name: str) -> FeatureFlagSpec:
    """The flag called ``name``; ``InvalidInputError`` naming the valid ones otherwise."""
    for spec in FEATURE_FLAGS:
        if spec.name == name:
            return spec
    known = ", ".join(sorted(spec.name for spec in FEATURE_FLAGS))
    raise InvalidInputError(
        f"invalid feature flag name: {name} (known flags: {known})",
        ErrorKind.INVALID_FEATURE_FLAG,
    )


def flag_setting(info: RepoInfo, flag_id: int) -> bool | None:
    """The explicit setting of a flag in ``info``, or None when it has its default."""
    if flag_id in info.enabled_feature_flags:
        return True
    if flag_id in info.disabled_feature_flags:
        return False
    return None


def require_feature(info: RepoInfo, name: str, action: str) -> None:
    """Refuse ``action`` with ``SessionStateError`` when flag ``name`` is disabled."""
    spec = flag_by_name(name)
    setting = flag_setting(info, spec.id)
    enabled = spec.default_enabled if setting is None else setting
    if not enabled:
        raise SessionStateError(
            f"{action} is disabled by a feature flag ({name}); enable it with "
            f"Repository.set_feature_flag({name!r}, True)",
            ErrorKind.FEATURE_FLAG_DISABLED,
        )


AVAILABILITY_LABELS = {
    RepoAvailability.online: "Online",
    RepoAvailability.read_only: "ReadOnly",
    RepoAvailability.offline: "Offline",
}


def utc_from_micros(micros: int) -> dt.datetime:
    """The UTC time ``micros`` microseconds after the epoch, exactly (no float rounding)."""
    secs, rest = divmod(micros, 1_000_000)
    return dt.datetime.fromtimestamp(secs, tz=dt.UTC).replace(microsecond=rest)


def describe_status(status: RepoStatusData) -> str:
    """``Repo status is ReadOnly, set at ..., reason: ...`` for error messages."""
    label = AVAILABILITY_LABELS[RepoAvailability(status.availability)]
    reason = status.limited_availability_reason
    when = utc_from_micros(status.set_at).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    return f"Repo status is {label}, set at {when}, reason: {reason or 'none given'}"


def refuse_if_not_online(info: RepoInfo, action: str) -> None:
    """Raise ``ReadOnlyError`` for ``action`` unless the repository is online."""
    if info.status.availability != RepoAvailability.online:
        raise ReadOnlyError(
            f"the repository status is read-only: {action}; {describe_status(info.status)}. "
            "Set it back with Repository.set_status(RepoStatus(RepoAvailability.online))",
            ErrorKind.READ_ONLY_REPOSITORY,
        )


async def set_status(refs: RepoInfoStore, status: RepoStatusData) -> None:
    """Record a new availability status (allowed even while read-only)."""

    def mutate(info: RepoInfo) -> tuple[RepoInfo, UpdateRecord]:
        record = UpdateRecord(UpdateKind.REPO_STATUS_CHANGED, 0, status=status)
        return replace(info, status=status), record

    await refs.update(mutate, check_online=False)


async def set_feature_flag(refs: RepoInfoStore, name: str, setting: bool | None) -> None:
    """Enable, disable or (``None``) reset a flag to its default."""
    if setting is not None and not isinstance(setting, bool):
        raise InvalidInputError(
            f"feature flag setting must be True, False or None, got {setting!r}",
            ErrorKind.INVALID_FEATURE_FLAG,
        )
    spec = flag_by_name(name)

    def mutate(info: RepoInfo) -> tuple[RepoInfo, UpdateRecord]:
        enabled = set(info.enabled_feature_flags) - {spec.id}
        disabled = set(info.disabled_feature_flags) - {spec.id}
        if setting is True:
            enabled.add(spec.id)
        elif setting is False:
            disabled.add(spec.id)
        new = replace(
            info,
            enabled_feature_flags=tuple(sorted(enabled)),
            disabled_feature_flags=tuple(sorted(disabled)),
        )
        record = UpdateRecord(
            UpdateKind.FEATURE_FLAG_CHANGED,
            0,
            flag_id=spec.id,
            flag_value=bool(setting) if setting is not None else None,
            flag_is_set=setting is not None,
        )
        return new, record

    await refs.update(mutate)
