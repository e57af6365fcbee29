// The dashboard's only way out: same-origin requests to the public REST API.
//
// Numbers are kept exactly as the server wrote them: every JSON number becomes a `Dec`
// holding both the parsed value (for charts and sorting) and the source text (for what the
// page shows and what the CSV files contain), so "170945.89175" is never re-printed from a
// binary float.

const KEY_SLOT = "usagelens.key";

/** A JSON number: `n` is the value, `s` the exact text the server sent. */
export class Dec {
  constructor(n, s) {
    this.n = n;
    this.s = s;
  }
  valueOf() {
    return this.n;
  }
  toString() {
    return this.s;
  }
}

/** The number in `v` (a Dec, a plain number or null). */
export const num = (v) => (v instanceof Dec ? v.n : v == null ? 0 : Number(v));

/** Parse JSON keeping each number's source text (falls back to the shortest float text). */
export function parseExact(text) {
  return JSON.parse(text, (_key, value, context) => {
    if (typeof value !== "number") return value;
    const source = context && typeof context.source === "string" ? context.source : String(value);
    return new Dec(value, source);
  });
}

/** A failed call: `status` 0 means the server could not be reached. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

export const key = {
  get: () => sessionStorage.getItem(KEY_SLOT),
  set: (value) => sessionStorage.setItem(KEY_SLOT, value),
  clear: () => sessionStorage.removeItem(KEY_SLOT),
};

/** `params` as a query string; array values repeat the parameter (include=a&include=b). */
export function queryString(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value == null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) q.append(name, String(v));
  }
  return q.toString();
}

/** GET a same-origin API path; resolves to the parsed body or throws an ApiError. */
export async function getJSON(path, params = {}, signal = undefined) {
  const headers = { Accept: "application/json" };
  const secret = key.get();
  if (secret) headers.Authorization = `Bearer ${secret}`;
  const qs = queryString(params);
  let response;
  try {
    // credentials "omit": no cookies, and no browser login prompt when the server answers 401
    response = await fetch(qs ? `${path}?${qs}` : path, { headers, signal, credentials: "omit" });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "The usagelens server could not be reached; is `usagelens serve` running?");
  }
  const text = await response.text();
  if (response.ok) return parseExact(text);
  let error = {};
  try {
    error = JSON.parse(text).error || {};
  } catch {
    // not our JSON error shape: keep the status line
  }
  const message = error.message || `The server answered ${response.status} ${response.statusText}.`;
  throw new ApiError(response.status, error.code || "error", message, error.field);
}
