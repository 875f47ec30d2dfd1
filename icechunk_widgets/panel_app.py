"""The history browser and diff viewer as a Panel app (``panel serve`` or ``pn.panel``).

The same ES modules run unchanged in Panel through ``panel.custom.AnyWidgetComponent``:
:func:`to_panel` mirrors a widget's synced traits as ``param`` parameters (both ways) and
routes its request/reply messages, so the Python action methods serve both front-ends.

Run a standalone page with ``python -m icechunk_widgets.panel_app PATH [--port N]`` for a
local repository.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import panel as pn
import param
from panel.custom import AnyWidgetComponent

import icechunk as ic

from ._base import IcechunkWidget
from .diff import DiffViewer
from .history import HistoryBrowser

__all__ = ["HistoryApp", "history_app", "main", "to_panel"]

_SKIP = {"layout", "tabbable", "tooltip", "comm", "keys", "log"}


def _synced_traits(widget: IcechunkWidget) -> list[str]:
    return [
        name for name in widget.trait_names(sync=True)
        if not name.startswith("_") and name not in _SKIP
    ]


def to_panel(widget: IcechunkWidget) -> AnyWidgetComponent:
    """A Panel component showing ``widget`` with its own ES module and CSS."""
    names = _synced_traits(widget)
    params = {n: param.Parameter(default=None) for n in names}

    def handle_msg(self: Any, data: Any) -> None:
        widget._on_request(widget, data, None)

    metaclass: Any = type(AnyWidgetComponent)
    cls = metaclass(
        f"Panel{type(widget).__name__}",
        (AnyWidgetComponent,),
        {"_esm": widget._esm, "_stylesheets": [widget._css], "_handle_msg": handle_msg, **params},
    )
    component: AnyWidgetComponent = cls(**{n: getattr(widget, n) for n in names})

    def to_front(change: Any) -> None:
        setattr(component, change["name"], change["new"])

    def to_widget(*events: Any) -> None:
        for event in events:
            if getattr(widget, event.name) != event.new:
                setattr(widget, event.name, event.new)

    widget.observe(to_front, names=names)
    component.param.watch(to_widget, names)
    widget.send = lambda content, buffers=None: component._send_msg(content)  # type: ignore[method-assign]
    return component


@dataclass
class HistoryApp:
    """The app's layout plus its two widgets (to drive or inspect from Python)."""

    layout: Any
    history: HistoryBrowser
    viewer: DiffViewer

    def __panel__(self) -> Any:
        return self.layout


def history_app(repo: ic.Repository) -> HistoryApp:
    """A page with the history browser above a diff viewer that follows its selection."""
    history = HistoryBrowser(repo)
    viewer = DiffViewer(repo)

    def follow(ids: list[str]) -> None:
        if len(ids) == 2:
            viewer.compare(ids[0], ids[1])
        elif repo.lookup_snapshot(ids[0]).parent_id is not None:
            viewer.compare(ids[0])

    history.on_select(follow)
    markdown: Any = pn.pane.Markdown
    layout = pn.Column(
        markdown("## Icechunk repository"),
        to_panel(history),
        markdown("### Diff"),
        to_panel(viewer),
        sizing_mode="stretch_width",
    )
    return HistoryApp(layout, history, viewer)


def main(argv: list[str] | None = None) -> None:
    """Serve :func:`history_app` for a local repository."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", help="local repository path")
    parser.add_argument("--port", type=int, default=5006)
    args = parser.parse_args(argv)
    repo = ic.Repository.open(ic.local_filesystem_storage(args.path))
    serve: Any = pn.serve
    serve(lambda: history_app(repo).layout, port=args.port, address="127.0.0.1", show=False)


if __name__ == "__main__":
    main()
