// Daily charts on the vendored uPlot (global `uPlot`, loaded by index.html): stacked bars
// (usage types) and lines (top models, a budget's burn-down). The x axis is the list of days of
// the window; days the API left out (zero days) are drawn as 0, a null value is a gap.

import { pretty } from "./dates.js";

export const PALETTE = [
  "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
  "#1f77b4", "#8c564b",
];

const plots = new WeakMap();
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
const full = new Intl.NumberFormat("en-US", { maximumFractionDigits: 4 });

function heightFor(el) {
  return el.clientWidth < 600 ? 220 : 280;
}

/** x ticks: one label every `step` days, so labels never overlap. */
function xAxis(days) {
  return {
    splits: (u) => {
      const room = Math.max(2, Math.floor(u.bbox.width / devicePixelRatio / 64));
      const step = Math.max(1, Math.ceil(days.length / room));
      const out = [];
      for (let i = 0; i < days.length; i += step) out.push(i);
      return out;
    },
    values: (_u, splits) => splits.map((i) => (days[i] ? pretty(days[i], true) : "")),
    grid: { show: false },
  };
}

function options(el, days, series, stacked, fromZero) {
  const scales = { x: { time: false, range: () => [-0.5, days.length - 0.5] } };
  if (fromZero) scales.y = { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max) * 1.05] };
  return {
    width: Math.max(260, el.clientWidth),
    height: heightFor(el),
    scales,
    legend: { live: true },
    cursor: { points: { show: !stacked }, drag: { x: false, y: false } },
    series: [{ label: "Day", value: (_u, i) => (i == null || !days[i] ? "(hover a day)" : pretty(days[i])) }, ...series],
    axes: [xAxis(days), { size: 56, values: (_u, splits) => splits.map((v) => compact.format(v)) }],
  };
}

/** Each series' stack top: positive values pile up from 0, negative ones (refunds) down from 0. */
function stack(raw) {
  const n = raw.length ? raw[0].length : 0;
  const pos = new Array(n).fill(0);
  const neg = new Array(n).fill(0);
  return raw.map((values) =>
    values.map((v, i) => {
      if (v >= 0) return (pos[i] += v);
      return (neg[i] += v);
    }),
  );
}

/** Draw (or redraw) a chart into `el`. `series`: [{label, values, color?, dash?, points?}] with
 *  one value per day, bottom of the stack first. `kind`: "stacked" or "lines". `fromZero`: the
 *  y axis starts at 0 (or below) whatever the values. */
export function drawChart(el, kind, days, series, { fromZero = false } = {}) {
  clearChart(el);
  const stacked = kind === "stacked";
  const colors = series.map((_s, i) => PALETTE[i % PALETTE.length]);
  const tops = stacked ? stack(series.map((s) => s.values)) : series.map((s) => s.values);
  let specs = series.map((s, i) => ({
    label: s.label,
    stroke: s.color || colors[i],
    width: stacked ? 0 : 2,
    ...(s.dash ? { dash: s.dash } : {}),
    fill: stacked ? colors[i] : undefined,
    points: { show: s.points ?? (!stacked && days.length <= 45), size: 4 },
    paths: stacked ? uPlot.paths.bars({ size: [0.8, 48], gap: 1 }) : undefined,
    value: (_u, _v, _si, i) => (i == null ? "" : s.values[i] == null ? "—" : full.format(s.values[i])),
  }));
  let data = tops;
  if (stacked) {
    // Draw the tallest (top of the stack) first so each lower layer paints over it.
    specs = specs.reverse();
    data = [...tops].reverse();
  }
  const plot = new uPlot(options(el, days, specs, stacked, fromZero), [days.map((_d, i) => i), ...data], el);
  el.classList.toggle("stacked", stacked);
  const observer = new ResizeObserver(() => {
    const width = Math.max(260, el.clientWidth);
    if (width !== plot.width) plot.setSize({ width, height: heightFor(el) });
  });
  observer.observe(el);
  plots.set(el, { plot, observer });
}

export function clearChart(el) {
  const old = plots.get(el);
  if (old) {
    old.observer.disconnect();
    old.plot.destroy();
    plots.delete(el);
  }
  el.replaceChildren();
}
