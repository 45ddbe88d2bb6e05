// Small SVG plots for the leaderboard pages: line curves and a scatter plot.
// Every label is set with textContent, never parsed as HTML.
"use strict";

const ClubPlots = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const WIDTH = 560, HEIGHT = 300, MARGIN = { left: 56, right: 16, top: 26, bottom: 40 };
  const LABELLED_POINTS = 12;
  const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];

  function el(name, attrs, text) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function finite(values) {
    return values.filter((v) => typeof v === "number" && Number.isFinite(v));
  }

  function scale(domain, range, log) {
    const f = log ? Math.log10 : (v) => v;
    let [d0, d1] = [f(domain[0]), f(domain[1])];
    if (d0 === d1) { d0 -= 0.5; d1 += 0.5; }
    return (v) => range[0] + ((f(v) - d0) / (d1 - d0)) * (range[1] - range[0]);
  }

  function ticks(lo, hi, log, integers) {
    if (integers && hi - lo <= 10) return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
    if (log) {
      const out = [];
      for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
      return out.filter((t) => t >= lo / 1.0001 && t <= hi * 1.0001);
    }
    const step = (hi - lo) / 4 || 1;
    return [0, 1, 2, 3, 4].map((i) => lo + i * step);
  }

  function label(v) {
    const a = Math.abs(v);
    if (Number.isInteger(v) && a < 1e3) return String(v);
    if (a >= 1e6) return (v / 1e6).toPrecision(3) + "M";
    if (a >= 1e3) return (v / 1e3).toPrecision(3) + "k";
    return a >= 10 || v === 0 ? String(Math.round(v * 10) / 10) : v.toPrecision(2);
  }

  function frame(svg, xs, ys, xLabel, yLabel, logX, integerX) {
    const x = scale(xs, [MARGIN.left, WIDTH - MARGIN.right], logX);
    const y = scale(ys, [HEIGHT - MARGIN.bottom, MARGIN.top], false);
    const axes = el("g", { class: "axes" });
    axes.appendChild(el("line", { x1: MARGIN.left, y1: HEIGHT - MARGIN.bottom, x2: WIDTH - MARGIN.right, y2: HEIGHT - MARGIN.bottom }));
    axes.appendChild(el("line", { x1: MARGIN.left, y1: MARGIN.top, x2: MARGIN.left, y2: HEIGHT - MARGIN.bottom }));
    for (const t of ticks(xs[0], xs[1], logX, integerX)) {
      axes.appendChild(el("text", { x: x(t), y: HEIGHT - MARGIN.bottom + 16, "text-anchor": "middle" }, label(t)));
    }
    for (const t of ticks(ys[0], ys[1], false)) {
      axes.appendChild(el("text", { x: MARGIN.left - 6, y: y(t) + 4, "text-anchor": "end" }, label(t)));
      axes.appendChild(el("line", { class: "grid", x1: MARGIN.left, y1: y(t), x2: WIDTH - MARGIN.right, y2: y(t) }));
    }
    axes.appendChild(el("text", { x: (MARGIN.left + WIDTH - MARGIN.right) / 2, y: HEIGHT - 6, "text-anchor": "middle" }, xLabel));
    axes.appendChild(el("text", { x: 8, y: 14, "text-anchor": "start", class: "ylabel" }, yLabel));
    svg.appendChild(axes);
    return { x, y };
  }

  function empty(container, message) {
    container.replaceChildren();
    const p = document.createElement("p");
    p.className = "plot-empty";
    p.textContent = message;
    container.appendChild(p);
  }

  // series: [{name, values: [number|null per step]}]
  function curves(container, series, yLabel) {
    const all = series.flatMap((s) => finite(s.values));
    if (!series.length || !all.length) return empty(container, "Tick rows of the table to draw their curves.");
    const steps = Math.max(...series.map((s) => s.values.length));
    const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "curves", role: "img" });
    const lo = Math.min(0, ...all), hi = Math.max(1, ...all);
    const { x, y } = frame(svg, [0, Math.max(1, steps - 1)], [lo, hi], "step", yLabel, false, true);
    series.forEach((s, i) => {
      const colour = COLOURS[i % COLOURS.length];
      const points = s.values.map((v, step) => [step, v]).filter(([, v]) => typeof v === "number");
      const path = el("path", {
        class: "series", fill: "none", stroke: colour, "stroke-width": 2,
        d: points.map(([step, v], k) => `${k ? "L" : "M"}${x(step).toFixed(1)},${y(v).toFixed(1)}`).join(" "),
      });
      path.appendChild(el("title", {}, s.name));
      svg.appendChild(path);
      for (const [step, v] of points) {
        const dot = el("circle", { cx: x(step), cy: y(v), r: 3, fill: colour });
        dot.appendChild(el("title", {}, `${s.name}: step ${step}, ${v.toFixed(4)}`));
        svg.appendChild(dot);
      }
      svg.appendChild(el("text", { x: WIDTH - MARGIN.right - 4, y: MARGIN.top + 12 + 14 * i, "text-anchor": "end", fill: colour, class: "legend" }, s.name));
    });
    container.replaceChildren(svg);
  }

  // points: [{name, x, y}]
  function scatter(container, points, xLabel, yLabel) {
    const usable = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    if (!usable.length) return empty(container, "No row has both numbers.");
    const xsAll = usable.map((p) => p.x), ysAll = usable.map((p) => p.y);
    const xLo = Math.min(...xsAll), xHi = Math.max(...xsAll);
    const logX = xLo > 0 && xHi / xLo > 50;
    const svg = el("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: "scatter", role: "img" });
    const pad = (xHi - xLo) * 0.05 || 1;
    const xs = logX ? [xLo / 1.2, xHi * 1.2] : [Math.max(0, xLo - pad), xHi + pad];
    const { x, y } = frame(svg, xs, [Math.min(0, ...ysAll), Math.max(1, ...ysAll)], xLabel + (logX ? " (log)" : ""), yLabel, logX);
    usable.forEach((p, i) => {
      const colour = COLOURS[i % COLOURS.length];
      const dot = el("circle", { cx: x(p.x), cy: y(p.y), r: 4, fill: colour, class: "point" });
      dot.appendChild(el("title", {}, `${p.name}: ${p.y.toFixed(4)} at ${label(p.x)}`));
      svg.appendChild(dot);
      if (usable.length <= LABELLED_POINTS) {
        const right = x(p.x) > WIDTH * 0.6;
        const name = p.name.length > 32 ? p.name.slice(0, 31) + "…" : p.name;
        svg.appendChild(el("text", { x: x(p.x) + (right ? -6 : 6), y: y(p.y) - 5, fill: colour, class: "point-label", "text-anchor": right ? "end" : "start" }, name));
      }
    });
    container.replaceChildren(svg);
  }

  return { curves, scatter };
})();
