// The result explorer's grid (sqlnb/ipython/explorer_grid.py): the page on screen, headers
// that sort (Shift adds a key), a cell cursor moved by the keyboard, a rectangular selection
// copied as tab-separated text, and a button that turns the view's SQL into a new cell.
// A hand-written ES module that anywidget loads as it is: no build step, no dependencies.
//
// Keys, only while the grid has the focus (a click on it gives it the focus): each key the
// grid handles stops there, so that JupyterLab's own shortcuts (arrow keys moving between
// cells, C copying a cell ...) work as ever when the grid does not have the focus, and the
// keys the grid does not handle reach JupyterLab even when it does. The grid listens on the
// window in the capture phase, the first place a key reaches: Notebook 7 (and JupyterLab
// with bubblingKeydown off) matches its shortcuts on the document in the capture phase, before
// the key would reach the grid's own element.

const MARK = { false: "▲", true: "▼" };

function field(text) {
  // a value inside a tab-separated table: quoted, as spreadsheets write it, when it holds a
  // tab, a line break or a leading quote (which would otherwise end or split its cell)
  return /[\t\n\r]|^"/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function render({ model, el }) {
  const root = element("div", "sqlnb-grid");
  root.tabIndex = 0;
  root.setAttribute("role", "grid");
  const bar = element("div", "sqlnb-grid-bar");
  const newCell = element("button", "sqlnb-grid-button", "⊕ new cell");
  newCell.title = "a %%sql cell of this view's SQL (sorted, filtered, searched), below this one";
  const said = element("span", "sqlnb-grid-said");
  const hint = element("span", "sqlnb-grid-hint",
    "click a cell: arrows move, Shift+arrows select, Ctrl+C copies; " +
    "Shift+click a header: a further sort key");
  bar.append(newCell, said, hint);
  const scroller = element("div", "sqlnb-grid-scroll");
  const table = element("table", "sqlnb-grid-table");
  scroller.append(table);
  root.append(scroller, bar);
  el.append(root);

  // the cursor and the selection's other corner, as (row, column) on the page (0-based)
  let cursor = null;
  let anchor = null;
  let dragging = false;
  let cells = []; // cells[r][c]: the page's <td>s

  function shape() {
    return [model.get("rows").length, model.get("columns").length];
  }

  function drawHead() {
    const head = element("thead");
    const tr = element("tr");
    tr.append(element("th", "sqlnb-grid-corner"));
    const sorts = model.get("sorts");
    model.get("columns").forEach((column) => {
      const th = element("th", "sqlnb-grid-head");
      if (column.kind === "number") th.classList.add("n");
      const at = sorts.findIndex((s) => s.column === column.name);
      const name = element("div", "sqlnb-grid-name", column.name);
      if (at >= 0) {
        const mark = MARK[sorts[at].descending] + (sorts.length > 1 ? String(at + 1) : "");
        name.append(element("span", "sqlnb-grid-sort", " " + mark));
        th.classList.add("sorted");
      }
      th.append(name, element("div", "sqlnb-grid-type", `${column.dtype} · ${column.kind}`));
      th.append(element("div", "sqlnb-grid-summary", column.summary || "\u00a0"));
      th.title = `${column.name}: ${column.dtype} (${column.kind})` +
        (column.summary ? ` · ${column.summary}` : "") +
        (column.sortable ? "\nclick: sort by it (again: descending, again: not); " +
          "Shift+click: a further sort key" : "\nnot sortable");
      th.dataset.column = column.name;
      if (column.sortable) th.classList.add("sortable");
      tr.append(th);
    });
    head.append(tr);
    return head;
  }

  function drawBody() {
    const body = element("tbody");
    const columns = model.get("columns");
    const first = model.get("first_row");
    cells = model.get("rows").map((row, r) => {
      const tr = element("tr");
      tr.append(element("th", "sqlnb-grid-row", (first + r).toLocaleString("en-US")));
      const tds = row.map((value, c) => {
        const td = element("td");
        td.dataset.r = r;
        td.dataset.c = c;
        if (value === null) {
          td.className = "null";
          td.textContent = "NULL";
        } else {
          if (columns[c] && columns[c].kind === "number") td.className = "n";
          td.textContent = value;
        }
        tr.append(td);
        return td;
      });
      body.append(tr);
      return tds;
    });
    return body;
  }

  function draw() {
    table.replaceChildren(drawHead(), drawBody());
    const [rows, columns] = shape();
    if (cursor) { // the same cells on the new page (or summary), where there are some
      const clamp = (at) => ({ r: Math.min(at.r, rows - 1), c: Math.min(at.c, columns - 1) });
      if (!rows || !columns) {
        cursor = anchor = null;
      } else {
        cursor = clamp(cursor);
        anchor = clamp(anchor || cursor);
      }
    }
    paint();
  }

  function bounds() {
    if (!cursor) return null;
    const a = anchor || cursor;
    return {
      r0: Math.min(a.r, cursor.r), r1: Math.max(a.r, cursor.r),
      c0: Math.min(a.c, cursor.c), c1: Math.max(a.c, cursor.c),
    };
  }

  function paint() {
    const box = bounds();
    cells.forEach((row, r) => row.forEach((td, c) => {
      const inside = box && r >= box.r0 && r <= box.r1 && c >= box.c0 && c <= box.c1;
      td.classList.toggle("selected", Boolean(inside));
      td.classList.toggle("cursor", Boolean(cursor && cursor.r === r && cursor.c === c));
    }));
    root.dataset.cursor = cursor ? `${cursor.r},${cursor.c}` : "";
  }

  function moveTo(r, c, extend) {
    const [rows, columns] = shape();
    if (!rows || !columns) return;
    cursor = { r: Math.max(0, Math.min(r, rows - 1)), c: Math.max(0, Math.min(c, columns - 1)) };
    if (!extend || !anchor) anchor = { ...cursor };
    paint();
    const td = cells[cursor.r] && cells[cursor.r][cursor.c];
    if (td) td.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  function selectionText() {
    // one cell: its value alone (to paste into a filter or a query); more: a table whose
    // first line names the columns, so that it reads as one wherever it is pasted
    const box = bounds();
    if (!box) return null;
    const rows = model.get("rows");
    if (box.r0 === box.r1 && box.c0 === box.c1) {
      const value = rows[box.r0][box.c0];
      return value === null ? "" : value;
    }
    const names = model.get("columns").slice(box.c0, box.c1 + 1).map((c) => field(c.name));
    const lines = [names.join("\t")];
    for (let r = box.r0; r <= box.r1; r++) {
      lines.push(rows[r].slice(box.c0, box.c1 + 1)
        .map((v) => (v === null ? "" : field(v))).join("\t"));
    }
    return lines.join("\n");
  }

  function copy(text, viaKey) {
    // Ctrl+C: the browser's own copy event, whose data is set here (no permission asked);
    // a button: the same through execCommand, else the asynchronous clipboard
    let done = false;
    const onCopy = (event) => {
      event.clipboardData.setData("text/plain", text);
      event.preventDefault();
      done = true;
    };
    document.addEventListener("copy", onCopy, { capture: true, once: true });
    const fallback = () => {
      document.removeEventListener("copy", onCopy, { capture: true });
      if (!done && navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
    };
    if (viaKey) {
      setTimeout(fallback, 0); // the key's copy event comes first, if the browser sends one
    } else {
      try {
        document.execCommand("copy");
      } catch (error) {
        // (no execCommand here: the clipboard API below)
      }
      fallback();
    }
  }

  function say(text) {
    said.textContent = text;
    clearTimeout(say.timer);
    say.timer = setTimeout(() => { said.textContent = ""; }, 8000);
  }

  // -- the mouse ----------------------------------------------------------------------------
  const onMouseDown = (event) => {
    const th = event.target.closest("th.sqlnb-grid-head");
    if (th && event.shiftKey) event.preventDefault(); // no text selected by Shift+click
    const td = event.target.closest("td");
    if (td && table.contains(td) && event.button === 0) {
      event.preventDefault(); // the grid selects cells, not text
      moveTo(Number(td.dataset.r), Number(td.dataset.c), event.shiftKey);
      dragging = true;
    }
    root.focus({ preventScroll: true });
  };
  const onMouseOver = (event) => {
    if (!dragging) return;
    const td = event.target.closest("td");
    if (td && table.contains(td)) moveTo(Number(td.dataset.r), Number(td.dataset.c), true);
  };
  const onMouseUp = () => { dragging = false; };
  const onMouseDownAnywhere = (event) => {
    // a click outside the grid takes the focus from it, even where the host keeps the focus
    // where it was (JupyterLab on a cell's prompt): the keys are the host's again
    if (document.activeElement === root && !root.contains(event.target)) root.blur();
  };
  const onClick = (event) => {
    const th = event.target.closest("th.sqlnb-grid-head");
    if (!th || !th.classList.contains("sortable")) return;
    model.send({ type: "sort", column: th.dataset.column, add: event.shiftKey });
  };

  // -- the keyboard -------------------------------------------------------------------------
  const onKeyDown = (event) => {
    if (event.target !== root) return; // not the grid's focus (the button's keys are its own)
    const command = event.ctrlKey || event.metaKey;
    const at = cursor || { r: 0, c: 0 };
    const [rows, columns] = shape();
    const moves = {
      ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1],
    };
    if (event.key in moves && !event.altKey) {
      const [dr, dc] = cursor ? moves[event.key] : [0, 0];
      const far = command; // Ctrl+arrow: to the page's edge
      const r = far && dr ? (dr < 0 ? 0 : rows - 1) : at.r + dr;
      const c = far && dc ? (dc < 0 ? 0 : columns - 1) : at.c + dc;
      moveTo(r, c, event.shiftKey);
    } else if (event.key === "Home" || event.key === "End") {
      if (command) {
        model.send({ type: "page", where: event.key === "Home" ? "first" : "last" });
      } else {
        moveTo(at.r, event.key === "Home" ? 0 : columns - 1, event.shiftKey);
      }
    } else if (event.key === "PageUp" || event.key === "PageDown") {
      model.send({ type: "page", where: event.key === "PageUp" ? "previous" : "next" });
    } else if (command && !event.altKey && (event.key === "c" || event.key === "C")) {
      const text = selectionText();
      if (text === null) return;
      copy(text, true);
      event.stopPropagation(); // not preventDefault: the browser's copy event follows
      return;
    } else if (command && (event.key === "a" || event.key === "A")) {
      anchor = { r: 0, c: 0 };
      cursor = { r: rows - 1, c: columns - 1 };
      if (!rows || !columns) cursor = anchor = null;
      paint();
    } else if (event.key === "Escape" && cursor) {
      cursor = anchor = null;
      paint();
    } else {
      return; // not the grid's: JupyterLab's
    }
    event.preventDefault();
    event.stopPropagation();
  };

  // -- the new cell -------------------------------------------------------------------------
  const onNewCell = () => {
    const code = model.get("cell_code");
    const event = new CustomEvent("sqlnb-insert-cell", {
      detail: { code }, bubbles: true, cancelable: true, composed: true,
    });
    root.dispatchEvent(event);
    if (event.defaultPrevented) {
      say("inserted below");
    } else { // no sqlnb extension here (VS Code ...): the code on the clipboard
      copy(code, false);
      say("copied: paste it into a new cell");
    }
  };

  table.addEventListener("mousedown", onMouseDown);
  table.addEventListener("mouseover", onMouseOver);
  table.addEventListener("click", onClick);
  document.addEventListener("mouseup", onMouseUp);
  document.addEventListener("mousedown", onMouseDownAnywhere, { capture: true });
  window.addEventListener("keydown", onKeyDown, { capture: true });
  newCell.addEventListener("click", onNewCell);
  model.on("change:rows", draw);
  model.on("change:columns", draw);
  model.on("change:sorts", draw);
  model.on("change:first_row", draw);
  draw();
  return () => {
    document.removeEventListener("mouseup", onMouseUp);
    document.removeEventListener("mousedown", onMouseDownAnywhere, { capture: true });
    window.removeEventListener("keydown", onKeyDown, { capture: true });
    model.off("change:rows", draw);
    model.off("change:columns", draw);
    model.off("change:sorts", draw);
    model.off("change:first_row", draw);
  };
}

export default { render };
