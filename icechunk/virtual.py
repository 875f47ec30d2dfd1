"""Virtual chunks: references to byte ranges of objects outside the repository.

:class:`VirtualChunkContainer` declares where virtual chunks may live (a URL prefix and the
store that serves it); :class:`VirtualChunkSpec` describes one reference for
:meth:`icechunk.IcechunkStore.set_virtual_refs`.
"""

from __future__ import annotations

from icechunk._config_vcc import VirtualChunkContainer
from icechunk._virtual import VirtualChunkSpec

__all__ = ["VirtualChunkContainer", "VirtualChunkSpec"]
