// Daily series from the API's answers: "usages.daily" asked in pieces of the window and put
// back together, and one value per day of the window for the charts (zero days are 0).

import { num } from "./api.js";
import { localDate } from "./dates.js";
import { cutNote } from "./render.js";

/** The "usages.daily" of several answers (consecutive pieces of one window) as one list, in
 *  `order` (usage names by CU, from the "usages" expansion); `cut` says what the API left out. */
export function merge(parts, order) {
  const byName = new Map();
  const cut = new Set();
  for (const part of parts) {
    for (const item of part["usages.daily"] || []) {
      if (!byName.has(item.usageName)) byName.set(item.usageName, { usageName: item.usageName, points: [] });
      byName.get(item.usageName).points.push(...item.points);
    }
    const note = cutNote(part.sections["usages.daily"], "usage types");
    if (note) cut.add(note);
  }
  const rank = (name) => (order.includes(name) ? order.indexOf(name) : order.length);
  const list = [...byName.values()].sort((a, b) => rank(a.usageName) - rank(b.usageName));
  return { list, cut: [...cut] };
}

/** One series per item: its points' `cost` on the day (in `timeZone`) each point starts. */
export function series(list, days, timeZone, label) {
  const index = new Map(days.map((d, i) => [d, i]));
  return list.map((item) => {
    const values = new Array(days.length).fill(0);
    for (const p of item.points) {
      const i = index.get(localDate(p.time, timeZone));
      if (i !== undefined) values[i] += num(p.cost);
    }
    return { label: label(item), values };
  });
}

/** The points as CSV rows: the item's identity (`head`) then every field of the point. */
export function longRows(list, head) {
  return list.flatMap((item) => item.points.map((p) => ({ ...head(item), ...p })));
}
