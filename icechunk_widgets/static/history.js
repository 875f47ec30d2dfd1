// HistoryBrowser view: refs sidebar, commit graph, details pane with actions, inline diff.

function render({ model, el }) {
  const rpc = requester(model);
  const ui = { confirm: null, branchName: "", tagName: "" };
  const act = (op, args) => rpc.call(op, args);

  function refsPane() {
    const items = (model.get("ref_list") || []).map((r) => {
      const del = r.deletable ? h("button", {
        class: "icw-small", title: `delete ${r.kind} ${r.name}`,
        onclick: (e) => { e.stopPropagation(); ui.confirm = { op: `delete_${r.kind}`, ref: r }; draw(); },
      }, "✕") : null;
      const row = h("tr", { class: "icw-row", tabindex: 0, "data-row": true, "data-ref": r.name,
        onclick: () => act("select", { ids: [r.snapshot_id] }) },
        h("td", {}, h("span", { class: r.kind === "tag" ? "icw-pill icw-pill-tag" : "icw-pill" }, r.name)),
        h("td", {}, idCode(r.snapshot_id)), h("td", { class: "icw-muted" }, r.age), h("td", {}, del));
      return row;
    });
    return h("div", { class: "icw-side" }, h("h4", {}, "Branches & tags"),
      h("table", { class: "icw-table" }, h("tbody", {}, items)));
  }

  function commitsPane() {
    const selected = model.get("selected_ids") || [];
    const rows = (model.get("commits") || []).map((c) => h("tr", {
      class: selected.includes(c.id) ? "icw-row icw-selected" : "icw-row",
      tabindex: 0, "data-row": true, "data-id": c.id, title: c.written_at,
      onclick: (e) => act("select", { ids: [c.id], add: e.shiftKey || e.metaKey || e.ctrlKey }),
    }, h("td", { class: "icw-graph" }, c.graph),
       h("td", {}, idCode(c.id)),
       h("td", {}, c.refs.map((r) => h("span", { class: "icw-pill" }, r)),
         c.initial ? h("span", { class: "icw-chip" }, "initial") : null, c.message),
       h("td", {}, Object.entries(c.metadata || {}).slice(0, 3).map(([k, v]) =>
         h("span", { class: "icw-chip", title: `${k}: ${JSON.stringify(v)}` }, `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`))),
       h("td", { class: "icw-muted", title: c.written_at }, c.age)));
    const filter = h("input", { placeholder: "filter message / metadata / id…",
      value: model.get("text_filter") || "" });
    filter.addEventListener("keydown", (e) => { if (e.key === "Enter") act("filter", { text: filter.value }); });
    return h("div", { class: "icw-main" },
      h("div", { class: "icw-bar" }, h("h4", {}, "History"), filter,
        h("button", { onclick: () => act("refresh") }, "Refresh"),
        h("span", { class: "icw-muted" }, "click: select · shift-click: compare two")),
      h("table", { class: "icw-table icw-commits" }, h("tbody", {}, rows)),
      model.get("has_more") ? h("button", { onclick: () => act("load_more") }, "Load more") : null);
  }

  function detailPane() {
    const d = model.get("detail") || {};
    if (!d.id) return null;
    const branches = (model.get("ref_list") || []).filter((r) => r.kind === "branch");
    const nameIn = (key, ph) => {
      const i = h("input", { placeholder: ph, value: ui[key] });
      i.addEventListener("input", () => { ui[key] = i.value; });
      return i;
    };
    const resetSel = h("select", {}, branches.map((b) => h("option", { value: b.name }, b.name)));
    const actions = h("div", { class: "icw-bar" },
      h("button", { onclick: () => act("open_session", { snapshot_id: d.id }) }, "Open read-only session"),
      h("button", { onclick: () => navigator.clipboard && navigator.clipboard.writeText(d.id) }, "Copy id"),
      nameIn("branchName", "new branch"),
      h("button", { onclick: () => act("create_branch", { name: ui.branchName, snapshot_id: d.id }) }, "Create branch"),
      nameIn("tagName", "new tag"),
      h("button", { onclick: () => act("create_tag", { name: ui.tagName, snapshot_id: d.id }) }, "Create tag"),
      resetSel,
      h("button", { onclick: () => {
        const ref = branches.find((b) => b.name === resetSel.value);
        ui.confirm = { op: "reset_branch", ref, target: d.id }; draw();
      } }, "Reset branch here…"));
    const meta = Object.entries(d.metadata || {}).map(([k, v]) => [`metadata.${k}`, h("code", {}, JSON.stringify(v))]);
    return h("div", { class: "icw-detail" }, h("h4", {}, "Snapshot ", h("code", {}, d.id)),
      kvTable([["message", d.message], ["parent", d.parent ? idCode(d.parent) : "— (initial)"],
        ["written at", `${d.written_at} (${d.age})`], ...meta]), actions);
  }

  function confirmPane() {
    const c = ui.confirm;
    if (!c || !c.ref) return null;
    const cancel = () => { ui.confirm = null; draw(); };
    const run = (typed) => {
      const args = { name: c.ref.name, expected_tip: c.ref.snapshot_id, confirm: typed };
      if (c.op === "reset_branch") args.snapshot_id = c.target;
      ui.confirm = null;
      act(c.op, args);
    };
    const what = c.op === "reset_branch"
      ? `Reset branch ${c.ref.name} from ${shortId(c.ref.snapshot_id)} to ${shortId(c.target)}`
      : `Delete ${c.op === "delete_tag" ? "tag" : "branch"} ${c.ref.name} (at ${shortId(c.ref.snapshot_id)})`;
    return h("div", { class: "icw-error icw-confirm-pane" }, h("div", {}, what,
      " — fails if it moved since shown."), confirmBox("Confirm", c.ref.name, run, cancel));
  }

  function diffPane() {
    const d = model.get("diff") || {};
    if (!d.summary) return null;
    return h("div", { class: "icw-inline-diff" }, h("h4", {}, "Diff: ", d.title),
      summaryLine(d.summary.counts), entryTable(d.summary.entries || []));
  }

  function draw() {
    const msg = model.get("message");
    const root = h("div", { class: "icw icw-history" },
      errorBanner(model), msg ? h("div", { class: "icw-status" }, msg) : null,
      model.get("busy") ? h("div", { class: "icw-muted" }, "working…") : null,
      confirmPane(),
      h("div", { class: "icw-cols" }, refsPane(), commitsPane()), detailPane(), diffPane());
    keyNav(root);
    el.replaceChildren(root);
    return root;
  }
  const names = ["ref_list", "commits", "selected_ids", "detail", "diff", "error", "message", "has_more", "busy"];
  const redraw = () => draw();
  for (const n of names) model.on(`change:${n}`, redraw);
  draw();
  return () => { for (const n of names) model.off(`change:${n}`, redraw); rpc.dispose(); };
}

export default { render };
