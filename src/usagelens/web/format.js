// Showing numbers exactly as the API sent them, exact decimal sums, and CSV files.

import { Dec, num } from "./api.js";

const PLAIN = /^(-?)(\d+)(?:\.(\d+))?$/;

/** The API's text of `v`, with thousands separators ("170945.89175" → "170,945.89175"). */
export function exact(v) {
  if (v == null) return "—";
  const s = v instanceof Dec ? v.s : String(v);
  const m = PLAIN.exec(s);
  if (!m) return s; // exponent form: show as sent
  const grouped = m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${m[1]}${grouped}${m[3] ? `.${m[3]}` : ""}`;
}

/** A rounded number for derived values (CU per job, shares): `digits` decimals, grouped. */
export function rounded(x, digits = 2) {
  if (x == null || !Number.isFinite(x)) return "—";
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A figure rounded for the eye: whole units from 100 up, else 2 decimals (the exact text goes in
 *  a title). Integers (counts) keep every digit. */
export function forEye(v) {
  const x = num(v);
  if (v == null || !Number.isFinite(x)) return "—";
  return rounded(x, Math.abs(x) >= 100 || Number.isInteger(x) ? 0 : 2);
}

export function percent(part, whole) {
  const w = num(whole);
  return w ? `${rounded((100 * num(part)) / w, 1)}%` : "—";
}

/** The exact sum of decimal values (Dec or text), as text: no float rounding. */
export function exactSum(values) {
  let scale = 0;
  const terms = [];
  for (const v of values) {
    const m = PLAIN.exec(v instanceof Dec ? v.s : String(v ?? 0));
    if (!m) {
      const approx = values.reduce((a, b) => a + num(b), 0); // exponent form: cannot be exact
      return new Dec(approx, String(approx));
    }
    const frac = m[3] || "";
    scale = Math.max(scale, frac.length);
    terms.push([m[1], m[2], frac]);
  }
  let total = 0n;
  for (const [sign, int, frac] of terms) {
    const digits = BigInt(int + frac.padEnd(scale, "0"));
    total += sign ? -digits : digits;
  }
  const neg = total < 0n;
  let text = (neg ? -total : total).toString().padStart(scale + 1, "0");
  if (scale) text = `${text.slice(0, -scale)}.${text.slice(-scale)}`.replace(/\.?0+$/, "");
  text = (neg && text !== "0" ? "-" : "") + text;
  return new Dec(Number(text), text);
}

function cell(v) {
  if (v == null) return "";
  if (v instanceof Dec) return v.s; // the API's digits, untouched
  if (typeof v === "boolean") return v ? "true" : "false";
  let s = String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`; // never a formula in a spreadsheet
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV of `rows` with the given column names (the API's field names). */
export function toCSV(columns, rows) {
  const lines = [columns.join(",")];
  for (const row of rows) lines.push(columns.map((c) => cell(row[c])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

/** Let the browser save `text` as `filename` (a same-origin blob, nothing leaves the page). */
export function download(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
