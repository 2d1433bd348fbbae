// Calendar days as plain {y, m, d} (no time zone), and German formatting of instants in Europe/Berlin.

export const BERLIN = "Europe/Berlin";

function utc(day) {
  return new Date(Date.UTC(day.y, day.m - 1, day.d));
}

function fromUtc(date) {
  return { y: date.getUTCFullYear(), m: date.getUTCMonth() + 1, d: date.getUTCDate() };
}

/** "2026-06-01" → {y: 2026, m: 6, d: 1}, or null when not a real day. */
export function parseDay(text) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || "");
  if (!match) return null;
  const day = { y: Number(match[1]), m: Number(match[2]), d: Number(match[3]) };
  const back = fromUtc(utc(day));
  return back.y === day.y && back.m === day.m && back.d === day.d ? day : null;
}

export function dayString(day) {
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(day.y, 4)}-${pad(day.m)}-${pad(day.d)}`;
}

export function addDays(day, n) {
  const date = utc(day);
  date.setUTCDate(date.getUTCDate() + n);
  return fromUtc(date);
}

/** The first of the month n months away from day's month. */
export function addMonths(day, n) {
  const index = day.y * 12 + (day.m - 1) + n;
  return { y: Math.floor(index / 12), m: (index % 12) + 1, d: 1 };
}

/** 0 = Monday … 6 = Sunday */
export function weekday(day) {
  return (utc(day).getUTCDay() + 6) % 7;
}

export function compareDays(a, b) {
  return dayString(a).localeCompare(dayString(b));
}

/** ISO 8601 week number. */
export function isoWeek(day) {
  const thursday = addDays(day, 3 - weekday(day));
  const firstThursday = addDays({ y: thursday.y, m: 1, d: 4 }, 3 - weekday({ y: thursday.y, m: 1, d: 4 }));
  return 1 + Math.round((utc(thursday) - utc(firstThursday)) / (7 * 86_400_000));
}

const dayParts = new Intl.DateTimeFormat("en-CA", { timeZone: BERLIN, year: "numeric", month: "2-digit", day: "2-digit" });

/** The Europe/Berlin calendar day of an instant (Date or ISO string). */
export function berlinDay(instant) {
  const date = instant instanceof Date ? instant : new Date(instant);
  return parseDay(dayParts.format(date));
}

export function today() {
  return berlinDay(new Date());
}

// ---------------------------------------------------------------- German formatting

const formats = {
  dayLong: new Intl.DateTimeFormat("de-DE", { timeZone: "UTC", weekday: "long", day: "numeric", month: "long", year: "numeric" }),
  dayMedium: new Intl.DateTimeFormat("de-DE", { timeZone: "UTC", day: "numeric", month: "long", year: "numeric" }),
  dayNumeric: new Intl.DateTimeFormat("de-DE", { timeZone: "UTC", day: "2-digit", month: "2-digit", year: "numeric" }),
  dayMonth: new Intl.DateTimeFormat("de-DE", { timeZone: "UTC", day: "numeric", month: "long" }),
  dayShort: new Intl.DateTimeFormat("de-DE", { timeZone: "UTC", weekday: "short", day: "numeric", month: "numeric" }),
  monthYear: new Intl.DateTimeFormat("de-DE", { timeZone: "UTC", month: "long", year: "numeric" }),
  monthShort: new Intl.DateTimeFormat("de-DE", { timeZone: "UTC", month: "short" }),
  time: new Intl.DateTimeFormat("de-DE", { timeZone: BERLIN, hour: "2-digit", minute: "2-digit" }),
  hour: new Intl.DateTimeFormat("de-DE", { timeZone: BERLIN, hour: "numeric", hourCycle: "h23" }),
  dateTime: new Intl.DateTimeFormat("de-DE", {
    timeZone: BERLIN,
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  }),
};

export const fmt = {
  /** Montag, 1. Juni 2026 */
  dayLong: (day) => formats.dayLong.format(utc(day)),
  /** 1. Juni 2026 */
  dayMedium: (day) => formats.dayMedium.format(utc(day)),
  /** 01.06.2026 */
  dayNumeric: (day) => formats.dayNumeric.format(utc(day)),
  /** 1. Juni */
  dayMonth: (day) => formats.dayMonth.format(utc(day)),
  /** Mo., 1.6. */
  dayShort: (day) => formats.dayShort.format(utc(day)),
  /** Juni 2026 */
  monthYear: (day) => formats.monthYear.format(utc(day)),
  /** Juni → "Juni", short: "Juni" / "Jan." */
  monthShort: (day) => formats.monthShort.format(utc(day)),
  /** 14:15 (Europe/Berlin) */
  time: (instant) => formats.time.format(new Date(instant)),
  /** 14 (Europe/Berlin) */
  hour: (instant) => Number(formats.hour.formatToParts(new Date(instant)).find((part) => part.type === "hour").value),
  /** 01.06.2026, 14:15 */
  dateTime: (instant) => formats.dateTime.format(new Date(instant)),
};

const kwhFormat = new Intl.NumberFormat("de-DE", { minimumFractionDigits: 3, maximumFractionDigits: 3 });
const numberFormat = new Intl.NumberFormat("de-DE", { maximumFractionDigits: 1 });
const integerFormat = new Intl.NumberFormat("de-DE", { maximumFractionDigits: 0 });

const euroFormat = new Intl.NumberFormat("de-DE", { style: "currency", currency: "EUR" });
const centFormat = new Intl.NumberFormat("de-DE", { minimumFractionDigits: 2, maximumFractionDigits: 4 });

export const num = {
  kwh: (value) => (value === null || value === undefined ? "–" : kwhFormat.format(value)),
  /** "0.61" (an exact decimal from the API) → "0,61 €" */
  euro: (decimal) => euroFormat.format(Number(decimal)),
  /** "10.84" → "10,84" (ct/kWh) */
  cent: (decimal) => centFormat.format(Number(decimal)),
  short: (value) => numberFormat.format(value),
  int: (value) => integerFormat.format(value),
};
