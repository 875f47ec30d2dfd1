"""A reopened notebook without a kernel shows the static HTML; the Panel app page works."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, expect

from icechunk_widgets import HistoryBrowser
from icechunk_widgets.panel_app import history_app

from ..scenarios import make_history
from .conftest import Lab, free_port, screenshot, wait_for_port

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_reopened_notebook_without_kernel_shows_static_html(
    lab: Lab, page: Page, tmp_path: Path
) -> None:
    repo, ids = make_history(tmp_path / "r")
    data, meta = HistoryBrowser(repo)._repr_mimebundle_()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("HistoryBrowser(repo)", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("display_data", data=data, metadata=meta)]
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {"name": "no-such-kernel", "display_name": "gone",
                                 "language": "python"}
    nbformat.write(nb, lab.root / "saved.ipynb")  # unsigned: JupyterLab treats it as untrusted

    page.goto(lab.url("/lab/tree/saved.ipynb?reset"))
    output = page.locator(".jp-OutputArea-output")
    no_kernel = page.locator(".jp-Dialog button", has_text="No Kernel")
    deadline = time.monotonic() + 60
    while "Icechunk history" not in " ".join(output.all_inner_texts()):
        if no_kernel.is_visible():
            no_kernel.click()
        assert time.monotonic() < deadline, "the saved output never rendered"
        time.sleep(0.2)
    while page.locator(".jp-Dialog").count():  # late kernel prompts would dim the screenshot
        if no_kernel.is_visible():
            no_kernel.click()
        else:
            page.keyboard.press("Escape")
        assert time.monotonic() < deadline + 30, "a dialog would not close"
        time.sleep(0.2)
    expect(output).to_contain_text("edit corner <script>")  # escaped, shown as text
    expect(output).to_contain_text(ids[2][:8])
    expect(output.locator("details")).to_have_count(2)
    expect(output).not_to_contain_text("Error displaying widget")
    assert output.locator("script, style").count() == 0
    assert lab.api("/api/sessions") == [] or all(
        s["path"] != "saved.ipynb" for s in lab.api("/api/sessions"))
    screenshot(output, "static_snapshot.png")


def test_panel_app_history_drives_diff_viewer(page: Page, tmp_path: Path) -> None:
    import panel as pn

    repo, ids = make_history(tmp_path / "r")
    app = history_app(repo)
    port = free_port()
    server = pn.serve({"/": lambda: app.layout}, port=port, address="127.0.0.1", threaded=True,
                      show=False, websocket_origin=f"127.0.0.1:{port}")
    try:
        wait_for_port(port)  # pn.serve(threaded=True) returns before the socket is bound
        page.goto(f"http://127.0.0.1:{port}/")
        history = page.locator(".icw-history")
        expect(history).to_be_visible()
        history.locator("tr[data-id]", has_text="create temp").click()
        viewer = page.locator(".icw-diff")
        expect(viewer).to_contain_text(f"→ {ids[1][:8]}")  # the viewer followed, via Python
        expect(viewer).to_contain_text("6 chunks written")
        assert app.history.selected_ids == [ids[1]]
        assert app.viewer.to_label == ids[1][:8]
        viewer.locator("tr[data-path='/temp']").click()
        expect(viewer.locator(".icw-grid")).to_be_visible()
        assert app.viewer.selected_path == "/temp"
        screenshot(page.locator("body"), "panel_app.png")
    finally:
        server.stop()
