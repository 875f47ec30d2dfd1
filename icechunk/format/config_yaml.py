"""The spec-v1 ``config.yaml``: a repository config dict as Rust's serde_yaml writes it.

The dict is the same serde form spec v2 stores in the repo file (see
:meth:`RepositoryConfig._to_dict`). serde_yaml writes an externally tagged enum value as a
YAML tag on its payload (``!name_matches {regex: foo}``, ``!Axis 0``, ``!http {...}``)
where the serde dict form has a single-key map (``{"name_matches": {"regex": "foo"}}``);
unit variants (``"true"``, ``Any``) are plain strings in both.
"""

from __future__ import annotations

from typing import Any

import yaml

from icechunk.errors import ErrorKind, FormatError

__all__ = ["decode_config_yaml", "encode_config_yaml"]

#: Variant names of the config enums (preload and split conditions, split dimensions,
#: object store kinds). A single-key map under one of these names is written as a tag.
_VARIANTS = frozenset(
    {
        "and",
        "or",
        "name_matches",
        "path_matches",
        "num_refs",
        "Axis",
        "DimensionName",
        "s3",
        "s3_compatible",
        "gcs",
        "azure",
        "tigris",
        "http",
        "local_file_system",
        "in_memory",
    }
)


_STR = "tag:yaml.org,2002:str"


def _plain_tag(resolver: Any, text: str) -> str:
    """The type tag YAML gives ``text`` written as a plain (unquoted) scalar."""
    tag: str = resolver.resolve(yaml.ScalarNode, text, (True, False))
    return tag


class _Tagged:
    """A value serde_yaml writes with a ``!variant`` tag."""

    def __init__(self, variant: str, payload: Any) -> None:
        self.variant = variant
        self.payload = payload


def _tag_variants(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, payload),) = value.items()
            if key in _VARIANTS:
                return _Tagged(key, _tag_variants(payload))
        return {k: _tag_variants(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tag_variants(v) for v in value]
    return value


class _Dumper(yaml.SafeDumper):
    """Block-style YAML with ``!variant`` tags for enum values."""

    def choose_scalar_style(self) -> str:
        # PyYAML quotes every explicitly tagged scalar; serde_yaml writes ``!Axis 0`` and
        # would read ``!Axis '0'`` as a string
        tag = getattr(self.event, "tag", None)
        if isinstance(tag, str) and tag[1:] in _VARIANTS and not getattr(self.event, "style", None):
            return ""
        style: str = super().choose_scalar_style()
        return style


def _represent_tagged(dumper: yaml.SafeDumper, value: _Tagged) -> yaml.Node:
    tag = "!" + value.variant
    if isinstance(value.payload, dict):
        return dumper.represent_mapping(tag, value.payload)
    if isinstance(value.payload, list):
        return dumper.represent_sequence(tag, value.payload)
    node = dumper.represent_data(value.payload)
    text = str(node.value)
    style = None
    if isinstance(value.payload, str) and _plain_tag(dumper, text) != _STR:
        style = "'"  # a string that would read back as another type ("true", "1")
    return yaml.ScalarNode(tag, text, style=style)


_Dumper.add_representer(_Tagged, _represent_tagged)


class _Loader(yaml.SafeLoader):
    """Reads ``!variant payload`` back as ``{"variant": payload}``."""


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    payload: Any
    if isinstance(node, yaml.MappingNode):
        payload = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        payload = loader.construct_sequence(node, deep=True)
    elif getattr(node, "style", None) in ("'", '"'):
        payload = str(node.value)
    else:  # a plain scalar keeps its own type: ``!Axis 0`` holds the integer 0
        value = str(node.value)
        tag = _plain_tag(loader, value)
        payload = loader.construct_object(yaml.ScalarNode(tag, value), deep=True)
    return {suffix: payload}


_Loader.add_multi_constructor("!", _construct_tagged)


def encode_config_yaml(config: dict[str, Any]) -> bytes:
    """``config`` (a serde dict) as the bytes of a spec-v1 ``config.yaml``."""
    text: str = yaml.dump(
        _tag_variants(config), Dumper=_Dumper, sort_keys=False, allow_unicode=True
    )
    return text.encode()


def decode_config_yaml(data: bytes) -> dict[str, Any]:
    """The serde dict stored in a spec-v1 ``config.yaml``.

    Raises
    ------
    FormatError
        If the bytes are not YAML or do not hold a mapping.
    """
    try:
        loaded = yaml.load(data.decode(), Loader=_Loader)  # a SafeLoader subclass
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FormatError(
            f"config.yaml is not valid YAML: {exc}", ErrorKind.CONFIG_DESERIALIZATION
        ) from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise FormatError(
            f"config.yaml holds a {type(loaded).__name__}, not a mapping",
            ErrorKind.CONFIG_DESERIALIZATION,
        )
    return loaded
