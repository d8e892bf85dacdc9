import { MeterError } from './meter-error.ts';
import type { MeterSettings } from './meter-settings.ts';

// Which mailing dates a meter may print for (docs/operations.md, "Mailing dates"): its
// installation's today, up to `mailingDateDaysAhead` days ahead, and only days at whose end its
// certificate is still valid — the moment a verifier checks it at for mail scanned later.

const DAY = 86_400_000;
const formats = new Map<string, Intl.DateTimeFormat>();

function formatIn(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formats.set(timeZone, format);
  }
  return format;
}

const MINUTE = 60_000;
/**
 * Wall-clock offsets by time zone and minute (zones move by whole minutes): every issuance asks
 * for today and for its certificate's bounds, and formatting one moment is ~40 µs.
 */
const minuteOffsets = new Map<string, number>();
const MINUTE_OFFSETS_KEPT = 4096;

/** The wall-clock time in `timeZone` at `at`, as if it were UTC (milliseconds dropped). */
function wallClock(at: number, timeZone: string): number {
  const minute = Math.floor(at / MINUTE) * MINUTE;
  const key = `${timeZone} ${minute}`;
  let offset = minuteOffsets.get(key);
  if (offset === undefined) {
    offset = formattedWallClock(minute, timeZone) - minute;
    if (minuteOffsets.size >= MINUTE_OFFSETS_KEPT) minuteOffsets.clear();
    minuteOffsets.set(key, offset);
  }
  return Math.floor((at + offset) / 1000) * 1000;
}

function formattedWallClock(at: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const part of formatIn(timeZone).formatToParts(at)) parts[part.type] = Number(part.value);
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = parts;
  // setUTCFullYear, because Date.UTC reads years 0–99 as 1900–1999.
  const wall = new Date(0);
  wall.setUTCFullYear(year, month - 1, day);
  wall.setUTCHours(hour, minute, second, 0);
  return wall.getTime();
}

/** Days since 1970-01-01 of the calendar date in `timeZone` at `at`. */
function dayNumber(at: number, timeZone: string): number {
  return Math.floor(wallClock(at, timeZone) / DAY);
}

/**
 * The calendar date (YYYY-MM-DD) in `timeZone` at `at`.
 *
 * @example calendarDate(new Date('2026-12-04T03:00:00Z'), 'America/New_York') // '2026-12-03'
 */
export function calendarDate(at: Date | number, timeZone: string): string {
  return new Date(wallClock(typeof at === 'number' ? at : at.getTime(), timeZone)).toISOString().slice(0, 10);
}

/** `date` (YYYY-MM-DD) moved by whole days. */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY).toISOString().slice(0, 10);
}

function isCalendarDate(date: string): boolean {
  const parsed = Date.parse(`${date}T00:00:00Z`);
  return /^\d{4}-\d{2}-\d{2}$/.test(date) && !Number.isNaN(parsed) && addDays(date, 0) === date;
}

/** The first instant of day number `day` in `timeZone`: local midnight, or the end of a DST gap over it. */
function startOfDay(day: number, timeZone: string): number {
  const midnight = day * DAY;
  let at = midnight - (wallClock(midnight, timeZone) - midnight);
  at = midnight - (wallClock(at, timeZone) - at);
  if (dayNumber(at, timeZone) === day && dayNumber(at - 1, timeZone) < day) return at;
  // Midnight fell into a daylight-saving gap: search the hours around it.
  let low = at - 3 * 3_600_000;
  let high = at + 3 * 3_600_000;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (dayNumber(middle, timeZone) < day) low = middle;
    else high = middle;
  }
  return high;
}

/**
 * The last millisecond of `date` in `timeZone`: when a verifier checks the certificate of an
 * indicium dated `date` that is scanned after its mailing day.
 *
 * @example endOfDay('2026-12-03', 'America/New_York').toISOString() // '2026-12-04T04:59:59.999Z'
 */
export function endOfDay(date: string, timeZone: string): Date {
  return new Date(startOfDay(Date.parse(`${date}T00:00:00Z`) / DAY + 1, timeZone) - 1);
}

/** The days a meter may print for now. */
export interface MailingWindow {
  /** Today in the installation's time zone: the first printable date and the default one. */
  readonly today: string;
  /** The last printable date, `daysAhead` after today. */
  readonly last: string;
  readonly daysAhead: number;
  readonly timeZone: string;
}

/** The window of mailing dates open at `now` under the installation's settings. */
export function mailingWindow(
  now: Date,
  settings: Pick<MeterSettings, 'mailingDateDaysAhead' | 'timeZone'>,
): MailingWindow {
  const today = calendarDate(now, settings.timeZone);
  return {
    today,
    last: addDays(today, settings.mailingDateDaysAhead),
    daysAhead: settings.mailingDateDaysAhead,
    timeZone: settings.timeZone,
  };
}

/** The meter certificate an issuance signs under. */
export interface CertificateValidity {
  readonly meterId: string;
  readonly serial: string;
  /** ISO timestamps, as the certificates table holds them. */
  readonly notBefore: string;
  readonly notAfter: string;
}

function refuse(message: string, window: MailingWindow, mailingDate: string, last = window.last): never {
  throw new MeterError('meter.mailing_date_invalid', `${message} Nothing was charged.`, {
    details: {
      mailingDate,
      firstMailingDate: window.today,
      lastMailingDate: last,
      timeZone: window.timeZone,
    },
  });
}

/**
 * Refuses (`meter.mailing_date_invalid`) any date outside the window, or, given the meter's
 * certificate, any date at whose end the certificate is not valid, and anything that is not a
 * calendar date. Run before the module moves anything.
 *
 * @example refuseUnprintableDates(['2026-12-03'], mailingWindow(new Date(), DEFAULT_METER_SETTINGS));
 */
export function refuseUnprintableDates(
  dates: Iterable<string>,
  window: MailingWindow,
  certificate?: CertificateValidity,
  remedy = 'Choose a date in that range, or leave it out for today.',
): void {
  const days = `${window.daysAhead} day${window.daysAhead === 1 ? '' : 's'}`;
  const range = `A meter prints only for ${window.today} (today in ${window.timeZone}, the installation's time zone) to ${window.last} (${days} ahead). ${remedy}`;
  const checked = new Set<string>();
  for (const date of dates) {
    if (checked.has(date)) continue;
    checked.add(date);
    if (!isCalendarDate(date))
      refuse(`Mailing date "${date}" is not a calendar date (YYYY-MM-DD).`, window, date);
    if (date < window.today) refuse(`Mailing date ${date} is before today. ${range}`, window, date);
    if (date > window.last) refuse(`Mailing date ${date} is too far ahead. ${range}`, window, date);
    if (certificate === undefined) continue;
    const { meterId, serial, notBefore, notAfter } = certificate;
    // The certificate must be valid at the end of the mailing day (see endOfDay).
    const lastCovered = addDays(calendarDate(Date.parse(notAfter) + 1, window.timeZone), -1);
    if (date > lastCovered)
      refuse(
        `Meter ${meterId}'s certificate ${serial} expires ${notAfter}, so its last mailing date is ${lastCovered}; it cannot print for ${date}. Choose an earlier date, or have the meter's key replaced (indicia meters rekey ${meterId}).`,
        window,
        date,
        lastCovered < window.last ? lastCovered : window.last,
      );
    const firstCovered = calendarDate(Date.parse(notBefore), window.timeZone);
    if (date < firstCovered)
      refuse(
        `Meter ${meterId}'s certificate ${serial} is valid only from ${notBefore}; it cannot print for ${date}.`,
        window,
        date,
      );
  }
}
