// The filters: read from the query string or the controls, made valid, shown, written back.
// A filter set `f` is {team, project, range, start, end, tz}; dates are YYYY-MM-DD (in the URL
// too), shown in the From/To fields as the page writes dates ("6 Nov 2026").

import { queryString } from "./api.js";
import { COMMON_ZONES, PRESETS, browserZone, isDate, parseDate, presetRange, pretty, timeZones } from "./dates.js";

const $ = (id) => document.getElementById(id);

export function fromURL() {
  const p = new URLSearchParams(location.search);
  const custom = isDate(p.get("start_date")) && isDate(p.get("end_date"));
  const range = p.get("range") in PRESETS ? p.get("range") : custom ? "custom" : "last-31";
  return {
    team: p.get("team_id") || "",
    project: p.get("project_id") || "",
    range,
    start: p.get("start_date") || "",
    end: p.get("end_date") || "",
    tz: p.get("timezone") || browserZone(),
  };
}

/** The controls' values; `changed` is the id of the control the user just changed. A date field
 *  that does not read as a date keeps `current`'s date. */
export function fromControls(changed, current) {
  const f = {
    team: $("f-team").value,
    project: changed === "f-team" ? "" : $("f-project").value,
    range: $("f-range").value,
    start: parseDate($("f-start").value) || current?.start || "",
    end: parseDate($("f-end").value) || current?.end || "",
    tz: $("f-tz").value,
  };
  if (changed === "f-start" || changed === "f-end") f.range = "custom";
  return f;
}

/** `f` made valid against the teams the key can see, with the dates of its preset. */
export function settle(f, teams) {
  const team = teams.find((t) => t.id === f.team) || teams[0];
  let project = team.projects.some((p) => p.id === f.project) ? f.project : "";
  if (!project && pinned(team)) project = team.projects[0].id;
  let { range, start, end } = f;
  if (range === "custom" && !(isDate(start) && isDate(end))) range = "last-31";
  if (range !== "custom") [start, end] = presetRange(range, f.tz);
  return { team: team.id, project, range, start, end, tz: f.tz };
}

/** A key that sees one project of `team` only (a project key): its view is that project's, so the
 *  page asks for it by name (the answer's `scope.mode` is then "project"). */
export function pinned(team) {
  return team.projects.length === 1 && team.context?.userRole === "key";
}

/** Write `f` into the address bar (a new history entry with `push`). Never a key. */
export function toURL(f, push) {
  const params = { team_id: f.team, project_id: f.project, range: f.range, timezone: f.tz };
  if (f.range === "custom") Object.assign(params, { start_date: f.start, end_date: f.end });
  const url = `${location.pathname}?${queryString(params)}`;
  if (url !== location.pathname + location.search) history[push ? "pushState" : "replaceState"](null, "", url);
}

function options(select, items, value) {
  select.replaceChildren(...items.map(([v, label]) => new Option(label, v, false, v === value)));
  select.value = value;
}

/** The timezone picker: the browser's zone first, then common zones, then every other zone
 *  (A–Z); a zone this browser does not know (from the URL) stays at the top, as asked. */
function zoneOptions(select, value) {
  const mine = browserZone();
  const all = timeZones();
  const common = COMMON_ZONES.filter((z) => z !== mine && all.includes(z));
  const first = new Set([mine, ...common]);
  const group = (label, zones) => {
    const g = document.createElement("optgroup");
    g.label = label;
    g.append(...zones.map((z) => new Option(z, z, false, z === value)));
    return g;
  };
  const groups = [];
  if (!all.includes(value)) groups.push(group("Asked", [value]));
  groups.push(group("This browser", [mine]), group("Common", common), group("All zones", all.filter((z) => !first.has(z))));
  select.replaceChildren(...groups);
  select.value = value;
}

export function showControls(f, teams) {
  const team = teams.find((t) => t.id === f.team);
  options($("f-team"), teams.map((t) => [t.id, t.name || t.id]), f.team);
  const projects = team.projects.map((p) => [p.id, p.name || p.id]);
  options($("f-project"), pinned(team) ? projects : [["", "All projects"], ...projects], f.project);
  options($("f-range"), Object.entries(PRESETS), f.range);
  zoneOptions($("f-tz"), f.tz);
  for (const [id, date] of [["f-start", f.start], ["f-end", f.end]]) {
    $(id).value = pretty(date);
    $(`${id}-pick`).value = date;
    markDate($(id), true);
  }
}

/** A From/To field the user left: false (and marked invalid) when it does not read as a date;
 *  else true, its text written the page's way ("2026-11-06" becomes "6 Nov 2026"). */
export function checkDate(input) {
  const date = parseDate(input.value);
  markDate(input, Boolean(date));
  if (date) input.value = pretty(date);
  return Boolean(date);
}

function markDate(input, ok) {
  input.setCustomValidity(ok ? "" : "Type a date such as 6 Nov 2026 or 2026-11-06");
  if (ok) input.removeAttribute("aria-invalid");
  else input.setAttribute("aria-invalid", "true");
}

/** The calendar button of a date field: the browser's own date picker, its choice written back
 *  into the field (the picker's change event then reaches the form). */
export function openPicker(id) {
  const picker = $(`${id}-pick`);
  picker.value = parseDate($(id).value) || picker.value;
  try {
    picker.showPicker();
  } catch {
    $(id).focus(); // no picker here (an old browser): type the date
  }
}
