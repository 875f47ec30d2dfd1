"""Each widget in a real JupyterLab with a real kernel, driven by Chromium.

Every test clicks through the widget's main action and then asks the kernel whether the
Python side changed, so a passing test proves the comm round trip both ways. Screenshots
of each widget land in docs/images/.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .conftest import Lab, open_and_run, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SETUP = """\
import tempfile
from pathlib import Path
import zarr
from widgets.scenarios import conflicting, make_history
from icechunk_widgets import ConflictResolver, DiffViewer, HistoryBrowser, WriteMonitor
"""


def run_notebook(lab: Lab, page: Page, name: str, *cells: str) -> None:
    lab.write_notebook(name, [SETUP, *cells])
    open_and_run(lab, page, name)
    loading = page.locator(".jp-OutputArea-output", has_text="Loading widget...")
    try:
        expect(loading).to_have_count(0, timeout=60_000)
    except AssertionError:
        # Seen on the first widget of a fresh JupyterLab (even unloaded): the output stays
        # on "Loading widget..." because the page's widget manager attached after the
        # kernel sent the view. Opening the notebook again and re-running re-attaches it;
        # a second failure is a real one and fails the test's own expectations.
        open_and_run(lab, page, name)


def test_history_select_commit_opens_diff(lab: Lab, page: Page) -> None:
    nb = "history.ipynb"
    run_notebook(lab, page, nb, 'repo, ids = make_history(Path(tempfile.mkdtemp()) / "r")\n'
                 "w = HistoryBrowser(repo)\nw")
    widget = page.locator(".icw-history")
    expect(widget).to_be_visible()
    expect(widget.locator(".icw-pill", has_text="v1").first).to_be_visible()
    widget.locator("tr[data-id]", has_text="edit corner").click()
    diff = widget.locator(".icw-inline-diff")
    expect(diff).to_contain_text("1 chunks written")  # computed by the kernel
    expect(diff).to_contain_text("/temp")
    assert lab.eval(nb, "w.selected_ids == [ids[2]]") == "True"
    assert lab.eval(nb, "w.diff_viewer.to_label == ids[2][:8]") == "True"
    widget.locator("tr[data-id]", has_text="Repository initialized").click(modifiers=["Shift"])
    expect(diff).to_contain_text("2 added")
    assert lab.eval(nb, "w.selected_ids == [ids[2], ids[0]]") == "True"
    screenshot(widget, "history_browser.png")
    lab.stop_kernel(nb)


def test_diff_viewer_chunk_map_loads_values(lab: Lab, page: Page) -> None:
    nb = "diff.ipynb"
    run_notebook(lab, page, nb, 'repo, ids = make_history(Path(tempfile.mkdtemp()) / "r")\n'
                 'v = DiffViewer(repo, ids[1], "main")\nv')
    widget = page.locator(".icw-diff")
    expect(widget).to_contain_text("1 chunks written")
    widget.locator("tr[data-path='/temp']").click()
    grid = widget.locator(".icw-grid")
    expect(grid).to_be_visible()
    expect(grid.locator(".icw-cell-on")).to_have_count(1)
    grid.locator(".icw-cell-on").click()
    expect(widget).to_contain_text("Chunk (0,0) of /temp")
    expect(widget).to_contain_text("first: -1, -1, -1, -1")
    assert lab.eval(nb, "v.chunk_values['coords']") == "[0, 0]"
    assert lab.eval(nb, "v.selected_path") == "'/temp'"
    screenshot(widget, "diff_viewer.png")
    lab.stop_kernel(nb)


def test_conflict_resolver_theirs_rebase_commit(lab: Lab, page: Page) -> None:
    nb = "conflicts.ipynb"
    run_notebook(lab, page, nb, 'repo, mine, theirs = conflicting(Path(tempfile.mkdtemp()) / "r")\n'
                 "w = ConflictResolver(mine, repo=repo)\nw")
    widget = page.locator(".icw-conflicts")
    expect(page.locator(".jp-OutputArea-output").last).to_be_visible()
    expect(widget).to_contain_text("ChunkDoubleUpdate")
    expect(widget).to_contain_text("theirs: fives")  # the commit that landed meanwhile
    widget.locator("input[value='theirs']").check()
    expect(widget.locator("pre")).to_contain_text("UseTheirs", use_inner_text=False)
    screenshot(widget, "conflict_resolver.png")
    widget.get_by_role("button", name="Rebase").click()
    expect(widget.locator(".icw-status").first).to_contain_text("rebased onto the branch tip")
    assert lab.eval(nb, "repo.lookup_branch('main') == theirs") == "True"  # nothing committed
    widget.locator(".icw-message").fill("mine, rebased")
    widget.get_by_role("button", name="Commit").click()
    expect(widget.locator(".icw-committed")).to_be_visible()
    assert lab.eval(nb, "repo.lookup_branch('main') == w.committed_id") == "True"
    assert lab.eval(nb, "int(zarr.open_array(repo.readonly_session('main').store, "
                        "path='temp')[0, 0])") == "5"
    lab.stop_kernel(nb)


MONITOR_SETUP = """\
import icechunk as ic
from distributed import Client, LocalCluster
repo = ic.Repository.create(ic.local_filesystem_storage(tempfile.mkdtemp()))
s = repo.writable_session("main")
zarr.create_array(s.store, name="data", shape=(32,), chunks=(4,), dtype="i4", fill_value=0)
s.commit("empty array")
session = repo.writable_session("main")
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
client = Client(cluster)
mon = WriteMonitor(session, client)
mon
"""

MONITOR_WRITE = """\
def write(fork, i):
    import time
    import zarr
    time.sleep(0.2)
    zarr.open_array(fork.store, path="data", mode="r+")[i * 4:(i + 1) * 4] = i + 1
    return fork

futures = [client.submit(write, session.fork(), i, pure=False) for i in range(8)]
mon.watch(futures, path="/data")
"""


def test_write_monitor_reaches_100_percent_on_local_cluster(lab: Lab, page: Page) -> None:
    nb = "monitor.ipynb"
    run_notebook(lab, page, nb, MONITOR_SETUP, MONITOR_WRITE)
    widget = page.locator(".icw-monitor")
    expect(widget.locator(".icw-percent")).to_have_text("100%", timeout=90_000)
    expect(widget.locator(".icw-state")).to_have_text("done")
    expect(widget).to_contain_text("8 returned")
    widget.locator("input[placeholder='commit message']").fill("eight blocks")
    widget.get_by_role("button", name="Merge and commit").click()
    expect(widget.locator(".icw-snapshot")).to_be_visible()
    screenshot(widget, "write_monitor.png")
    assert lab.eval(nb, "repo.lookup_branch('main') == mon.snapshot_id") == "True"
    assert lab.eval(nb, "mon.forks['merged'], mon.tasks['done']") == "(8, 8)"
    assert lab.eval(nb, "zarr.open_array(repo.readonly_session('main').store, "
                        "path='data')[:].tolist()[::4]") == "[1, 2, 3, 4, 5, 6, 7, 8]"
    lab.eval(nb, "client.close() or cluster.close()")
    lab.stop_kernel(nb)
