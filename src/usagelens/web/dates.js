// Calendar dates (YYYY-MM-DD strings) in a chosen IANA timezone: range presets, day lists.

export const PRESETS = {
  "last-7": "Last 7 days",
  "last-31": "Last 31 days",
  "last-90": "Last 90 days",
  "this-month": "This month",
  "last-month": "Last month",
  custom: "Custom",
};

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export const isDate = (s) => typeof s === "string" && ISO_DATE.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`));

/** `timeZone` when this browser knows it, else UTC (the server still gets, and judges, the name). */
export function knownZone(timeZone) {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return timeZone;
  } catch {
    return "UTC";
  }
}

function parts(instant, zone, withTime) {
  const options = { timeZone: knownZone(zone), year: "numeric", month: "2-digit", day: "2-digit", hourCycle: "h23" };
  if (withTime) Object.assign(options, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const out = {};
  for (const p of new Intl.DateTimeFormat("en-US", options).formatToParts(instant)) out[p.type] = p.value;
  return out;
}

/** The date of `instant` (a Date or ISO string) in `timeZone`. */
export function localDate(instant, timeZone) {
  const p = parts(new Date(instant), timeZone, false);
  return `${p.year}-${p.month}-${p.day}`;
}

/** "2026-04-30 18:05:09" for an ISO instant, in `timeZone`. */
export function localTime(instant, timeZone) {
  const p = parts(new Date(instant), timeZone, true);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

export function addDays(date, n) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

export const daysBetween = (a, b) => Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 864e5);

const monthStart = (date) => `${date.slice(0, 8)}01`;

/** [start, end] (inclusive dates) of a preset, "today" being `now` in `timeZone`. */
export function presetRange(preset, timeZone, now = new Date()) {
  const today = localDate(now, timeZone);
  switch (preset) {
    case "last-7":
      return [addDays(today, -6), today];
    case "last-90":
      return [addDays(today, -89), today];
    case "this-month":
      return [monthStart(today), today];
    case "last-month": {
      const end = addDays(monthStart(today), -1);
      return [monthStart(end), end];
    }
    default:
      return [addDays(today, -30), today];
  }
}

/** Every date from `start` to `end`, inclusive (empty when end is before start). */
export function dayList(start, end) {
  const out = [];
  for (let d = start; d <= end && out.length < 1000; d = addDays(d, 1)) out.push(d);
  return out;
}

/** The window cut into consecutive pieces of at most `size` days. */
export function chunks(start, end, size) {
  const out = [];
  for (let s = start; s <= end; s = addDays(s, size)) {
    const e = addDays(s, size - 1);
    out.push([s, e < end ? e : end]);
  }
  return out;
}

/** "3 Mar 2026" (or "3 Mar" with `short`). */
export function pretty(date, short = false) {
  const [y, m, d] = date.split("-");
  return short ? `${Number(d)} ${MONTHS[Number(m) - 1]}` : `${Number(d)} ${MONTHS[Number(m) - 1]} ${y}`;
}

/** The date a person typed, as YYYY-MM-DD, or "" when it is not one: "6 Nov 2026" (the page's own
 *  format; full month names, any case, a comma or a dot are fine), "Nov 6, 2026" or "2026-11-06". */
export function parseDate(text) {
  const s = String(text || "").trim().toLowerCase().replace(/[,.]/g, " ").replace(/\s+/g, " ");
  let y, m, d;
  let match = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(s);
  if (match) [, y, m, d] = match.map(Number);
  else if ((match = /^(\d{1,2}) ([a-z]+) (\d{4})$/.exec(s))) [y, m, d] = [Number(match[3]), month(match[2]), Number(match[1])];
  else if ((match = /^([a-z]+) (\d{1,2}) (\d{4})$/.exec(s))) [y, m, d] = [Number(match[3]), month(match[1]), Number(match[2])];
  else return "";
  if (!m || y < 1000) return "";
  const iso = new Date(Date.UTC(y, m - 1, d)).toISOString().slice(0, 10);
  const want = `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
  return iso === want ? iso : ""; // no 31 Feb
}

/** 1–12 for "nov" or "november", else 0. */
function month(name) {
  const i = MONTHS.findIndex((m) => name.length >= 3 && m.toLowerCase() === name.slice(0, 3));
  const full = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december"][i];
  return i >= 0 && (name.length === 3 || full.startsWith(name) || (i === 8 && name === "sept")) ? i + 1 : 0;
}

/** Zones many teams work in, offered right after the browser's own. */
export const COMMON_ZONES = [
  "UTC", "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York", "America/Sao_Paulo",
  "Europe/London", "Europe/Paris", "Europe/Berlin", "Asia/Kolkata", "Asia/Singapore", "Asia/Shanghai",
  "Asia/Tokyo", "Australia/Sydney",
];

/** The IANA zones this browser knows, UTC and the browser's own included. */
export function timeZones() {
  const zones = new Set(typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : []);
  zones.add("UTC");
  zones.add(browserZone());
  return [...zones].sort();
}

export function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}
