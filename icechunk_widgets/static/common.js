// Shared helpers, inlined ahead of each widget's module (a Blob-URL module cannot import
// relative files). Plain ES2020, no dependencies, no network.

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Request/reply over custom messages: {id, op, args} -> {id, ok, result, error}.
function requester(model) {
  let next = 0;
  const waiting = new Map();
  const onMsg = (msg) => {
    if (msg && msg.id !== undefined && waiting.has(msg.id)) {
      const done = waiting.get(msg.id);
      waiting.delete(msg.id);
      done(msg);
    }
  };
  model.on("msg:custom", onMsg);
  return {
    call(op, args) {
      return new Promise((resolve) => {
        const id = ++next;
        waiting.set(id, resolve);
        const msg = { id, op, args: args || {} };
        if (typeof model.send === "function") {
          model.send(msg);
        } else {  // hosts without custom messages front-end -> Python (Panel's adapter)
          model.set("request", msg);
          model.save_changes();
        }
      });
    },
    dispose() { model.off("msg:custom", onMsg); },
  };
}

function errorBanner(model) {
  const err = model.get("error") || {};
  if (!err.type) return null;
  return h("div", { class: "icw-error", role: "alert" },
    h("b", {}, `${err.type}: `), err.message,
    err.hint ? h("div", { class: "icw-hint" }, "What to do: ", err.hint) : null);
}

function shortId(id) { return id ? id.slice(0, 8) : "—"; }

function idCode(id) { return h("code", { title: id || "" }, shortId(id)); }

const SIGNS = { added: "+", deleted: "-", updated: "~", chunks: "~" };

function changeMark(kind) {
  return h("b", { class: `icw-mark icw-${kind}`, title: kind }, SIGNS[kind] || "?");
}

// A destructive action: type the name to enable the button (Esc cancels).
function confirmBox(label, expected, onConfirm, onCancel) {
  const input = h("input", { class: "icw-confirm-input", placeholder: `type ${expected}` });
  const ok = h("button", { class: "icw-danger", disabled: true,
    onclick: () => onConfirm(input.value) }, label);
  input.addEventListener("input", () => { ok.disabled = input.value !== expected; });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && input.value === expected) onConfirm(input.value);
    if (e.key === "Escape" && onCancel) onCancel();
  });
  return h("span", { class: "icw-confirm" }, `Type "${expected}" to confirm: `, input, ok,
    onCancel ? h("button", { onclick: onCancel }, "Cancel") : null);
}

// Arrow keys move between rows marked data-row; Enter activates.
function keyNav(container) {
  container.addEventListener("keydown", (e) => {
    const rows = [...container.querySelectorAll("[data-row]")];
    const i = rows.indexOf(document.activeElement);
    if (i < 0) return;
    if (e.key === "ArrowDown" && i + 1 < rows.length) { rows[i + 1].focus(); e.preventDefault(); }
    if (e.key === "ArrowUp" && i > 0) { rows[i - 1].focus(); e.preventDefault(); }
    if (e.key === "Enter") { rows[i].click(); e.preventDefault(); }
  });
}

function chunkText(chunks) {
  if (!chunks || !chunks.length) return "";
  const shown = chunks.slice(0, 12).map((c) => `(${c.join(",")})`).join(" ");
  return `${chunks.length} chunk${chunks.length === 1 ? "" : "s"}: ${shown}` +
    (chunks.length > 12 ? ` … +${chunks.length - 12} more` : "");
}

function summaryLine(counts) {
  counts = counts || {};
  return h("div", { class: "icw-summary" },
    changeMark("added"), ` ${counts.added || 0} added · `,
    changeMark("deleted"), ` ${counts.deleted || 0} deleted · `,
    changeMark("updated"), ` ${counts.updated || 0} updated · `,
    `${counts.chunks || 0} chunks written`);
}

function entryTable(entries, onPick, selected) {
  const body = entries.map((e) => h("tr", {
    class: e.path === selected ? "icw-row icw-selected" : "icw-row",
    tabindex: 0, "data-row": true, "data-path": e.path,
    onclick: onPick ? () => onPick(e.path) : null,
  }, h("td", {}, changeMark(e.change)), h("td", {}, h("code", {}, e.path)),
     h("td", {}, `${e.node} ${e.change === "chunks" ? "chunks written" : e.change}`),
     h("td", {}, chunkText(e.chunks))));
  return h("table", { class: "icw-table" },
    h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "path"), h("th", {}, "change"),
      h("th", {}, "chunks"))), h("tbody", {}, body));
}

function kvTable(pairs) {
  return h("table", { class: "icw-table icw-kv" }, h("tbody", {},
    pairs.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v)))));
}

function fmtValue(v) { return v === null || v === undefined ? "—" : JSON.stringify(v); }

// Redraw `draw()` into `el` whenever one of `names` changes; returns the cleanup.
function redrawOn(model, el, names, draw) {
  const redraw = () => { el.replaceChildren(draw()); };
  const events = names.map((n) => `change:${n}`);
  for (const ev of events) model.on(ev, redraw);
  redraw();
  return () => { for (const ev of events) model.off(ev, redraw); };
}
