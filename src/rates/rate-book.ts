import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../encoding/index.ts';
import { RateError } from './weight.ts';
import type { Zone, ZoneAnswer } from './zones.ts';

/** The zones a zoned class prices: 1–9 (a missing `L` is priced as zone 1). */
const ZONES: readonly Zone[] = ['1', '2', '3', '4', '5', '6', '7', '8', '9'];

export interface RateBreak {
  /** Up to this weight (in the class's unit), inclusive. */
  readonly upTo: number;
  /** The price of an unzoned class, in mills. */
  readonly priceMills?: number;
  /** The prices of a zoned class by zone, in mills. */
  readonly zones?: Partial<Record<Zone, number>>;
}

export interface RateClass {
  /** Stable code, e.g. FCM-LETTER-METERED. */
  readonly code: string;
  readonly name: string;
  /** What the indicium prints (1–4 letters or digits), e.g. FC. */
  readonly rateCategory: string;
  readonly weightUnit: 'oz' | 'lb';
  readonly zoned: boolean;
  readonly breaks: readonly RateBreak[];
  readonly surcharges?: readonly {
    readonly code: string;
    readonly name: string;
    readonly priceMills: number;
  }[];
}

/** A rate table file (docs/rates.md): one price list, effective from a date, with its source. */
export interface RateTable {
  readonly format: 'indicia-rates/1';
  readonly id: string;
  /** YYYY-MM-DD: the first mailing date it prices. */
  readonly effective: string;
  /** Where the prices come from: a price is never invented. */
  readonly source: string;
  readonly classes: readonly RateClass[];
}

const fail = (where: string, message: string): never => {
  throw new RateError('rate.table_invalid', `${where}: ${message}`);
};
const isMills = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= 100_000_000;

/** Checks a parsed rate table file; refuses it with the place and the problem. */
export function checkRateTable(value: unknown, where: string): RateTable {
  const table = value as Partial<RateTable> | null;
  if (typeof table !== 'object' || table === null) return fail(where, 'not a JSON object');
  if (table.format !== 'indicia-rates/1') fail(where, 'format must be "indicia-rates/1"');
  if (typeof table.id !== 'string' || !/^[a-z0-9][a-z0-9.-]{0,63}$/.test(table.id))
    fail(where, 'id is lower-case letters, digits, dots and hyphens');
  if (
    typeof table.effective !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}$/.test(table.effective) ||
    Number.isNaN(Date.parse(table.effective))
  )
    fail(where, 'effective is a date, YYYY-MM-DD');
  if (typeof table.source !== 'string' || table.source.trim().length < 10)
    fail(where, 'source must say where the prices come from');
  if (!Array.isArray(table.classes) || table.classes.length === 0) fail(where, 'classes is a non-empty list');
  const codes = new Set<string>();
  for (const [index, rateClass] of (table.classes ?? []).entries()) {
    const at = `${where}, classes[${index}]`;
    if (typeof rateClass.code !== 'string' || !/^[A-Z0-9-]{2,40}$/.test(rateClass.code))
      fail(at, 'code is 2–40 capitals, digits, hyphens');
    if (codes.has(rateClass.code)) fail(at, `code ${rateClass.code} appears twice`);
    codes.add(rateClass.code);
    if (typeof rateClass.name !== 'string' || rateClass.name === '') fail(at, 'name is missing');
    if (typeof rateClass.rateCategory !== 'string' || !/^[A-Z0-9]{1,4}$/.test(rateClass.rateCategory))
      fail(at, 'rateCategory is 1–4 capitals or digits');
    if (!(['oz', 'lb'] as unknown[]).includes(rateClass.weightUnit)) fail(at, 'weightUnit is oz or lb');
    if (typeof rateClass.zoned !== 'boolean') fail(at, 'zoned is true or false');
    if (!Array.isArray(rateClass.breaks) || rateClass.breaks.length === 0)
      fail(at, 'breaks is a non-empty list');
    let previous = 0;
    for (const [position, step] of rateClass.breaks.entries()) {
      const place = `${at}.breaks[${position}]`;
      if (typeof step.upTo !== 'number' || !(step.upTo > previous))
        fail(place, 'upTo must grow from break to break');
      previous = step.upTo;
      if (rateClass.zoned) {
        for (const zone of ZONES)
          if (!isMills(step.zones?.[zone])) fail(place, `zone ${zone} needs a price in mills`);
      } else if (!isMills(step.priceMills)) fail(place, 'priceMills is a positive whole number of mills');
    }
    for (const surcharge of rateClass.surcharges ?? [])
      if (typeof surcharge.code !== 'string' || !isMills(surcharge.priceMills))
        fail(at, 'a surcharge needs a code and priceMills');
  }
  return table as RateTable;
}

/** A table's version: the first 16 hex digits of SHA-256 over its canonical JSON. */
export function tableVersion(table: RateTable): string {
  return createHash('sha256').update(canonicalJson(table)).digest('hex').slice(0, 16);
}

export interface QuoteRequest {
  readonly classCode: string;
  readonly weightOunces: number;
  /** YYYY-MM-DD; today (UTC) unless given. */
  readonly mailingDate?: string;
  readonly zone?: ZoneAnswer | null;
  readonly surcharges?: readonly string[];
}

export interface Quote {
  readonly priceMills: number;
  readonly classCode: string;
  readonly className: string;
  readonly rateCategory: string;
  /** The weight break priced (in the class's unit) and the unit. */
  readonly weightBreak: number;
  readonly weightUnit: 'oz' | 'lb';
  readonly zone: ZoneAnswer | null;
  readonly surcharges: { readonly code: string; readonly priceMills: number }[];
  readonly table: {
    readonly id: string;
    readonly effective: string;
    readonly source: string;
    readonly version: string;
  };
}

/**
 * The rate tables in force: several versions side by side, the one for a mailing date being the
 * latest effective on or before it. Loaded from directories of `*.json` files, checked, and
 * loaded again on demand (no restart).
 *
 * A later directory takes precedence over an earlier one (the operator's `<data dir>/rates/` over
 * the shipped `rates/`): a table with the id of an earlier directory's replaces it, and of two
 * tables effective the same day, the later directory's prices the classes it has.
 */
export class RateBook {
  private tables: { table: RateTable; version: string }[] = [];
  private readonly directories: readonly string[];

  constructor(directories: readonly string[]) {
    this.directories = directories;
    this.reload();
  }

  /** Reads every table again; a bad file refuses the reload and the tables in force stay. */
  reload(): { tables: number } {
    const loaded = new Map<string, { table: RateTable; version: string; rank: number }>();
    for (const [rank, directory] of this.directories.entries()) {
      if (!existsSync(directory)) continue;
      for (const file of readdirSync(directory)
        .filter((name) => name.endsWith('.json'))
        .sort()) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(readFileSync(join(directory, file), 'utf8'));
        } catch (error) {
          fail(join(directory, file), `not JSON (${(error as Error).message})`);
        }
        const table = checkRateTable(parsed, join(directory, file));
        // Within one folder a repeated id is a mistake; across folders it is a deliberate override.
        if (loaded.get(table.id)?.rank === rank)
          fail(join(directory, file), `table id ${table.id} is loaded twice`);
        loaded.set(table.id, { table, version: tableVersion(table), rank });
      }
    }
    this.tables = [...loaded.values()]
      .sort((a, b) => a.table.effective.localeCompare(b.table.effective) || a.rank - b.rank)
      .map(({ table, version }) => ({ table, version }));
    return { tables: this.tables.length };
  }

  /** Every table, oldest first, with its version. */
  list(): { id: string; effective: string; source: string; version: string; classes: string[] }[] {
    return this.tables.map(({ table, version }) => ({
      id: table.id,
      effective: table.effective,
      source: table.source,
      version,
      classes: table.classes.map((rateClass) => rateClass.code),
    }));
  }

  /** The table in force on a mailing date (YYYY-MM-DD) that prices this class, if any. */
  tableFor(mailingDate: string, classCode?: string): { table: RateTable; version: string } | undefined {
    let found: { table: RateTable; version: string } | undefined;
    for (const entry of this.tables)
      if (
        entry.table.effective <= mailingDate &&
        (classCode === undefined || entry.table.classes.some((rateClass) => rateClass.code === classCode))
      )
        found = entry;
    return found;
  }

  quote(request: QuoteRequest): Quote {
    const date = request.mailingDate ?? new Date().toISOString().slice(0, 10);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date))
      throw new RateError('rate.invalid', 'mailingDate is a date, YYYY-MM-DD.');
    if (!Number.isFinite(request.weightOunces) || request.weightOunces <= 0 || request.weightOunces > 70 * 16)
      throw new RateError(
        'rate.invalid',
        'The weight is a number of ounces above 0 and at most 1,120 (70 lb).',
      );
    const entry = this.tableFor(date, request.classCode);
    const rateClass = entry?.table.classes.find((candidate) => candidate.code === request.classCode);
    if (entry === undefined || rateClass === undefined)
      throw new RateError(
        'rate.not_found',
        `No rate table in force on ${date} prices ${request.classCode.slice(0, 40)}; the classes priced are: ${this.classesOn(date).join(', ') || this.noneInForce()}.`,
      );
    const weight = rateClass.weightUnit === 'lb' ? request.weightOunces / 16 : request.weightOunces;
    const step = rateClass.breaks.find((candidate) => weight <= candidate.upTo + 1e-9);
    if (step === undefined)
      throw new RateError(
        'rate.invalid',
        `${rateClass.name} goes up to ${rateClass.breaks.at(-1)?.upTo ?? 0} ${rateClass.weightUnit}; this piece weighs ${Math.round(weight * 100) / 100} ${rateClass.weightUnit}.`,
      );
    let price: number | undefined = step.priceMills;
    const zone = request.zone ?? null;
    if (rateClass.zoned) {
      if (zone === null)
        throw new RateError(
          'rate.invalid',
          `${rateClass.name} is priced by zone: give the origin and destination ZIPs.`,
        );
      price = step.zones?.[zone.zone === 'L' ? '1' : zone.zone];
    }
    if (price === undefined)
      throw new RateError('rate.not_found', `${rateClass.name} has no price for this piece.`);
    const surcharges = (request.surcharges ?? []).map((code) => {
      const surcharge = rateClass.surcharges?.find((candidate) => candidate.code === code);
      if (surcharge === undefined)
        throw new RateError('rate.invalid', `${rateClass.name} has no surcharge ${code.slice(0, 40)}.`);
      return { code, priceMills: surcharge.priceMills };
    });
    return {
      priceMills: price + surcharges.reduce((total, surcharge) => total + surcharge.priceMills, 0),
      classCode: rateClass.code,
      className: rateClass.name,
      rateCategory: rateClass.rateCategory,
      weightBreak: step.upTo,
      weightUnit: rateClass.weightUnit,
      zone: rateClass.zoned ? zone : null,
      surcharges,
      table: {
        id: entry.table.id,
        effective: entry.table.effective,
        source: entry.table.source,
        version: entry.version,
      },
    };
  }

  private noneInForce(): string {
    const earliest = this.tables[0]?.table.effective;
    return earliest === undefined
      ? 'none (no sourced tables are loaded)'
      : `none on that date (the earliest table loaded takes effect ${earliest})`;
  }

  private classesOn(date: string): string[] {
    const codes = new Set<string>();
    for (const { table } of this.tables)
      if (table.effective <= date) for (const rateClass of table.classes) codes.add(rateClass.code);
    return [...codes];
  }
}
