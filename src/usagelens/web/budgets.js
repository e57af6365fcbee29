// Budgets: a card per budget of the answer (`budgets.items`) and the first one's burn-down
// (cumulative use over its period, the allowance, and the forecast up to the period's end).
//
// Figures are rounded for the eye; the API's exact text is in each figure's title (on hover)
// and data-value (for checks).

import { num } from "./api.js";
import { PALETTE, drawChart } from "./charts.js";
import { series } from "./daily.js";
import { dayList, localDate, pretty } from "./dates.js";
import { exact, forEye, rounded } from "./format.js";
import { h } from "./render.js";

const MAX_CARDS = 3; // the answer lists at most 5
const SCOPES = { team: "Team budget", project: "Project budget", user: "User budget", key: "API-key budget" };
const COLORS = { used: PALETTE[0], allowance: "#b5452f", grants: "#d9897a", forecast: PALETTE[1] };

const $ = (id) => document.getElementById(id);
const clamp = (pct) => `${Math.max(0, Math.min(100, pct))}%`;

/** Whole CU from 100 up, else 2 decimals (format.js `forEye`, as the headline cards). */
const eye = forEye;

/** One figure: `text` for the eye, the API's exact text in title and data-value. */
function figure(field, v, text = `${eye(v)} CU`, title = `${exact(v)} CU`) {
  return h("span", { class: "fig", "data-field": field, "data-value": v == null ? "" : String(v), title }, text);
}

const fact = (label, ...value) => [h("dt", {}, label), h("dd", {}, ...value)];

function bar(b) {
  const pct = num(b.usedPercent);
  const el = h("div", {
    class: `progress ${pct >= 100 ? "over" : pct >= 80 ? "warn" : "ok"}`,
    role: "progressbar",
    "aria-label": "Share of the allowance used",
    "aria-valuemin": "0",
    "aria-valuemax": "100",
    "aria-valuenow": String(Math.min(100, pct)),
    title: `${exact(b.usedPercent)}% used, forecast ${exact(b.forecastCU)} CU at the period's end`,
  }, h("span", { class: "forecast" }), h("span", { class: "used" }));
  const allowance = num(b.allowanceCU);
  el.children[0].style.width = clamp(allowance ? (100 * num(b.forecastCU)) / allowance : 0);
  el.children[1].style.width = clamp(pct);
  return el;
}

function card(b) {
  const { start, end, timezone } = b.period;
  const over = num(b.remainingCU) < 0;
  const runsOut = b.runsOutOn == null
    ? h("span", { "data-field": "runsOutOn", "data-value": "" }, "not at this pace")
    : h("span", { "data-field": "runsOutOn", "data-value": b.runsOutOn }, pretty(b.runsOutOn));
  return h("article", { class: "card budget", "data-budget": b.id },
    h("h3", {}, SCOPES[b.scope] || "Budget", b.target ? ` · ${b.target}` : ""),
    h("p", { class: "big" }, figure("usedCU", b.usedCU, eye(b.usedCU)), h("span", { class: "of" }, " of "),
      figure("allowanceCU", b.allowanceCU)),
    h("p", { class: "sub" },
      figure("usedPercent", b.usedPercent, `${rounded(num(b.usedPercent), 1)}% used`, `${exact(b.usedPercent)}%`),
      " · ",
      over
        ? h("span", { class: "overdrawn" }, figure("remainingCU", b.remainingCU, `${eye(-num(b.remainingCU))} CU`),
          " overdrawn")
        : h("span", {}, figure("remainingCU", b.remainingCU), " left")),
    bar(b),
    h("dl", { class: "facts" },
      fact("Period", h("span", { "data-field": "period" }, `${pretty(start)} – ${pretty(end)} (${timezone})`)),
      fact("Forecast at the end", figure("forecastCU", b.forecastCU)),
      fact(over ? "Ran out on" : "Runs out on", runsOut),
      b.grantsRemainingCU == null ? [] : fact("Grants left", figure("grantsRemainingCU", b.grantsRemainingCU))),
  );
}

/** Show the cards of `block` (the answer's `budgets`, maybe absent); the first budget or null. */
export function show(block) {
  const items = block?.items || [];
  $("budgets").hidden = !items.length;
  $("budgets").querySelector(".budget-cards").replaceChildren(...items.slice(0, MAX_CARDS).map(card));
  const more = items.length > MAX_CARDS ? `Showing ${MAX_CARDS} of ${items.length} budgets. ` : "";
  $("budget-note").textContent = items.length ? `${more}Forecast: ${block.forecastMethod}.` : "";
  return items[0] || null;
}

/** The days of `b`'s period that have begun (in its zone): {start, end, timezone} for the API. */
export function soFar(b, now = new Date()) {
  const { start, end, timezone } = b.period;
  const today = localDate(now, timezone);
  return { start, end: today < start ? start : today > end ? end : today, timezone };
}

/** Draw `b`'s burn-down into `el` from `list` (the "usages.daily" of its period up to `last`):
 *  cumulative use, the allowance (and, with grants, what the period may use in all: used +
 *  remaining, which `runsOutOn` is about), and a dashed straight line from the use on `last` to
 *  the forecast on the period's last day. Returns a note for the panel. */
export function drawBurnDown(el, b, list, last) {
  const days = dayList(b.period.start, b.period.end);
  const perDay = new Array(days.length).fill(0);
  for (const s of series(list, days, b.period.timezone, () => "")) s.values.forEach((v, i) => (perDay[i] += v));
  const t = Math.max(0, days.indexOf(last));
  let total = 0;
  const used = perDay.map((v, i) => (i <= t ? (total += v) : null));
  const span = days.length - 1 - t;
  const to = num(b.forecastCU);
  const forecast = days.map((_d, i) => (i < t ? null : span ? total + ((to - total) * (i - t)) / span : to));
  const flat = (v) => days.map(() => v);
  const ceiling = num(b.usedCU) + num(b.remainingCU);
  const lines = [
    { label: "Used (cumulative)", values: used, color: COLORS.used },
    { label: "Allowance", values: flat(num(b.allowanceCU)), color: COLORS.allowance, points: false },
  ];
  if (b.grantsRemainingCU != null && Math.abs(ceiling - num(b.allowanceCU)) > 1e-6) {
    lines.push({ label: "With grants", values: flat(ceiling), color: COLORS.grants, dash: [2, 3], points: false });
  }
  lines.push({ label: "Forecast", values: forecast, color: COLORS.forecast, dash: [6, 4], points: false });
  drawChart(el, "lines", days, lines, { fromZero: true, legendIdx: t });
  Object.assign(el.dataset, { budget: b.id, days: days.length, usedPoints: t + 1, usedTotal: total.toFixed(2) });
  const target = b.target ? ` (${b.target})` : "";
  return `${SCOPES[b.scope] || "Budget"}${target}, ${pretty(b.period.start)} – ${pretty(b.period.end)} ` +
    `(${b.period.timezone}): use up to ${pretty(last)}, the allowance, and the forecast to the period's end (dashed).`;
}
