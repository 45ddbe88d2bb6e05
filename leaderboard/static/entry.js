// An entry page: the curve of the entry's recomputed per-step numbers.
"use strict";

(() => {
  const { entry } = JSON.parse(document.getElementById("page-data").textContent);
  ClubPlots.curves(document.getElementById("curves"), [{ name: entry.method, values: entry.curve }], entry.curve_label);
})();
