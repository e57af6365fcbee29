// Daily charts on the vendored uPlot (global `uPlot`, loaded by index.html): stacked bars
// (usage types), stacked areas (top models) and lines (a budget's burn-down). The legend shows
// the latest day's values until a day is hovered; a tooltip names the series under the cursor. The x axis is the list of days of
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

function options(el, days, series, o) {
  const scales = { x: { time: false, range: () => [-0.5, days.length - 0.5] } };
  if (o.fromZero) scales.y = { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max) * 1.05] };
  const last = days.length - 1;
  const dayLabel = (i) => {
    if (i != null) return days[i] ? pretty(days[i]) + (o.partial && i === last ? " (so far)" : "") : "";
    const d = days[o.legendIdx];
    if (!d) return "(hover a day)";
    return `${pretty(d)} · ${o.partial && o.legendIdx === last ? "today, so far" : "latest day"}`;
  };
  return {
    width: Math.max(260, el.clientWidth),
    height: heightFor(el),
    scales,
    legend: { live: true },
    focus: { alpha: o.stacked ? 1 : 0.35 },
    cursor: { points: { show: !o.stacked }, drag: { x: false, y: false }, focus: { prox: o.stacked ? -1 : 24 } },
    series: [{ label: "Day", value: (_u, i) => dayLabel(i) }, ...series],
    axes: [xAxis(days), { size: 56, values: (_u, splits) => splits.map((v) => compact.format(v)) }],
    hooks: { draw: o.partial ? [(u) => hatchLast(u, days.length)] : [] },
  };
}

/** Today's day, not over yet: its slot hatched and labelled "partial". */
function hatchLast(u, n) {
  const { ctx } = u;
  const x0 = u.valToPos(n - 1.5, "x", true);
  const x1 = u.valToPos(n - 0.5, "x", true);
  const { top, height } = u.bbox;
  ctx.save();
  ctx.beginPath();
  ctx.rect(x0, top, x1 - x0, height);
  ctx.clip();
  ctx.fillStyle = "rgba(255,255,255,0.55)";
  ctx.fillRect(x0, top, x1 - x0, height);
  ctx.strokeStyle = "rgba(93,102,120,0.55)";
  ctx.lineWidth = devicePixelRatio;
  const step = 6 * devicePixelRatio;
  ctx.beginPath();
  for (let x = x0 - height; x < x1; x += step) {
    ctx.moveTo(x, top + height);
    ctx.lineTo(x + height, top);
  }
  ctx.stroke();
  ctx.restore();
  ctx.save();
  ctx.fillStyle = "#5d6678";
  ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
  ctx.textAlign = "right";
  ctx.textBaseline = "top";
  ctx.fillText("partial", x1 - 2 * devicePixelRatio, top + 2 * devicePixelRatio);
  ctx.restore();
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

/** The series (index in `series`, bottom first) whose band of the stack holds `y` on day `i`. */
function bandAt(series, i, y) {
  let pos = 0;
  let neg = 0;
  for (let k = 0; k < series.length; k++) {
    const v = series[k].values[i] || 0;
    if (v > 0) {
      if (y >= pos && y <= pos + v) return k;
      pos += v;
    } else if (v < 0) {
      if (y <= neg && y >= neg + v) return k;
      neg += v;
    }
  }
  return -1;
}

/** A tooltip naming the series under the cursor (stacked charts: the band; lines: the nearest). */
function tooltip(el, days, series, stacked, partial) {
  const tip = document.createElement("div");
  tip.className = "chart-tip";
  tip.hidden = true;
  const show = (u) => {
    const i = u.cursor.idx;
    if (i == null || u.cursor.left < 0) return (tip.hidden = true);
    let k;
    if (stacked) k = bandAt(series, i, u.posToVal(u.cursor.top, "y"));
    else {
      const y = u.posToVal(u.cursor.top, "y");
      const px = Math.abs(u.valToPos(0, "y") - u.valToPos(1, "y")) || 1;
      let best = 24 / px;
      k = -1;
      series.forEach((s, j) => {
        const v = s.values[i];
        if (v != null && Math.abs(v - y) < best) [best, k] = [Math.abs(v - y), j];
      });
    }
    if (k < 0) return (tip.hidden = true);
    const s = series[k];
    const when = pretty(days[i]) + (partial && i === days.length - 1 ? " (so far)" : "");
    tip.replaceChildren();
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = s.color;
    const name = document.createElement("b");
    name.textContent = s.label;
    tip.append(swatch, name, ` · ${when} · ${full.format(s.values[i])}`);
    tip.dataset.series = s.label;
    tip.hidden = false;
    const left = Math.min(u.cursor.left + 12, Math.max(0, u.over.clientWidth - tip.offsetWidth));
    tip.style.left = `${left}px`;
    tip.style.top = `${Math.max(0, u.cursor.top - 34)}px`;
  };
  return { tip, show };
}

/** Draw (or redraw) a chart into `el`. `series`: [{label, values, color?, dash?, points?}] with
 *  one value per day, bottom of the stack first. `kind`: "stacked" (bars), "area" (stacked
 *  areas) or "lines". `fromZero`: the y axis starts at 0 (or below) whatever the values.
 *  `partial`: the last day is today, not over yet (hatched, labelled). `legendIdx`: the day the
 *  legend shows before any hover (default: the last). */
export function drawChart(el, kind, days, series, { fromZero = false, partial = false, legendIdx = days.length - 1 } = {}) {
  clearChart(el);
  const stacked = kind === "stacked" || kind === "area";
  const colored = series.map((s, i) => ({ ...s, color: s.color || PALETTE[i % PALETTE.length] }));
  const tops = stacked ? stack(series.map((s) => s.values)) : series.map((s) => s.values);
  let specs = colored.map((s) => ({
    label: s.label,
    stroke: kind === "area" ? "#fff" : s.color,
    width: kind === "stacked" ? 0 : kind === "area" ? 1 : 2,
    ...(s.dash ? { dash: s.dash } : {}),
    fill: stacked ? s.color : undefined,
    ...(kind === "area" ? { fillTo: 0 } : {}),
    points: { show: kind === "lines" && (s.points ?? days.length <= 45), size: 4 },
    paths: kind === "stacked" ? uPlot.paths.bars({ size: [0.8, 48], gap: 1 }) : undefined,
    value: (_u, _v, _si, i) => {
      const v = s.values[i ?? legendIdx];
      return v == null ? "—" : full.format(v);
    },
  }));
  let data = tops;
  if (stacked) {
    // Draw the tallest (top of the stack) first so each lower layer paints over it.
    specs = specs.reverse();
    data = [...tops].reverse();
  }
  const o = { stacked, fromZero: fromZero || kind === "area", partial, legendIdx };
  const opts = options(el, days, specs, o);
  const { tip, show } = tooltip(el, days, colored, stacked, partial);
  opts.hooks.setCursor = [show];
  const plot = new uPlot(opts, [days.map((_d, i) => i), ...data], el);
  plot.over.append(tip);
  // the legend's swatches: a filled square for stacked layers (uPlot draws the white stroke)
  if (kind === "area") {
    plot.root.querySelectorAll(".u-legend .u-series:not(:first-child) .u-marker").forEach((m, j) => {
      m.style.background = specs[j].fill;
      m.style.borderColor = specs[j].fill;
    });
  }
  el.classList.toggle("stacked", stacked);
  el.dataset.kind = kind;
  el.dataset.legendDay = days[legendIdx] || "";
  if (partial) el.dataset.partial = days[days.length - 1];
  else delete el.dataset.partial;
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
