// The dashboard: filters in the query string, one `GET v1/usage` per section, in parallel.
//
// body[data-state] is "loading", "ready", "empty", "error" or "auth" (waiting for a key);
// body[data-query] is the query string of the API calls on screen.

import { ApiError, getJSON, key, num, queryString } from "./api.js";
import * as budgets from "./budgets.js";
import { clearChart, drawChart } from "./charts.js";
import * as daily from "./daily.js";
import { addDays, chunks, dayList, daysBetween, localDate, pretty } from "./dates.js";
import { checkDate, fromControls, fromURL, openPicker, pinned, settle, showControls, toURL } from "./filters.js";
import { download, toCSV } from "./format.js";
import * as view from "./render.js";

const $ = (id) => document.getElementById(id);
const PANELS = ["p-burndown", "p-usage-daily", "p-model-daily", "p-models", "p-consumers", "p-usages", "p-assets", "p-activity"];
const DAILY_CHUNK = 31; // days per usages.daily call: keeps each answer small, whatever the range
const CHART_MODELS = 8; // lines in the per-model chart (the CSV has every model)
const CSV_FIELDS = {
  models: ["modelId", "modelName", "totalCU", "totalJobs", "totalApiKeyCU", "totalDiscountCU", "totalApiKeyDiscountCU"],
  consumers: ["userId", "name", "isApiKey", "value", "discount", "total"],
  usages: ["usageName", "count", "cu", "discount", "apiKeyCount", "apiKeyCU"],
  assets: ["kind", "count", "countApiKey"],
  activity: ["id", "time", "userId", "projectId", "action", "creativeUnitsCost", "modelId", "jobId", "assetId", "isApiKey"],
  "usage-daily": ["usageName", "time", "count", "cost", "discount", "apiKeyCost", "apiKeyDiscount"],
  "model-daily": ["modelId", "modelName", "time", "cost", "jobs", "discount", "apiKeyCost", "apiKeyDiscount"],
};

const state = { teams: [], f: null, gen: 0, controller: null, offset: 0, events: 0, csv: {} };

function setState(name) {
  document.body.dataset.state = name;
}

function apply(f, push) {
  state.f = settle(f, state.teams);
  showControls(state.f, state.teams);
  toURL(state.f, push);
  load();
}

// ---- messages ------------------------------------------------------------------------------

function banner(text) {
  $("banner").textContent = text || "";
  $("banner").hidden = !text;
}

function askForKey(reason) {
  $("keyform-reason").textContent = reason;
  $("keyform-box").hidden = false;
  $("dash").hidden = true;
  setState("auth");
  $("key-input").focus();
}

function showKeyStatus() {
  const has = Boolean(key.get());
  $("key-status").hidden = !has;
  $("key-forget").hidden = !has;
}

/** A failed call: 401 (no key, wrong key) and 403 (a key that cannot read) ask for a key;
 *  anything else shows the API's message. */
function fail(e) {
  for (const id of PANELS) view.busy(id, false);
  if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
    const had = key.get();
    key.clear();
    showKeyStatus();
    askForKey(had ? `That key was not accepted: ${e.message}` : e.message);
    return;
  }
  banner(e.message || String(e));
  $("dash").classList.add("stale");
  setState("error");
}

// ---- loading -------------------------------------------------------------------------------

function baseQuery(f) {
  return { team_id: f.team, project_id: f.project, start_date: f.start, end_date: f.end, timezone: f.tz };
}

const settled = (p) => {
  p.catch(() => {}); // reported where it is awaited
  return p;
};

async function load() {
  const gen = ++state.gen;
  state.controller?.abort();
  const controller = (state.controller = new AbortController());
  const f = state.f;
  const q = baseQuery(f);
  const get = (extra) => settled(getJSON("v1/usage", { ...q, ...extra }, controller.signal));
  document.body.dataset.query = queryString(q);
  setState("loading");
  banner("");
  state.offset = 0;
  state.csv = {};
  for (const id of PANELS) view.busy(id, true);
  const summary = get({ include: ["usages"] });
  const models = get({});
  const modelDaily = get({ include: ["modelUsages.daily"] });
  const daily = settled(
    Promise.all(chunks(f.start, f.end, DAILY_CHUNK).map(([s, e]) => get({ start_date: s, end_date: e, include: ["usages.daily"] }))),
  );
  const activity = get({ include: ["activity", "entities"] });
  let s;
  try {
    s = await summary;
  } catch (e) {
    if (gen === state.gen && e.name !== "AbortError") fail(e);
    return;
  }
  if (gen !== state.gen) return;
  const days = dayList(s.totals.startDate, s.totals.endDate);
  const partial = isPartial(s.totals);
  const budget = showSummary(s, f, partial);
  if (num(s.totals.users) === 0) {
    controller.abort();
    showEmpty(f, s);
    return;
  }
  const burn = budget && loadBurnDown(budget, get);
  const panel = (id, promise, draw) =>
    promise.then(
      (body) => gen === state.gen && (draw(body), view.busy(id, false)),
      (e) => gen === state.gen && e.name !== "AbortError" && (view.panelMessage(id, e.message, "error"), view.busy(id, false)),
    );
  await Promise.all([
    panel("p-models", models, (b) => showModels(b, f)),
    panel("p-model-daily", modelDaily, (b) => showModelDaily(b, days, f, partial)),
    panel("p-usage-daily", daily, (parts) => showUsageDaily(parts, s, days, f, partial)),
    panel("p-activity", activity, (b) => showActivity(b, f)),
    burn && panel("p-burndown", burn, (b) => showBurnDown(b, budget)),
  ]);
  if (gen === state.gen) setState("ready");
}

/** The window ends today, and today is not over: its last day is partial. */
function isPartial(t) {
  const now = Date.now();
  return localDate(now, t.window.timezone) === t.endDate && now < Date.parse(t.window.until);
}

function contextLine(f, partial) {
  const team = state.teams.find((t) => t.id === f.team);
  const project = f.project ? team.projects.find((p) => p.id === f.project) : null;
  const where = project ? `project ${project.name || project.id}` : "all projects";
  const today = partial ? " · today so far (partial)" : "";
  return `${team.name || team.id} · ${where} · ${pretty(f.start)} – ${pretty(f.end)}${today} · ${f.tz}`;
}

/** Which project(s) the answer is about, from its `scope`: shown when it is a project's view. */
function showScope(scope, f) {
  const el = $("scope");
  const ids = scope.mode === "project" ? scope.projectIds || [scope.contextProjectId].filter(Boolean) : [];
  el.hidden = !ids.length;
  el.dataset.projectIds = ids.join(",");
  if (!ids.length) return el.replaceChildren();
  const team = state.teams.find((t) => t.id === f.team);
  const name = (id) => team.projects.find((p) => p.id === id)?.name;
  const label = ids.map((id) => (name(id) ? `${name(id)} (${id})` : id)).join(", ");
  const only = pinned(team) ? " — this key reads this project only" : "";
  el.replaceChildren(
    view.h("span", { class: "badge project" }, ids.length > 1 ? "Projects" : "Project"),
    ` ${label}${only}`,
  );
}

function showSummary(s, f, partial) {
  $("keyform-box").hidden = true;
  $("dash").hidden = false;
  $("empty").hidden = true;
  $("dash").classList.remove("stale");
  document.body.classList.remove("is-empty");
  $("context").textContent = contextLine(f, partial);
  showScope(s.scope, f);
  const length = daysBetween(f.start, f.end) + 1;
  const prev = `${pretty(addDays(f.start, -length))} – ${pretty(addDays(f.start, -1))}`;
  view.totals(s.totals, prev);
  state.events = num(s.sections.activity?.events);
  keep("consumers", s.consumption, f);
  view.consumers(s.consumption);
  view.note("p-consumers", view.cutNote(s.sections.consumption, "consumers"));
  keep("usages", s.usages, f);
  view.usages(s.usages);
  keep("assets", s.assetUsages, f);
  view.assets(s.assetUsages);
  for (const id of ["p-consumers", "p-usages", "p-assets"]) view.busy(id, false);
  return showBudgets(s.budgets);
}

/** The budget cards; the first budget (its burn-down panel shown, waiting for its data) or null. */
function showBudgets(block) {
  const budget = budgets.show(block);
  $("p-burndown").hidden = !budget;
  if (!budget) {
    clearChart($("p-burndown").querySelector(".chart"));
    view.busy("p-burndown", false);
  }
  return budget;
}

/** The daily use of the budget's period so far, in the budget's zone (31-day pieces):
 *  {parts, last} with `last` the last day asked (today). */
function loadBurnDown(budget, get) {
  const w = budgets.soFar(budget);
  const part = ([s, e]) => get({ start_date: s, end_date: e, timezone: w.timezone, include: ["usages.daily"] });
  return settled(Promise.all(chunks(w.start, w.end, DAILY_CHUNK).map(part)).then((parts) => ({ parts, last: w.end })));
}

function showBurnDown({ parts, last }, budget) {
  const { list, cut } = daily.merge(parts, []);
  const shown = budgets.drawBurnDown($("p-burndown").querySelector(".chart"), budget, list, last);
  view.note("p-burndown", [shown, cut.length ? `Some days are incomplete. ${cut.join(" ")}` : ""].filter(Boolean).join(" "));
}

function showEmpty(f, s) {
  for (const id of PANELS) view.busy(id, false);
  document.body.classList.add("is-empty");
  $("empty-title").textContent = `No usage between ${pretty(f.start)} and ${pretty(f.end)}`;
  const team = state.teams.find((t) => t.id === f.team);
  const scope = f.project ? "this project" : team.name || team.id;
  $("empty-text").textContent = `Nothing was recorded for ${scope} in that range (${f.tz}). Pick a wider range, another project or another team.`;
  $("empty").hidden = false;
  $("empty").dataset.hint = s._hint || "";
  setState("empty");
}

function showModels(b, f) {
  keep("models", b.modelUsages, f);
  view.models(b.modelUsages);
  view.note("p-models", view.cutNote(b.sections.modelUsages, "models"));
  if (!b.modelUsages.length) view.panelMessage("p-models", "No model was used in this range.");
}

function showModelDaily(b, days, f, partial) {
  const list = b["modelUsages.daily"] || [];
  keep("model-daily", daily.longRows(list, (m) => ({ modelId: m.modelId, modelName: m.modelName })), f);
  const cut = view.cutNote(b.sections["modelUsages.daily"], "models");
  const shown = list.length > CHART_MODELS ? CHART_MODELS - 1 : list.length;
  const top = list.length > CHART_MODELS
    ? `Stacked: the ${shown} models with the most CU, the other ${list.length - shown} together (the CSV has every model).`
    : "";
  view.note("p-model-daily", [top, cut].filter(Boolean).join(" "));
  const el = $("p-model-daily").querySelector(".chart");
  clearChart(el);
  if (!list.length) return view.panelMessage("p-model-daily", "No model was used in this range.");
  const lines = daily.series(list.slice(0, shown), days, f.tz, (m) => m.modelName || m.modelId);
  if (list.length > shown) {
    const rest = daily.series(list.slice(shown), days, f.tz, () => "");
    const values = days.map((_d, i) => rest.reduce((a, r) => a + r.values[i], 0));
    lines.push({ label: `Other ${list.length - shown} models`, values, color: "#bab0ac" });
  }
  drawChart(el, "area", days, lines, { partial });
}

function showUsageDaily(parts, s, days, f, partial) {
  const { list, cut } = daily.merge(parts, s.usages.map((u) => u.usageName));
  keep("usage-daily", daily.longRows(list, (u) => ({ usageName: u.usageName })), f);
  view.note("p-usage-daily", cut.length ? `Some days are incomplete. ${cut.join(" ")}` : "");
  const el = $("p-usage-daily").querySelector(".chart");
  clearChart(el);
  if (!list.length) return view.panelMessage("p-usage-daily", "No daily usage to draw in this range.");
  drawChart(el, "stacked", days, daily.series(list, days, f.tz, (u) => u.usageName), { partial });
}

function showActivity(b, f) {
  const names = {};
  const e = b.entities || {};
  for (const u of e.users || []) names[u.id] = u.fullName || u.id;
  for (const m of e.models || []) names[m.id] = m.name || m.id;
  for (const p of e.projects || []) names[p.id] = p.name || p.id;
  keep("activity", b.activity, f, `-from-${num(b.activityPagination.offset)}`);
  view.activity(b.activity, names, f.tz);
  const page = b.activityPagination;
  const first = num(page.offset);
  const total = state.events ? ` of ${state.events.toLocaleString("en-US")}` : "";
  $("act-range").textContent = num(page.count) ? `events ${first + 1}–${first + num(page.count)}${total}` : "no events";
  $("act-newer").disabled = first === 0;
  $("act-older").disabled = page.nextOffset == null;
  state.offset = first;
}

async function loadActivity(offset) {
  const gen = state.gen;
  const f = state.f;
  view.busy("p-activity", true);
  setState("loading");
  try {
    const b = await getJSON("v1/usage", { ...baseQuery(f), include: ["activity", "entities"], activity_offset: offset });
    if (gen !== state.gen) return;
    showActivity(b, f);
    setState("ready");
  } catch (e) {
    if (gen === state.gen) fail(e);
  } finally {
    if (gen === state.gen) view.busy("p-activity", false);
  }
}

// ---- CSV -----------------------------------------------------------------------------------

function keep(name, rows, f, suffix = "") {
  const project = f.project ? `-${f.project}` : "";
  state.csv[name] = { rows, filename: `usagelens-${name}-${f.team}${project}-${f.start}-${f.end}${suffix}.csv` };
}

function saveCSV(name) {
  const data = state.csv[name];
  if (data) download(data.filename, toCSV(CSV_FIELDS[name], data.rows));
}

// ---- start ---------------------------------------------------------------------------------

async function loadTeams() {
  setState("loading");
  showKeyStatus();
  let body;
  try {
    body = await getJSON("v1/teams");
  } catch (e) {
    return fail(e);
  }
  state.teams = body.teams;
  if (!state.teams.length) {
    $("empty-title").textContent = "This store has no teams yet";
    $("empty-text").textContent = "Load data with `usagelens demo` or `usagelens ingest`, then reload this page.";
    $("empty").hidden = false;
    document.body.classList.add("is-empty");
    return setState("empty");
  }
  $("keyform-box").hidden = true;
  $("dash").hidden = false;
  apply(fromURL(), false);
}

/** A filter control the user changed: a date typed (checked first, then shown the page's way),
 *  a date picked from the calendar, or a picker. */
function changed(el) {
  let id = el.id;
  if (id.endsWith("-pick")) {
    if (!el.value) return;
    id = id.slice(0, -"-pick".length);
    $(id).value = el.value;
  }
  if ((id === "f-start" || id === "f-end") && !checkDate($(id))) return;
  const f = fromControls(id, state.f);
  if (state.f && ["team", "project", "range", "start", "end", "tz"].every((k) => f[k] === state.f[k])) return;
  apply(f, true);
}

function bind() {
  $("filters").addEventListener("change", (ev) => changed(ev.target));
  $("filters").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && ev.target.matches("#f-start, #f-end")) changed(ev.target);
  });
  $("filters").addEventListener("click", (ev) => {
    const button = ev.target.closest("button.pick");
    if (button) openPicker(button.dataset.for);
  });
  $("filters").addEventListener("submit", (ev) => ev.preventDefault());
  window.addEventListener("popstate", () => state.teams.length && apply(fromURL(), false));
  $("keyform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("key-input").value.trim();
    $("key-input").value = "";
    if (!value) return;
    key.set(value);
    banner("");
    loadTeams();
  });
  $("key-forget").addEventListener("click", () => {
    key.clear();
    location.reload();
  });
  $("act-older").addEventListener("click", () => loadActivity(state.offset + 100));
  $("act-newer").addEventListener("click", () => loadActivity(Math.max(0, state.offset - 100)));
  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("button.csv");
    if (button) saveCSV(button.dataset.csv);
  });
}

bind();
loadTeams();
