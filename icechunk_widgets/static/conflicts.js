// ConflictResolver view: why, what landed, conflicts with sides, choices, rebase, commit.

function render({ model, el }) {
  const rpc = requester(model);
  const act = (op, args) => rpc.call(op, args);
  const ui = { message: "" };

  function why() {
    return h("div", {}, h("h4", {}, `Branch ${model.get("branch") || "?"}`),
      kvTable([["your session's base", idCode(model.get("expected_parent"))],
        ["branch tip now", idCode(model.get("actual_parent"))]]));
  }

  function landed() {
    const rows = model.get("landed") || [];
    if (!rows.length) return h("div", { class: "icw-muted" }, "No commits between your base and the branch tip.");
    return h("div", {}, h("h4", {}, `Commits that landed meanwhile (theirs): ${rows.length}`),
      h("table", { class: "icw-table" }, h("tbody", {}, rows.map((c) => h("tr", {},
        h("td", {}, idCode(c.id)), h("td", {}, c.message),
        h("td", {}, Object.entries(c.metadata || {}).map(([k, v]) => h("span", { class: "icw-chip" }, `${k}: ${v}`))),
        h("td", { class: "icw-muted", title: c.written_at }, c.age))))));
  }

  function sides(c) {
    const s = c.sides || {};
    if (!Object.keys(s).length) return c.chunks && c.chunks.length ? h("div", { class: "icw-muted" }, chunkText(c.chunks)) : null;
    const fields = ["node_type", "shape", "data_type", "attributes"];
    const col = (side) => (side === null || side === undefined ? "— absent" : null);
    return h("table", { class: "icw-table icw-sides" },
      h("thead", {}, h("tr", {}, h("th", {}, ""), ["base", "ours", "theirs"].map((k) => h("th", {}, k)))),
      h("tbody", {}, fields.map((f) => h("tr", {}, h("td", {}, f), ["base", "ours", "theirs"].map((k) =>
        h("td", {}, k in s ? (col(s[k]) || fmtValue(s[k][f])) : "n/a"))))));
  }

  function conflicts() {
    const groups = model.get("groups") || [];
    if (!groups.length) return null;
    const kinds = [...new Set(groups.flatMap((g) => g.conflicts.map((c) => c.kind)))];
    const choices = model.get("choices") || {};
    const expl = model.get("explanations") || {};
    const pickers = kinds.map((kind) => {
      const opts = (model.get("options") || {})[kind] || ["fail"];
      return h("tr", { "data-kind": kind }, h("td", {}, h("b", {}, kind)), h("td", {}, opts.map((o) =>
        h("label", { class: "icw-choice", title: (expl[kind] || {})[o] || "" },
          h("input", { type: "radio", name: `choice-${kind}`, value: o,
            checked: (choices[kind] || "fail") === o, disabled: opts.length === 1,
            onchange: () => act("choose", { kind, choice: o }) }), ` ${o} `))),
        h("td", { class: "icw-muted" }, opts.length === 1 ? "the solver cannot resolve this kind: change or discard these edits" : (expl[kind] || {})[choices[kind] || "fail"] || ""));
    });
    return h("div", {}, h("h4", {}, "Conflicts"),
      groups.map((g) => h("div", { class: "icw-group" }, h("div", {}, h("code", {}, g.path)),
        g.conflicts.map((c) => h("div", { class: "icw-conflict", "data-kind": c.kind },
          changeMark("updated"), " ", h("span", { title: c.description }, c.kind), sides(c))))),
      h("h4", {}, "Resolution (per conflict kind)"),
      h("div", { class: "icw-note" }, "BasicConflictSolver decides per kind of conflict, not per path: a choice applies to every conflict of that kind."),
      h("table", { class: "icw-table" }, h("tbody", {}, pickers)));
  }

  function actions() {
    const stage = model.get("stage");
    const msg = h("input", { placeholder: "commit message", value: ui.message, class: "icw-message" });
    msg.addEventListener("input", () => { ui.message = msg.value; commit.disabled = stage !== "ready" || !msg.value.trim(); });
    const commit = h("button", { class: "icw-primary", disabled: stage !== "ready" || !ui.message.trim(),
      onclick: () => act("commit", { message: msg.value }) }, "Commit");
    return h("div", { class: "icw-bar" },
      h("button", { onclick: () => act("preview"), disabled: stage === "committed" }, "Preview (detect only)"),
      h("button", { class: "icw-primary", onclick: () => act("rebase"), disabled: stage === "committed" || stage === "ready" }, "Rebase"),
      msg, commit);
  }

  function draw() {
    const committed = model.get("committed_id");
    const root = h("div", { class: "icw icw-conflicts" }, errorBanner(model),
      h("div", { class: "icw-status" }, model.get("status") || ""),
      committed ? h("div", { class: "icw-status icw-added" }, "Committed snapshot ", h("code", { class: "icw-committed" }, committed)) : null,
      why(), landed(), conflicts(), actions(),
      h("details", {}, h("summary", {}, "The same in Python"), h("pre", {}, model.get("code") || "")));
    el.replaceChildren(root);
  }
  const names = ["stage", "groups", "choices", "landed", "status", "error", "committed_id", "code", "actual_parent"];
  const redraw = () => draw();
  for (const n of names) model.on(`change:${n}`, redraw);
  draw();
  return () => { for (const n of names) model.off(`change:${n}`, redraw); rpc.dispose(); };
}

export default { render };
