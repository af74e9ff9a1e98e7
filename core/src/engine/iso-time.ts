/**
 * `new Date(ms).toISOString()` for the audit event's `time`, which every decision writes. Formatting
 * a date costs more than building the rest of the event, and consecutive decisions mostly fall in
 * the same second: the text up to the seconds is kept from the last call and only the milliseconds
 * are appended. A value Date refuses (NaN, out of range) still throws its RangeError.
 */
let cachedSecond = Number.NaN;
let cachedPrefix = '';

export function isoTime(ms: number): string {
  // Date keeps the time value truncated to an integer (TimeClip); the second is floored, so the
  // millisecond part of a time before 1970 is still 0–999, as toISOString writes it.
  const t = Math.trunc(ms);
  const second = Math.floor(t / 1000);
  if (second !== cachedSecond) {
    const full = new Date(t).toISOString();
    cachedPrefix = full.slice(0, -4); // everything before "sssZ"
    cachedSecond = second;
    return full;
  }
  const milli = t - second * 1000;
  return `${cachedPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}
