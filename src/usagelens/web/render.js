// DOM building: headline cards, tables, panel states. Text only goes in through textContent.

import { num } from "./api.js";
import { localDate, localTime, pretty } from "./dates.js";
import { exact, exactSum, forEye, percent, rounded } from "./format.js";

/** `h("td", {class: "num"}, "12")`: an element with attributes and children (text or nodes). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const $ = (id) => document.getElementById(id);

/** Panel `id` is waiting for data (or done). */
export function busy(id, on) {
  const panel = $(id);
  panel.classList.toggle("loading", on);
  panel.setAttribute("aria-busy", on ? "true" : "false");
}

export function note(id, text) {
  const el = $(id).querySelector(".note");
  if (el) el.textContent = text || "";
}

/** Replace a panel's content (its table or chart) with one message. */
export function panelMessage(id, text, kind = "info") {
  const panel = $(id);
  const target = panel.querySelector(".body") || panel.querySelector(".chart");
  target.replaceChildren(h("p", { class: `message ${kind}` }, text));
}

/** A note about a list the API cut (rank order, 64 KiB cap), in the API's own words. */
export function cutNote(section, noun) {
  if (!section || section.shown == null || section.total == null || num(section.shown) >= num(section.total)) return "";
  const why = section.reason ? `: ${section.reason}` : " (the answer passed its size ceiling; narrow the range or the project).";
  return `Showing ${exact(section.shown)} of ${exact(section.total)} ${noun}${why}`;
}

/** An exact number cell, with the API's text in data-value for checks. */
const numCell = (v, text = exact(v)) => h("td", { class: "num", "data-value": v == null ? "" : String(v) }, text);

/** A table of `rows`; `limit` rows first, then a button to show the rest. */
export function table(id, columns, rows, limit = rows.length) {
  const body = $(id).querySelector(".body");
  const draw = (n) => {
    const head = h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : "", scope: "col" }, c.title)));
    const lines = rows.slice(0, n).map((r) => h("tr", {}, columns.map((c) => c.cell(r))));
    const parts = [h("div", { class: "scroll" }, h("table", {}, h("thead", {}, head), h("tbody", {}, lines)))];
    if (rows.length > n) {
      const more = h("button", { type: "button", class: "link more" }, `Show all ${rows.length} rows`);
      more.addEventListener("click", () => draw(rows.length));
      parts.push(more);
    }
    body.replaceChildren(...parts);
  };
  draw(limit);
}

const nameCell = (name, id) => h("td", {}, h("span", { class: "name" }, name || id), h("span", { class: "id" }, id));
const kindBadge = (isKey) =>
  h("td", {}, h("span", { class: isKey ? "badge key" : "badge human" }, isKey ? "API key" : "Human"));

export function models(rows) {
  table("p-models", [
    { title: "Model", cell: (r) => nameCell(r.modelName, r.modelId) },
    { title: "CU", num: true, cell: (r) => numCell(r.totalCU) },
    { title: "Jobs", num: true, cell: (r) => numCell(r.totalJobs) },
    { title: "CU / job", num: true, cell: (r) => h("td", { class: "num" }, num(r.totalJobs) ? rounded(num(r.totalCU) / num(r.totalJobs)) : "—") },
    { title: "API-key share", num: true, cell: (r) => h("td", { class: "num" }, percent(r.totalApiKeyCU, r.totalCU)) },
    { title: "Discount", num: true, cell: (r) => numCell(r.totalDiscountCU) },
  ], rows, 10);
}

export function consumers(rows) {
  table("p-consumers", [
    { title: "Consumer", cell: (r) => nameCell(r.name, r.userId) },
    { title: "Kind", cell: (r) => kindBadge(r.isApiKey) },
    { title: "CU", num: true, cell: (r) => numCell(r.value) },
    { title: "Discount", num: true, cell: (r) => numCell(r.discount) },
    { title: "Before discount", num: true, cell: (r) => numCell(r.total) },
  ], rows, 10);
  const humans = exactSum(rows.filter((r) => !r.isApiKey).map((r) => r.value));
  const keys = exactSum(rows.filter((r) => r.isApiKey).map((r) => r.value));
  const all = num(humans) + num(keys);
  const bar = h("div", { class: "bar", "aria-hidden": "true" }, h("span", { class: "human" }), h("span", { class: "key" }));
  if (all > 0) bar.firstChild.style.width = `${Math.max(0, Math.min(100, (100 * num(humans)) / all))}%`;
  const fig = (v) => {
    const el = h("span", { "data-split": "" });
    headline(el, v, { unit: " CU" });
    return el;
  };
  $("p-consumers").querySelector(".split").replaceChildren(
    h("p", {},
      h("span", { class: "badge human" }, "Humans"), " ", fig(humans), ` (${percent(humans, all)}) · `,
      h("span", { class: "badge key" }, "API keys"), " ", fig(keys), ` (${percent(keys, all)})`),
    bar,
  );
}

export function usages(rows) {
  table("p-usages", [
    { title: "Usage type", cell: (r) => h("td", {}, r.usageName) },
    { title: "Count", num: true, cell: (r) => numCell(r.count) },
    { title: "CU", num: true, cell: (r) => numCell(r.cu) },
    { title: "Discount", num: true, cell: (r) => numCell(r.discount) },
    { title: "API-key CU", num: true, cell: (r) => numCell(r.apiKeyCU) },
  ], rows);
}

export function assets(rows) {
  const top = Math.max(1, ...rows.map((r) => num(r.count)));
  table("p-assets", [
    { title: "Kind", cell: (r) => h("td", {}, r.kind) },
    { title: "Assets", num: true, cell: (r) => numCell(r.count) },
    { title: "Via API key", num: true, cell: (r) => numCell(r.countApiKey) },
    {
      title: "",
      cell: (r) => {
        const bar = h("span", { class: "meter" });
        bar.style.width = `${(100 * num(r.count)) / top}%`;
        return h("td", { class: "meter-cell", "aria-hidden": "true" }, bar);
      },
    },
  ], rows);
}

/** One page of activity; `names` maps ids to names (from include=entities). */
export function activity(rows, names, timeZone) {
  const label = (id) => (id ? names[id] || id : "—");
  table("p-activity", [
    { title: `Time (${timeZone})`, cell: (r) => h("td", { class: "nowrap" }, localTime(r.time, timeZone)) },
    { title: "User", cell: (r) => h("td", {}, label(r.userId), r.isApiKey ? h("span", { class: "badge key" }, "API key") : null) },
    { title: "Project", cell: (r) => h("td", {}, label(r.projectId)) },
    { title: "Action", cell: (r) => h("td", {}, r.action) },
    { title: "CU", num: true, cell: (r) => numCell(r.creativeUnitsCost) },
    { title: "Model", cell: (r) => h("td", {}, label(r.modelId)) },
  ], rows, 25);
}

/** A headline figure: rounded for the eye (`text`, then `unit`), the API's exact text in its title
 *  (on hover, with `titleUnit`) and in data-value (for checks). */
export function headline(el, v, { unit = "", titleUnit = unit, text = forEye(v) } = {}) {
  el.dataset.value = v == null ? "" : String(v);
  el.textContent = `${text}${v == null ? "" : unit}`;
  if (v == null) el.removeAttribute("title");
  else el.title = `${exact(v)}${titleUnit}`;
  el.classList.add("fig");
}

const COUNTS = new Set(["jobs", "assets", "users", "models"]);

/** Headline cards from `totals`: every figure rounded for the eye, exact on hover. The change is
 *  greyed, without an arrow, when the previous period is only partly covered by the data
 *  (`previousPeriod.partial`): a change against part of a period is not a trend. */
export function totals(t, previousLabel) {
  for (const el of document.querySelectorAll("[data-total]")) {
    const field = el.dataset.total;
    if (field === "changePct") continue;
    headline(el, t[field], { titleUnit: COUNTS.has(field) ? "" : " CU" });
  }
  const prev = t.previousPeriod;
  const change = document.querySelector('[data-total="changePct"]');
  const pct = prev.changePct;
  const partial = prev.partial === true;
  const from = partial && prev.dataFrom ? pretty(localDate(prev.dataFrom, t.window.timezone)) : "";
  const sign = num(pct) > 0 ? (partial ? "+" : "▲ +") : num(pct) < 0 && !partial ? "▼ " : "";
  headline(change, pct, { unit: "%", text: pct == null ? "—" : `${sign}${rounded(num(pct), 1)}` });
  const trend = pct == null || partial ? "" : num(pct) > 0 ? "up" : num(pct) < 0 ? "down" : "";
  change.className = `big fig ${partial ? "partial" : trend}`;
  const previous = $("previous");
  previous.dataset.partial = String(partial);
  const fromNote = from ? ` (data from ${from})` : "";
  if (partial && pct != null) {
    change.title = `${exact(pct)}% against ${exact(prev.totalCU)} CU in ${previousLabel}, but the data starts on ` +
      `${from}: only part of that period has data, so this is not a trend.`;
  }
  if (pct == null) {
    previous.removeAttribute("title");
    previous.textContent = partial
      ? `no usage in the partial previous period (${previousLabel}${from ? `; data from ${from}` : ""})`
      : `no usage in the previous period (${previousLabel})`;
    return;
  }
  const figure = h("span", {});
  headline(figure, prev.totalCU, { unit: " CU" });
  if (partial) {
    previous.replaceChildren("vs ", figure, ` in a partial previous period${fromNote}`);
    previous.title = `The previous period is ${previousLabel}; the data starts on ${from || "a later day"}.`;
    return;
  }
  previous.removeAttribute("title");
  previous.replaceChildren("vs ", figure, ` in ${previousLabel}`);
}
