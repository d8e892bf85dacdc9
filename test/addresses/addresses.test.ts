import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AddressError,
  offlineAddressProvider,
  parseFreeForm,
  standardizeLine,
  zipData,
} from '../../src/addresses/index.ts';

/** Publication 28 examples: a delivery line as written → as standardized, and its kind. */
const LINES: readonly [string, string, string?][] = [
  // Street suffixes (Appendix C1)
  ['123 Main Street', '123 MAIN ST'],
  ['123 Main Str', '123 MAIN ST'],
  ['55 Elm Avenue', '55 ELM AVE'],
  ['55 Elm Av', '55 ELM AVE'],
  ['55 Elm Avnue', '55 ELM AVE'],
  ['9 Sunset Boulevard', '9 SUNSET BLVD'],
  ['9 Sunset Boulv', '9 SUNSET BLVD'],
  ['8 Mountain Road', '8 MOUNTAIN RD'],
  ['4 Lake Shore Drive', '4 LAKE SHORE DR'],
  ['4 Lake Shore Driv', '4 LAKE SHORE DR'],
  ['10 Lovers Lane', '10 LOVERS LN'],
  ['3 Oak Court', '3 OAK CT'],
  ['3 Oak Circle', '3 OAK CIR'],
  ['3 Oak Circl', '3 OAK CIR'],
  ['7 Market Place', '7 MARKET PL'],
  ['7 Hill Terrace', '7 HILL TER'],
  ['1 Garden State Parkway', '1 GARDEN STATE PKWY'],
  ['1200 Pacific Coast Highway', '1200 PACIFIC COAST HWY'],
  ['40 Cross Bronx Expressway', '40 CROSS BRONX EXPY'],
  ['2 Appalachian Trail', '2 APPALACHIAN TRL'],
  ['6 Union Square', '6 UNION SQ'],
  ['6 Union Plaza', '6 UNION PLZ'],
  ['12 Milky Way', '12 MILKY WAY'],
  ['12 Blind Alley', '12 BLIND ALY'],
  ['5 Deer Crossing', '5 DEER XING'],
  ['300 Bayou Road', '300 BAYOU RD'],
  ['77 Broadway', '77 BROADWAY'],
  // Directionals
  ['123 north main street', '123 N MAIN ST'],
  ['123 South Elm St', '123 S ELM ST'],
  ['100 Northwest 5th Avenue', '100 NW 5TH AVE'],
  ['1600 Pennsylvania Avenue N.W.', '1600 PENNSYLVANIA AVE NW'],
  ['1600 Pennsylvania Ave Northwest', '1600 PENNSYLVANIA AVE NW'],
  ['20 Lake Shore Drive East', '20 LAKE SHORE DR E'],
  ['88 Main Southeast', '88 MAIN SE'],
  ['100 North St', '100 NORTH ST'],
  ['15 West Street', '15 WEST ST'],
  ['15 E. West Street', '15 E WEST ST'],
  // Numbered streets, fractions, hyphens
  ['42 W 42nd St', '42 W 42ND ST'],
  ['350 Fifth Avenue', '350 FIFTH AVE'],
  ['1 1st Street', '1 1ST ST'],
  ['123 1/2 Elm St', '123 1/2 ELM ST'],
  ['12-34 Queens Blvd', '12-34 QUEENS BLVD'],
  ['N6W23001 Bluemound Rd', 'N6W23001 BLUEMOUND RD'],
  // Secondary unit designators (Appendix C2)
  ['500 Main St Suite 200', '500 MAIN ST STE 200'],
  ['123 north main street apartment 4b', '123 N MAIN ST APT 4B'],
  ['10 Main St Apt4', '10 MAIN ST APT 4'],
  ['12 Main St #5', '12 MAIN ST # 5'],
  ['9 Wall St Floor 10', '9 WALL ST FL 10'],
  ['9 Wall St Room 101', '9 WALL ST RM 101'],
  ['9 Wall St Building C', '9 WALL ST BLDG C'],
  ['9 Wall St Unit 7', '9 WALL ST UNIT 7'],
  ['9 Wall St Penthouse', '9 WALL ST PH'],
  ['9 Wall St Basement', '9 WALL ST BSMT'],
  ['9 Wall St Rear', '9 WALL ST REAR'],
  ['9 Wall St Lobby', '9 WALL ST LBBY'],
  ['9 Wall St Trailer 12', '9 WALL ST TRLR 12'],
  ['9 Wall St Space 4', '9 WALL ST SPC 4'],
  ['9 Wall St Department 12', '9 WALL ST DEPT 12'],
  ['9 Wall St Hangar 2', '9 WALL ST HNGR 2'],
  ['9 Wall St Lot 3', '9 WALL ST LOT 3'],
  ['9 Wall St Upper', '9 WALL ST UPPR'],
  // PO Boxes
  ['P.O. Box 123', 'PO BOX 123', 'po_box'],
  ['PO Box 123', 'PO BOX 123', 'po_box'],
  ['p o box 123', 'PO BOX 123', 'po_box'],
  ['Post Office Box 77', 'PO BOX 77', 'po_box'],
  ['POB 77', 'PO BOX 77', 'po_box'],
  ['Box 9', 'PO BOX 9', 'po_box'],
  ['PO Box #9', 'PO BOX 9', 'po_box'],
  ['Drawer 12', 'PO BOX 12', 'po_box'],
  ['Lockbox 12', 'PO BOX 12', 'po_box'],
  ['Caller 4', 'PO BOX 4', 'po_box'],
  // Rural routes and highway contract routes
  ['Rural Route 2, Box 15', 'RR 2 BOX 15', 'rural_route'],
  ['R.R. 2 Box 15', 'RR 2 BOX 15', 'rural_route'],
  ['RR2 BOX 15', 'RR 2 BOX 15', 'rural_route'],
  ['RFD 3 Box 7', 'RR 3 BOX 7', 'rural_route'],
  ['Highway Contract 3 Box 20', 'HC 3 BOX 20', 'highway_contract'],
  ['HC 3 Box 20', 'HC 3 BOX 20', 'highway_contract'],
  ['Star Route 4 Box 1', 'HC 4 BOX 1', 'highway_contract'],
  // Military, general delivery
  ['PSC 1234 Box 5678', 'PSC 1234 BOX 5678', 'military'],
  ['Unit 2050 Box 4190', 'UNIT 2050 BOX 4190', 'military'],
  ['CMR 450 Box 230', 'CMR 450 BOX 230', 'military'],
  ['General Delivery', 'GENERAL DELIVERY', 'general_delivery'],
];

describe('address standardization (Publication 28)', () => {
  it(`writes ${LINES.length} delivery lines the Publication 28 way`, () => {
    assert.ok(LINES.length >= 60);
    const wrong: string[] = [];
    for (const [given, expected, kind = 'street'] of LINES) {
      const line = standardizeLine(given);
      if (line.text !== expected || line.kind !== kind)
        wrong.push(`${given} → ${line.text} (${line.kind}); expected ${expected} (${kind})`);
    }
    assert.deepEqual(wrong, []);
  });

  it('splits free-form addresses into lines, city, state and ZIP', () => {
    assert.deepEqual(parseFreeForm('350 Fifth Avenue, Suite 3300, New York, NY 10118'), {
      line1: '350 Fifth Avenue',
      line2: 'Suite 3300',
      city: 'New York',
      state: 'NY',
      zip: '10118',
    });
    assert.deepEqual(parseFreeForm('1600 Pennsylvania Ave NW Washington DC 20500-0003'), {
      line1: '1600 PENNSYLVANIA AVE NW',
      line2: undefined,
      city: 'WASHINGTON',
      state: 'DC',
      zip: '20500-0003',
    });
    assert.deepEqual(parseFreeForm('12 Main St\nSalt Lake City, Utah 84101'), {
      line1: '12 Main St',
      line2: undefined,
      city: 'Salt Lake City',
      state: 'UT',
      zip: '84101',
    });
    assert.equal(parseFreeForm('PSC 1234 Box 5678, APO AE 09012').city, 'APO');
  });
});

describe('address verification against the ZIP reference', () => {
  const provider = offlineAddressProvider();

  it('loads the reference data once: tens of thousands of ZIPs with city, state and centroid', () => {
    const data = zipData();
    assert.ok(data.count > 40_000, String(data.count));
    assert.equal(data.byZip.get('12180')?.[0]?.city, 'TROY');
    assert.equal(data.byZip.get('12180')?.[0]?.state, 'NY');
  });

  it('accepts a right address, standardized, and says what changed', async () => {
    const result = await provider.verify({
      line1: '12 main street apartment 3',
      city: 'troy',
      state: 'new york',
      zip: '12180',
    });
    assert.equal(result.status, 'valid');
    assert.deepEqual(result.address, {
      line1: '12 MAIN ST APT 3',
      kind: 'street',
      city: 'TROY',
      state: 'NY',
      zip: '12180',
    });
    assert.ok(result.messages.some((message) => message.includes('Appendix C1')));
    const saint = await provider.verify({
      line1: '1 Market St',
      city: 'St. Louis',
      state: 'MO',
      zip: '63101',
    });
    assert.equal(saint.status, 'valid', 'St. = SAINT');
    const military = await provider.verify({ text: 'PSC 1234 Box 5678, APO AE 09012' });
    assert.equal(military.status, 'unverified', 'military post offices are not in the reference data');
    assert.equal(military.address?.line1, 'PSC 1234 BOX 5678');
  });

  it('ranks candidates for a misspelled city, a wrong ZIP, a missing ZIP and a swapped city and state', async () => {
    const misspelled = await provider.verify({
      line1: '12 Main St',
      city: 'Troyy',
      state: 'NY',
      zip: '12180',
    });
    assert.equal(misspelled.status, 'corrected');
    assert.equal(misspelled.address?.city, 'TROY');
    assert.ok(misspelled.candidates[0]?.match.includes('city_corrected'));

    const wrongZip = await provider.verify({
      line1: '12 Main St',
      city: 'Salt Lake City',
      state: 'UT',
      zip: '12180',
    });
    assert.notEqual(wrongZip.status, 'valid');
    const [first] = wrongZip.candidates;
    assert.ok(first !== undefined);
    assert.equal(first.address.city, 'SALT LAKE CITY', 'the city and state named outrank the ZIP given');
    assert.ok(first.match.includes('zip_corrected'));
    assert.ok(
      wrongZip.candidates.some(
        (candidate) => candidate.address.city === 'TROY' && candidate.match.includes('city_corrected'),
      ),
    );

    const noZip = await provider.verify({ line1: '12 Main St', city: 'Troy', state: 'NY' });
    assert.equal(noZip.status, 'ambiguous', 'Troy, NY has several ZIPs');
    assert.ok(noZip.candidates.length >= 2);
    assert.ok(
      noZip.candidates.every(
        (candidate) => candidate.match.includes('zip_added') && candidate.address.city === 'TROY',
      ),
    );
    for (let index = 1; index < noZip.candidates.length; index += 1)
      assert.ok(
        (noZip.candidates[index - 1]?.score ?? 0) >= (noZip.candidates[index]?.score ?? 0),
        'best first',
      );

    const swapped = await provider.verify({ line1: '12 Main St', city: 'NY', state: 'Troy', zip: '12180' });
    assert.equal(swapped.status, 'corrected');
    assert.deepEqual([swapped.address?.city, swapped.address?.state], ['TROY', 'NY']);
    assert.ok(swapped.candidates[0]?.match.includes('city_state_swapped'));

    const misspelledNoZip = await provider.verify({ line1: '12 Main St', city: 'Sacramnto', state: 'CA' });
    assert.ok(misspelledNoZip.candidates.length > 0);
    assert.ok(misspelledNoZip.candidates.every((candidate) => candidate.address.city === 'SACRAMENTO'));

    const wrongState = await provider.verify({
      line1: '12 Main St',
      city: 'Troy',
      state: 'NJ',
      zip: '12180',
    });
    const [stateFix] = wrongState.candidates;
    assert.ok(stateFix !== undefined);
    assert.equal(stateFix.address.state, 'NY');
    assert.ok(stateFix.match.includes('state_corrected'));

    const nowhere = await provider.verify({ line1: '12 Main St', city: 'Qwzx', state: 'ZZ', zip: '00000' });
    assert.equal(nowhere.status, 'invalid');
    assert.deepEqual(nowhere.candidates, []);
    assert.ok(nowhere.messages.some((message) => message.includes('ZIP 00000 does not exist')));
  });

  it('refuses empty, huge, non-Latin, emoji and control-character input with a clear error, and survives SQL-ish text', async () => {
    const refused = async (
      request: Parameters<typeof provider.verify>[0],
      pattern: RegExp,
    ): Promise<void> => {
      await assert.rejects(provider.verify(request), (error: unknown) => {
        assert.ok(error instanceof AddressError);
        assert.equal(error.code, 'address.invalid');
        assert.match(error.message, pattern);
        return true;
      });
    };
    await refused({ line1: '' }, /delivery line/);
    await refused({ text: '' }, /delivery line/);
    await refused({ line1: 'x'.repeat(10_000) }, /at most 200 characters/);
    await refused({ line1: '東京都千代田区1-1', city: '東京', state: 'TK' }, /Latin alphabet/);
    await refused({ line1: '12 Main St 🏠', city: 'Troy', state: 'NY' }, /Latin alphabet/);
    await refused({ line1: '12 Main St\u0000', city: 'Troy', state: 'NY' }, /control character/);
    const sql = await provider.verify({
      line1: "12 Main St'; DROP TABLE accounts; --",
      city: 'Troy',
      state: 'NY',
      zip: '12180',
    });
    assert.equal(sql.address?.line1.includes("'"), false);
    const accents = await provider.verify({
      line1: '1 Calle José Martí',
      city: 'San Juan',
      state: 'PR',
      zip: '00901',
    });
    assert.equal(accents.status, 'unverified', 'Puerto Rico is not in the reference data');
    assert.equal(accents.address?.line1, '1 CALLE JOSE MARTI');
  });
});
