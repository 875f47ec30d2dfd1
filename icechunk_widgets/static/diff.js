// DiffViewer view: summary, path list, metadata/attribute diffs, chunk map, chunk values.

function render({ model, el }) {
  const rpc = requester(model);
  const act = (op, args) => rpc.call(op, args);

  function refPicker(current) {
    const names = model.get("ref_names") || [];
    if (!names.length) return null;
    return h("select", {}, h("option", { value: "" }, current || "(choose)"),
      names.map((n) => h("option", { value: n }, n)));
  }

  function toolbar() {
    const a = refPicker(model.get("from_label"));
    const b = refPicker(model.get("to_label"));
    const filter = h("input", { placeholder: "filter paths (glob)", value: model.get("path_filter") || "" });
    filter.addEventListener("keydown", (e) => { if (e.key === "Enter") act("filter", { pattern: filter.value }); });
    return h("div", { class: "icw-bar" },
      h("b", {}, model.get("from_label") || "from"), " → ", h("b", {}, model.get("to_label") || "to"),
      a, b, a ? h("button", { onclick: () => act("compare", { from_: a.value || "main", to: b.value || null }) }, "Compare") : null,
      h("button", { onclick: () => act("swap") }, "Swap"), filter,
      h("button", { onclick: () => act("refresh") }, "Refresh"));
  }

  function visibleEntries() {
    const entries = (model.get("summary") || {}).entries || [];
    const pat = (model.get("path_filter") || "").trim();
    if (!pat) return entries;
    const glob = /[*?[]/.test(pat) ? pat : `*${pat}*`;
    const re = new RegExp("^" + glob.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
    return entries.filter((e) => re.test(e.path));
  }

  function chunkMap(map, path) {
    if (!map) return null;
    if (map.kind === "histogram") {
      const top = Math.max(1, ...map.bins);
      return h("div", {}, h("div", { class: "icw-muted" },
        `${map.changed} changed chunks; grid too large, histogram along axis ${map.axis} (${map.bin_width} per bar)`),
        h("div", { class: "icw-hist" }, map.bins.map((n, i) =>
          h("div", { title: `bin ${i}: ${n}`, style: `height:${Math.round(60 * n / top)}px` }))));
    }
    if (map.kind !== "grid") return null;
    const grid = h("div", { class: "icw-grid", style: `grid-template-columns: repeat(${map.cols}, 18px)` });
    map.cells.forEach((row, r) => row.forEach((n, c) => {
      const coords = map.axes[0] === null ? [c] : null;
      grid.append(h("div", {
        class: n ? "icw-cell icw-cell-on" : "icw-cell", "data-cell": `${r},${c}`,
        title: n ? `row ${r}, col ${c}: ${n} changed` : `row ${r}, col ${c}`,
        onclick: n && map.depth === 1 ? () => act("load_chunk", { path, coords: coords || [r, c] }) : null,
      }, n ? (n > 1 ? String(n) : "■") : "")); }));
    const axes = map.axes[0] === null ? "1-D" : `axes ${map.axes[0]} × ${map.axes[1]}` + (map.depth > 1 ? ` (summed over ${map.depth} other chunks)` : "");
    return h("div", {}, h("div", { class: "icw-muted" }, `chunk map, ${axes}; click a changed chunk to load values`), grid);
  }

  function valuesPane() {
    const v = model.get("chunk_values") || {};
    if (!v.path) return null;
    const side = (s) => (s ? `min ${s.min} · max ${s.max} · mean ${s.mean?.toFixed ? s.mean.toFixed(3) : s.mean} · first: ${s.preview.join(", ")}` : "— (absent)");
    return h("div", {}, h("h4", {}, `Chunk (${v.coords.join(",")}) of ${v.path}`),
      kvTable([["before", side(v.from)], ["after", side(v.to)]]));
  }

  function detailPane() {
    const d = model.get("details") || {};
    if (!d.path) return null;
    const meta = (d.metadata || []).map((m) => h("tr", {}, h("td", {}, m.field),
      h("td", { class: "icw-deleted" }, fmtValue(m.before)), h("td", { class: "icw-added" }, fmtValue(m.after))));
    const attrs = (d.attributes || []).map((a) => h("tr", {}, h("td", {}, changeMark(a.change), " ", a.key),
      h("td", {}, a.before ?? "—"), h("td", {}, a.after ?? "—")));
    const table = (head, rows) => rows.length ? h("table", { class: "icw-table" },
      h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))), h("tbody", {}, rows)) : h("div", { class: "icw-muted" }, "no changes");
    return h("div", { class: "icw-detail" }, h("h4", {}, h("code", {}, d.path)),
      h("div", {}, "Metadata"), table(["field", "before", "after"], meta),
      h("div", {}, "Attributes"), table(["key", "before", "after"], attrs),
      d.chunks_text ? h("div", { class: "icw-muted" }, d.chunks_text) : null,
      chunkMap(d.chunk_map, d.path), valuesPane());
  }

  function draw() {
    const summary = model.get("summary") || {};
    const root = h("div", { class: "icw icw-diff" }, errorBanner(model), toolbar(),
      summaryLine(summary.counts), summary.swapped ? h("div", { class: "icw-note" }, "sides swapped: markers read from the newer version back to the older") : null,
      h("div", { class: "icw-cols" },
        h("div", { class: "icw-main" }, entryTable(visibleEntries(), (p) => act("select_path", { path: p }), model.get("selected_path"))),
        h("div", { class: "icw-main" }, detailPane())));
    keyNav(root);
    el.replaceChildren(root);
  }
  const names = ["summary", "details", "chunk_values", "error", "path_filter", "from_label", "to_label", "selected_path"];
  const redraw = () => draw();
  for (const n of names) model.on(`change:${n}`, redraw);
  draw();
  return () => { for (const n of names) model.off(`change:${n}`, redraw); rpc.dispose(); };
}

export default { render };
