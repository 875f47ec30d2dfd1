// WriteMonitor view: per-array progress bars, task/fork/worker counts, actions.

function render({ model, el }) {
  const rpc = requester(model);
  const act = (op, args) => rpc.call(op, args);
  const ui = { message: "" };

  function fmtTime(s) { return s === null || s === undefined ? "—" : `${Number(s).toFixed(1)} s`; }

  function bars() {
    const rows = (model.get("progress") || []).map((r) => h("tr", { "data-path": r.path },
      h("td", {}, h("code", {}, r.path)),
      h("td", {}, h("div", { class: "icw-progress", role: "progressbar", "aria-valuenow": r.percent,
        "aria-valuemin": 0, "aria-valuemax": 100 }, h("div", { style: `width:${r.percent}%` }))),
      h("td", { class: "icw-percent" }, `${r.percent}%`),
      h("td", {}, `${r.written} / ${r.expected} chunks`),
      h("td", {}, `${r.chunks_per_s} chunks/s`),
      h("td", {}, `ETA ${fmtTime(r.eta_s)}`)));
    return h("table", { class: "icw-table" }, h("tbody", {}, rows));
  }

  function facts() {
    const t = model.get("tasks") || {}, f = model.get("forks") || {}, w = model.get("workers") || {};
    const dash = model.get("dashboard");
    const st = model.get("session_status") || {};
    return kvTable([
      ["state", h("b", { class: "icw-state" }, model.get("state"))],
      ["tasks", `${t.done || 0} done of ${t.total || 0} · ${t.failed || 0} failed · ${t.retried || 0} retried · ${t.cancelled || 0} cancelled`],
      ["forks", `${f.created || 0} created · ${f.returned || 0} returned · ${f.merged || 0} merged`],
      ["workers", w.count === undefined ? "—" : `${w.count} (${w.active || 0} busy)`],
      ["elapsed", fmtTime(model.get("elapsed"))],
      ["session", st.chunks === undefined ? "—" : `${st.chunks} uncommitted chunks in ${st.arrays} arrays`],
      ["dashboard", dash ? h("a", { href: dash, target: "_blank", rel: "noopener" }, dash) : "—"],
      ["snapshot", model.get("snapshot_id") ? h("code", { class: "icw-snapshot" }, model.get("snapshot_id")) : "— (not committed)"],
    ]);
  }

  function errors() {
    const errs = model.get("errors") || [];
    if (!errs.length) return null;
    return h("details", { class: "icw-error" }, h("summary", {}, `${errs.length} failed task(s)`),
      errs.map((e) => h("details", {}, h("summary", {}, e.message), h("pre", {}, e.traceback))));
  }

  function actions() {
    const t = model.get("tasks") || {};
    const state = model.get("state");
    const ready = t.total > 0 && t.done === t.total && state !== "committed";
    const msg = h("input", { placeholder: "commit message", value: ui.message });
    const commit = h("button", { class: "icw-primary", disabled: !ready || !ui.message.trim(),
      title: ready ? "" : "enabled once every task succeeded",
      onclick: () => act("merge_and_commit", { message: msg.value }) }, "Merge and commit");
    msg.addEventListener("input", () => { ui.message = msg.value; commit.disabled = !ready || !msg.value.trim(); });
    return h("div", { class: "icw-bar" },
      h("button", { onclick: () => act("cancel"), disabled: state !== "running" }, "Cancel"),
      h("button", { onclick: () => act("retry_failed"), disabled: !(t.failed > 0) }, "Retry failed"),
      msg, commit);
  }

  function draw() {
    el.replaceChildren(h("div", { class: "icw icw-monitor" }, errorBanner(model),
      h("h4", {}, "Icechunk write"), bars(), facts(), errors(), actions()));
  }
  const names = ["progress", "tasks", "forks", "workers", "elapsed", "state", "errors", "snapshot_id", "session_status", "error"];
  const redraw = () => draw();
  for (const n of names) model.on(`change:${n}`, redraw);
  draw();
  return () => { for (const n of names) model.off(`change:${n}`, redraw); rpc.dispose(); };
}

export default { render };
