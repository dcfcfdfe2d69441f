/**
 * One number formatting rule for the whole dashboard (cards, chart legends and byte axes), so values of the
 * same kind always look alike:
 *
 * - bytes (`B`, `B/s`): SI prefixes in steps of 1000 (`693 kB`, `441 MB`, `1.21 GB/s`) with SIG significant
 *   digits; below 1000 a whole number of bytes (`512 B`);
 * - integer fields (catalogue kind `int`): the whole number (`1234`), SI prefix from a million (`1.23 M`);
 * - everything else: SIG significant digits (`1.00` next to `0.600`, `23.4 °C`), never rounding away integer
 *   digits (`101453 Pa`), SI prefix from a million; degrees (`°`: latitude, longitude, course) keep
 *   DEGREE_DECIMALS decimals;
 * - `ns` values past 1e17 are epoch times, shown as UTC time of day.
 */

export const SIG = 3; // significant digits: enough to read a trend on a card, few enough to scan a grid
export const DEGREE_DECIMALS = 5; // 1e-5 degree is 1 m on the ground; 3 significant digits would be 10 km
const SI = ["", "k", "M", "G", "T", "P", "E"];
const BYTE_UNITS = new Set(["B", "B/s"]);
const EPOCH_NS = 1e17; // larger ns values are times since 1970 (3 years in ns is 1e17), not durations

function withUnit(text, unit) {
  return unit ? `${text} ${unit}` : text;
}

/** `v` rounded to `sig` significant digits, as text without exponent for |v| >= 0.001. */
export function significant(v, sig = SIG) {
  if (v === 0) return (0).toFixed(sig - 1);
  const rounded = Number(v.toPrecision(sig));
  const mag = Math.floor(Math.log10(Math.abs(rounded)));
  if (mag < -3) return rounded.toPrecision(sig); // 1.23e-5: tiny values keep their exponent
  return rounded.toFixed(Math.max(0, sig - 1 - mag));
}

/** `v` scaled by powers of 1000 with an SI prefix: [text, prefix], the text with SIG significant digits. */
function scaled(v) {
  let exp = Math.min(Math.floor(Math.log10(Math.abs(v)) / 3), SI.length - 1);
  let x = v / 1000 ** exp;
  if (Math.abs(Number(x.toPrecision(SIG))) >= 1000 && exp < SI.length - 1) {
    exp += 1; // 999.7 kB rounds to 1.00 MB, not 1000 kB
    x = v / 1000 ** exp;
  }
  return [significant(x), SI[exp]];
}

/**
 * Text of a reading's value.
 * @param {*} v the value (number, boolean, string, null).
 * @param {string} [unit] the field's unit ("" for none).
 * @param {string} [kind] the field's catalogue kind (`float`, `int`, `bool`, `str`).
 */
export function formatValue(v, unit = "", kind = "float") {
  if (v == null) return "–";
  if (typeof v === "boolean") return v ? "on" : "off";
  if (typeof v !== "number") return String(v);
  if (!Number.isFinite(v)) return withUnit(String(v), unit);
  const a = Math.abs(v);
  if (unit === "ns" && a > EPOCH_NS) return `${new Date(v / 1e6).toISOString().slice(11, 19)} UTC`;
  if (BYTE_UNITS.has(unit)) {
    if (a < 999.5) return `${Math.round(v)} ${unit}`;
    const [text, prefix] = scaled(v);
    return `${text} ${prefix}${unit}`;
  }
  if (a >= 1e6) {
    const [text, prefix] = scaled(v);
    return `${text} ${prefix}${unit}`.trimEnd();
  }
  if (kind === "int") return withUnit(String(Math.round(v)), unit);
  if (unit === "°") return withUnit(v.toFixed(DEGREE_DECIMALS), unit);
  if (a >= 10 ** (SIG - 1)) return withUnit(v.toFixed(0), unit);
  return withUnit(significant(v), unit);
}

/** Decimals that write every multiple of `step` exactly (0.25 -> 2, 5 -> 0), at most 10. */
function stepDecimals(step) {
  let d = 0;
  while (d < 10 && Math.abs(step * 10 ** d - Math.round(step * 10 ** d)) > 1e-6) d += 1;
  return d;
}

/**
 * Tick labels of a chart's value axis, by the same rule as formatValue: byte axes scaled by 1000 with the
 * prefix and unit (`24.50 GB`), SI prefixes from a million, and on every axis as many decimals as the tick
 * step needs, so neighbouring ticks never read the same (`52.2058`, `52.2060`).
 * @param {number[]} splits tick values, evenly spaced (uPlot's `splits`).
 * @param {string} [unit] the field's unit.
 */
export function formatTicks(splits, unit = "") {
  const finite = splits.filter((v) => Number.isFinite(v));
  if (!finite.length) return splits.map(() => "");
  const max = Math.max(...finite.map(Math.abs));
  const bytes = BYTE_UNITS.has(unit);
  const exp = (bytes && max >= 1000) || max >= 1e6 ? Math.min(Math.floor(Math.log10(max) / 3), SI.length - 1) : 0;
  const div = 1000 ** exp;
  const step = finite.length > 1 ? Math.abs(finite[1] - finite[0]) / div : 0;
  const d = stepDecimals(step);
  const suffix = exp || bytes ? ` ${SI[exp]}${unit}` : ""; // other units are in the chart's title
  return splits.map((v) => (Number.isFinite(v) ? `${(v / div).toFixed(d)}${suffix}` : ""));
}
