import { ZIP_PATTERN } from '../encoding/index.ts';
import { type AddressInput, stateCode } from './parse.ts';
import { MILITARY_CITIES, MILITARY_STATES } from './publication28.ts';
import { type LineKind, cleanLine, secondaryOf, standardizeLine } from './standardize.ts';
import { type ZipData, cityKey } from './zip-data.ts';

/** An address written the Publication 28 way. */
export interface StandardAddress {
  readonly line1: string;
  readonly line2?: string;
  readonly city: string;
  readonly state: string;
  /** ZIP or ZIP+4, as given (the offline data assigns no ZIP+4). */
  readonly zip: string;
  readonly kind: LineKind;
}

/** How a candidate differs from what was given. */
export type MatchKind =
  | 'exact'
  | 'city_corrected'
  | 'state_corrected'
  | 'zip_corrected'
  | 'zip_added'
  | 'city_state_swapped'
  | 'zip_format_corrected'
  | 'standardized';

export interface Candidate {
  readonly address: StandardAddress;
  readonly match: readonly MatchKind[];
  /** 0–1: how sure the match is; 1 for an exact match. */
  readonly score: number;
}

export interface AddressVerification {
  /**
   * valid: as given (once standardized); corrected: one clear fix; ambiguous: pick a candidate;
   * invalid: nothing fits; unverified: standardized, but the reference data does not cover the
   * state (territories, military) so the city and ZIP were not checked.
   */
  readonly status: 'valid' | 'corrected' | 'ambiguous' | 'invalid' | 'unverified';
  readonly address: StandardAddress | null;
  /** Best first. */
  readonly candidates: readonly Candidate[];
  /** What was changed or is wrong, for a person. */
  readonly messages: readonly string[];
}

/** Similarity 0–1 of two strings: 1 − Levenshtein distance ÷ the longer length. */
export function similarity(a: string, b: string): number {
  if (a === b) return 1;
  const longer = Math.max(a.length, b.length);
  if (longer === 0) return 1;
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(
        Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost),
      );
    }
    previous = current;
  }
  return 1 - (previous[b.length] ?? longer) / longer;
}

const MAX_CANDIDATES = 5;

/**
 * Verifies an address against the ZIP reference: the lines standardized (Publication 28), the
 * state a USPS code, the ZIP known and agreeing with the city and state. When something is wrong
 * or ambiguous, ranked candidates say what would fit and how.
 */
export function verifyAddress(input: AddressInput, data: ZipData): AddressVerification {
  const messages: string[] = [];
  const line1 = standardizeLine(input.line1);
  if (line1.text === '') return invalid(['The address has no delivery line (street, PO Box, rural route).']);
  messages.push(...line1.changes);
  let line1Text = line1.text;
  let line2Text: string | undefined;
  if (input.line2 !== undefined && input.line2.trim() !== '') {
    const words = cleanLine(input.line2).split(' ');
    const secondary = secondaryOf(words);
    if (secondary !== null && `${line1Text} ${secondary.text}`.length <= 40 && line1.kind === 'street') {
      line1Text = `${line1Text} ${secondary.text}`;
      messages.push('secondary unit moved onto the delivery line');
    } else {
      line2Text = secondary?.text ?? standardizeLine(input.line2).text;
    }
  }
  const matches: MatchKind[] = messages.length > 0 ? ['standardized'] : [];
  let city = cleanLine(input.city ?? '');
  let state = input.state === undefined ? null : stateCode(input.state);
  // City and state given the wrong way round.
  if (
    state === null &&
    input.state !== undefined &&
    stateCode(city) !== null &&
    cleanLine(input.state) !== ''
  ) {
    [city, state] = [cleanLine(input.state), stateCode(city)];
    matches.push('city_state_swapped');
    messages.push('city and state were swapped');
  }
  let zip = (input.zip ?? '').replace(/\s/g, '');
  if (/^\d{9}$/.test(zip)) zip = `${zip.slice(0, 5)}-${zip.slice(5)}`;
  if (/^\d{4}(-\d{4})?$/.test(zip)) {
    zip = `0${zip}`;
    matches.push('zip_format_corrected');
    messages.push('a leading zero was added to the ZIP');
  }
  if (zip !== '' && !ZIP_PATTERN.test(zip)) {
    messages.push(`"${zip.slice(0, 20)}" is not a ZIP code`);
    zip = '';
  }
  const base = {
    line1: line1Text,
    ...(line2Text === undefined ? {} : { line2: line2Text }),
    kind: line1.kind,
  };
  // Military mail (APO/FPO/DPO with AA/AE/AP) and the territories are not in the reference data.
  if (state !== null && zip !== '' && !data.citiesByState.has(state)) {
    const isMilitary = MILITARY_STATES.has(state);
    if (isMilitary && !MILITARY_CITIES.has(city))
      return invalid([
        ...messages,
        `military mail goes to APO, FPO or DPO ${state}, not "${city.slice(0, 30)}"`,
      ]);
    messages.push(
      `the reference data does not cover ${isMilitary ? 'military post offices' : state}: city and ZIP not checked`,
    );
    return { status: 'unverified', address: { ...base, city, state, zip }, candidates: [], messages };
  }
  const candidates: Candidate[] = [];
  const add = (candidate: Candidate): void => {
    if (!candidates.some((known) => sameAddress(known.address, candidate.address)))
      candidates.push(candidate);
  };
  const zip5 = zip.slice(0, 5);
  const plus4 = zip.length > 5 ? zip.slice(5) : '';
  const places = zip5 === '' ? undefined : data.byZip.get(zip5);
  const key = cityKey(city);
  if (places !== undefined) {
    for (const place of places) {
      const isCity = cityKey(place.city) === key;
      const isState = place.state === state;
      const kinds: MatchKind[] = [...matches];
      if (!isCity) kinds.push('city_corrected');
      if (!isState) kinds.push('state_corrected');
      // A misspelt city with its right ZIP is a likely fix; a different city is not.
      const cityScore = isCity ? 1 : 0.5 + 0.45 * similarity(key, cityKey(place.city));
      // Neither city nor state agrees: the ZIP is more likely the mistake.
      const placeScore = isCity || isState ? cityScore * (isState ? 1 : 0.85) : 0.25 * cityScore;
      const score = placeScore * (matches.includes('city_state_swapped') ? 0.98 : 1);
      add({
        address: { ...base, city: place.city, state: place.state, zip: `${zip5}${plus4}` },
        match: kinds.length === 0 ? ['exact'] : kinds,
        score,
      });
    }
  } else if (zip5 !== '') {
    messages.push(`ZIP ${zip5} does not exist`);
  } else {
    messages.push('the ZIP is missing');
  }
  // The ZIPs of the city and state as given (a wrong or missing ZIP), or of close spellings.
  if (state !== null && key !== '') {
    const cities = data.citiesByState.get(state);
    const exact = cities?.get(key);
    const named = exact === undefined ? closeCities(cities, key) : [{ key, zips: exact, score: 1 }];
    for (const { zips, score } of named) {
      // Nearest the ZIP given first; in ZIP order when none was given.
      const distance = (other: string): number =>
        zip5 === '' ? Number(other) : Math.abs(Number(other) - Number(zip5));
      const sorted = [...zips].sort((a, b) => distance(a) - distance(b));
      for (const other of sorted.slice(0, 3)) {
        const place = data.byZip.get(other)?.find((entry) => entry.state === state);
        if (place === undefined) continue;
        const kinds: MatchKind[] = [...matches, zip5 === '' ? 'zip_added' : 'zip_corrected'];
        if (score < 1) kinds.push('city_corrected');
        // One ZIP for the city is a sure fix; one among many is a guess.
        const certainty = zips.length === 1 ? 0.95 : 0.6 / Math.min(zips.length, 3) + 0.2;
        add({
          address: { ...base, city: place.city, state, zip: other },
          match: kinds,
          score: certainty * score * (zip5 === '' ? 1 : 0.9),
        });
      }
    }
  }
  candidates.sort((a, b) => b.score - a.score);
  const ranked = candidates
    .slice(0, MAX_CANDIDATES)
    .map((candidate) => ({ ...candidate, score: Math.round(candidate.score * 1000) / 1000 }));
  const [best, second] = ranked;
  if (best === undefined) {
    if (state === null)
      messages.push(
        input.state === undefined || input.state.trim() === ''
          ? 'the state is missing'
          : `"${cleanLine(input.state).slice(0, 30)}" is not a state`,
      );
    if (key === '') messages.push('the city is missing');
    return invalid(
      messages.length > 0 ? messages : ['no ZIP, city and state in the reference data fit this address'],
    );
  }
  if (
    best.match.includes('exact') ||
    (best.score === 1 && best.match.every((kind) => kind === 'standardized'))
  )
    return { status: 'valid', address: best.address, candidates: [best], messages };
  const isClear = best.score >= 0.8 && (second === undefined || best.score - second.score >= 0.15);
  return {
    status: isClear ? 'corrected' : 'ambiguous',
    address: isClear ? best.address : null,
    candidates: ranked,
    messages,
  };
}

function invalid(messages: string[]): AddressVerification {
  return { status: 'invalid', address: null, candidates: [], messages };
}

function sameAddress(a: StandardAddress, b: StandardAddress): boolean {
  return a.line1 === b.line1 && a.city === b.city && a.state === b.state && a.zip === b.zip;
}

/** City names of the state close to `key` (misspellings), best first. */
function closeCities(
  cities: ReadonlyMap<string, readonly string[]> | undefined,
  key: string,
): { key: string; zips: readonly string[]; score: number }[] {
  if (cities === undefined) return [];
  const found: { key: string; zips: readonly string[]; score: number }[] = [];
  for (const [name, zips] of cities) {
    if (Math.abs(name.length - key.length) > 3 || name[0] !== key[0]) continue;
    const score = similarity(name, key);
    if (score >= 0.7) found.push({ key: name, zips, score });
  }
  return found.sort((a, b) => b.score - a.score).slice(0, 3);
}
