// A board page: the sortable table, the curves of the ticked rows, accuracy against compute.
// The board arrives as JSON in #page-data; every user-supplied string is set with textContent.
"use strict";

(() => {
  const { board, links } = JSON.parse(document.getElementById("page-data").textContent);
  const table = document.getElementById("board");
  const selected = new Set();
  let sortKey = "rank", descending = false;

  const numberColumns = [...board.columns, ...board.compute_columns];
  const formats = {
    wall_seconds: (v) => v.toFixed(1),
    trainable_parameters: (v) => Math.round(v).toLocaleString("en-US"),
    peak_memory_bytes: (v) => (v / 1048576).toFixed(0),
  };
  const format = (key, v) => (v === null || v === undefined ? "—" : (formats[key] || ((x) => x.toFixed(3)))(v));

  function node(tag, className, text) {
    const n = document.createElement(tag);
    if (className) n.className = className;
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function rowName(row) {
    return row.config_label ? `${row.method} (${row.config_label})` : row.method;
  }

  function sortValue(row, key) {
    if (key === "rank") return row.rank;
    if (key === "method") return rowName(row).toLowerCase();
    if (key === "seeds") return row.seeds.length;
    const stats = row.values[key];
    return stats && typeof stats.mean === "number" ? stats.mean : null;
  }

  function sortedRows() {
    const rows = [...board.rows];
    rows.sort((a, b) => {
      const x = sortValue(a, sortKey), y = sortValue(b, sortKey);
      if (x === null || y === null) return x === y ? a.rank - b.rank : x === null ? 1 : -1;
      if (x === y) return a.rank - b.rank;
      return (x < y ? -1 : 1) * (descending ? -1 : 1);
    });
    return rows;
  }

  function header() {
    const tr = node("tr");
    tr.appendChild(node("th", "select", "plot"));
    const sortable = [["rank", "rank"], ["method", "method"], [board.primary, null], ["seeds", "seeds"]];
    for (const column of numberColumns) if (column.key !== board.primary) sortable.push([column.key, column.label, column.kind]);
    sortable[2][1] = numberColumns.find((c) => c.key === board.primary).label + " (95% interval)";
    for (const [key, label, kind] of sortable) {
      const th = node("th", kind === "list" ? "list" : "sortable");
      th.dataset.key = key;
      if (kind === "list") th.textContent = label;
      else {
        const button = node("button", "sort", label + (sortKey === key ? (descending ? " ▼" : " ▲") : ""));
        button.addEventListener("click", () => {
          descending = sortKey === key ? !descending : key !== "rank" && key !== "method" && (numberColumns.find((c) => c.key === key) || {}).better !== "lower";
          sortKey = key;
          render();
        });
        th.appendChild(button);
      }
      tr.appendChild(th);
    }
    for (const label of ["device", "recipe", "replays", "entries"]) tr.appendChild(node("th", null, label));
    return tr;
  }

  function statsCell(key, stats, interval) {
    const td = node("td", "number");
    if (!stats || stats.mean === null) {
      td.textContent = "—";
      return td;
    }
    td.appendChild(node("span", "mean", format(key, stats.mean)));
    if (stats.std !== null) td.appendChild(node("span", "std", ` ± ${format(key, stats.std)}`));
    if (interval && stats.low !== null) td.appendChild(node("span", "interval", ` [${format(key, stats.low)}, ${format(key, stats.high)}]`));
    return td;
  }

  function tableRow(row) {
    const tr = node("tr", "row");
    tr.dataset.group = row.group_key;
    const box = node("input");
    box.type = "checkbox";
    box.className = "select-row";
    box.checked = selected.has(row.group_key);
    box.setAttribute("aria-label", "plot " + rowName(row));
    box.addEventListener("change", () => {
      if (box.checked) selected.add(row.group_key);
      else selected.delete(row.group_key);
      drawCurves();
    });
    const select = node("td", "select");
    select.appendChild(box);
    tr.appendChild(select);
    const rank = node("td", "rank", String(row.rank));
    if (row.separable_from_previous === false) rank.appendChild(node("span", "mark", " ≈"));
    tr.appendChild(rank);
    const method = node("td", "method");
    method.appendChild(node("span", "name", row.method));
    if (row.config_label) method.appendChild(node("span", "config", row.config_label));
    if (row.single_seed) method.appendChild(node("span", "badge", "1 seed"));
    tr.appendChild(method);
    tr.appendChild(statsCell(board.primary, row.values[board.primary], true));
    tr.appendChild(node("td", "number", String(row.seeds.length)));
    for (const column of numberColumns) {
      if (column.key === board.primary) continue;
      if (column.kind === "list") tr.appendChild(node("td", "list", row.values[column.key].map((v) => format(column.key, v)).join(" ")));
      else tr.appendChild(statsCell(column.key, row.values[column.key], false));
    }
    tr.appendChild(node("td", null, row.device.join(", ")));
    tr.appendChild(node("td", "recipe", row.recipe.join(", ")));
    const replays = [];
    if (row.reproduced) replays.push(`${row.reproduced} reproduced`);
    if (row.diverged) replays.push(`${row.diverged} diverged`);
    tr.appendChild(node("td", row.diverged ? "diverged" : null, replays.join(", ") || "—"));
    const entries = node("td", "entries");
    for (const id of row.entries) {
      const a = node("a", null, String(id));
      a.href = links.entry.replace("{id}", String(id));
      entries.appendChild(a);
      entries.appendChild(document.createTextNode(" "));
    }
    tr.appendChild(entries);
    return tr;
  }

  function drawCurves() {
    const series = board.rows.filter((r) => selected.has(r.group_key)).map((r) => ({ name: rowName(r), values: r.curve }));
    ClubPlots.curves(document.getElementById("curves"), series, board.curve_label);
  }

  function drawScatter() {
    const axis = document.getElementById("compute-axis").value;
    const points = board.rows.map((r) => ({ name: rowName(r), x: (r.values[axis] || {}).mean, y: r.values[board.primary].mean }));
    const label = board.compute_columns.find((c) => c.key === axis).label;
    ClubPlots.scatter(document.getElementById("scatter"), points, label, board.primary);
  }

  function render() {
    const head = node("thead");
    head.appendChild(header());
    const body = node("tbody");
    for (const row of sortedRows()) body.appendChild(tableRow(row));
    table.replaceChildren(head, body);
  }

  document.getElementById("compute-axis").addEventListener("change", drawScatter);
  render();
  drawCurves();
  drawScatter();
})();
