import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { continentForCountry, lookupCountry } from '../../../src/catchpoint/geo.ts';
import { fallbackNodeInfo, parseNodeName } from '../../../src/catchpoint/node.ts';
import { mapV1Node, mapV2Node } from '../../../src/catchpoint/node-mapping.ts';
import { parsePush } from '../../../src/catchpoint/push.ts';

const FIXTURES = new URL('../../fixtures/catchpoint/', import.meta.url);

describe('parseNodeName', () => {
  it('splits "City, CC - ISP"', () => {
    assert.deepEqual(parseNodeName('Jinan, CN - Unicom'), {
      city: 'Jinan',
      countryCode: 'CN',
      isp: 'Unicom',
    });
    assert.deepEqual(parseNodeName('Frankfurt, DE - AWS'), {
      city: 'Frankfurt',
      countryCode: 'DE',
      isp: 'AWS',
    });
  });

  it('keeps commas in the city and dashes in the ISP', () => {
    assert.deepEqual(parseNodeName('Washington, DC, US - Cogent'), {
      city: 'Washington, DC',
      countryCode: 'US',
      isp: 'Cogent',
    });
    assert.deepEqual(parseNodeName('New York, US - Verizon - IPv6'), {
      city: 'New York',
      countryCode: 'US',
      isp: 'Verizon - IPv6',
    });
    assert.deepEqual(parseNodeName('Winston-Salem, US - AT&T'), {
      city: 'Winston-Salem',
      countryCode: 'US',
      isp: 'AT&T',
    });
  });

  it("maps Catchpoint's UK to ISO GB", () => {
    assert.deepEqual(parseNodeName('London, UK - BT'), { city: 'London', countryCode: 'GB', isp: 'BT' });
  });

  it('yields what it can from names off the convention', () => {
    assert.deepEqual(parseNodeName('Frankfurt - AWS'), { city: 'Frankfurt', isp: 'AWS' });
    assert.deepEqual(parseNodeName('Some private agent'), {});
    assert.deepEqual(parseNodeName('Lab, XX - Office'), { isp: 'Office' });
    assert.deepEqual(parseNodeName(''), {});
    assert.deepEqual(parseNodeName(' - '), {});
  });
});

describe('fallbackNodeInfo', () => {
  it('derives the node from the DNS sample push', () => {
    const push = parsePush(readFileSync(new URL('dns-direct-v3.json', FIXTURES)), { type: 'json' });
    assert.deepEqual(fallbackNodeInfo(push), {
      id: '312',
      name: 'Jinan, CN - Unicom',
      asn: '4837',
      city: 'Jinan',
      countryCode: 'CN',
      country: 'China',
      continent: 'Asia',
      isp: 'Unicom',
    });
  });

  it('derives the node from the web sample push', () => {
    const push = parsePush(readFileSync(new URL('web-chrome-v4.json', FIXTURES)), { type: 'json' });
    assert.deepEqual(fallbackNodeInfo(push), {
      id: '540',
      name: 'Frankfurt, DE - AWS',
      asn: '16509',
      city: 'Frankfurt',
      countryCode: 'DE',
      country: 'Germany',
      continent: 'Europe',
      isp: 'AWS',
    });
  });

  it('leaves unknown fields out (never empty strings)', () => {
    const push = parsePush('{"TestId":1,"NodeId":2,"TestRuntime":"20240101000000000"}', { type: 'json' });
    assert.deepEqual(fallbackNodeInfo(push), { id: '2' });
    const named = parsePush(
      '{"TestId":1,"NodeId":2,"NodeName":"Agent 7","TestRuntime":"20240101000000000"}',
      {
        type: 'json',
      },
    );
    assert.deepEqual(fallbackNodeInfo(named), { id: '2', name: 'Agent 7' });
  });
});

describe('continentForCountry', () => {
  it('takes ISO codes in any case', () => {
    assert.equal(continentForCountry('US'), 'North America');
    assert.equal(continentForCountry('br'), 'South America');
    assert.equal(continentForCountry('ZA'), 'Africa');
    assert.equal(continentForCountry('AU'), 'Oceania');
    assert.equal(continentForCountry('JP'), 'Asia');
    assert.equal(continentForCountry('DE'), 'Europe');
  });

  it('takes names, aliases and official long names', () => {
    assert.equal(continentForCountry('United States'), 'North America');
    assert.equal(continentForCountry('united kingdom'), 'Europe');
    assert.equal(
      continentForCountry('Russian Federation'),
      'Europe',
      "Catchpoint's Russian nodes are European",
    );
    assert.equal(continentForCountry('Korea, Republic of'), 'Asia');
    assert.equal(continentForCountry('Viet Nam'), 'Asia');
    assert.equal(continentForCountry('Turkey'), 'Asia');
  });

  it('gives undefined for what it does not know', () => {
    assert.equal(continentForCountry('Atlantis'), undefined);
    assert.equal(continentForCountry('XX'), undefined);
    assert.equal(continentForCountry(''), undefined);
  });

  it('resolves codes before names for two-letter input', () => {
    assert.equal(lookupCountry('UK')?.code, 'GB');
    assert.equal(lookupCountry('IN')?.name, 'India');
  });
});

// The v1 item of Catchpoint's own Node Status Monitor test (notes §10.4).
const V1_ITEM = {
  id: 1,
  name: 'Las Vegas, US - Level3',
  status: { id: 0, name: 'Active' },
  network_type: { id: 0, name: 'Backbone' },
  ip_ranges: '4.35.35.102',
  isp: { id: 5, name: 'Level3' },
  asn: { value: 'AS3356', name: 'LEVEL3' },
  city: { id: 1, name: 'Las Vegas' },
  region: { id: 32, name: 'Nevada' },
  country: { id: 224, name: 'United States' },
  continent: { id: 1, name: 'North America' },
  targeted: 'true',
  coordinates: { latitude: 36.175, longitude: -115.1372 },
};

// The schema-derived v2 example (notes §11.2).
const V2_ITEM = {
  id: 312,
  name: 'Jinan, CN - Unicom',
  ipRanges: '1.2.3.0/24',
  isIPv6: false,
  isTargeted: true,
  availableForSyntheticTests: true,
  availableForInstantTests: true,
  latitude: 36.67,
  longitude: 116.99,
  status: { id: 0, name: 'Active' },
  networkType: { id: 0, name: 'Backbone' },
  asn: { id: 4837, name: 'CHINA169-BACKBONE' },
  city: { id: 1234, name: 'Jinan' },
  country: { id: 45, name: 'China' },
};

describe('mapV1Node / mapV2Node', () => {
  it('maps the v1 sample item', () => {
    assert.deepEqual(mapV1Node(V1_ITEM), {
      id: '1',
      name: 'Las Vegas, US - Level3',
      asn: '3356',
      city: 'Las Vegas',
      country: 'United States',
      countryCode: 'US',
      region: 'Nevada',
      continent: 'North America',
      isp: 'Level3',
      networkType: 'Backbone',
    });
  });

  it('maps the v2 example, deriving continent from the country and ISP from the name', () => {
    assert.deepEqual(mapV2Node(V2_ITEM), {
      id: '312',
      name: 'Jinan, CN - Unicom',
      asn: '4837',
      city: 'Jinan',
      country: 'China',
      countryCode: 'CN',
      continent: 'Asia',
      isp: 'Unicom',
      networkType: 'Backbone',
    });
  });

  it('fills v1 gaps from the node name and skips empty values', () => {
    const info = mapV1Node({
      id: '77',
      name: 'Paris, FR - Orange',
      city: { name: '' },
      isp: null,
      asn: 'AS5511 OPENTRANSIT',
    });
    assert.deepEqual(info, {
      id: '77',
      name: 'Paris, FR - Orange',
      asn: '5511',
      isp: 'Orange',
      city: 'Paris',
      countryCode: 'FR',
      country: 'France',
      continent: 'Europe',
    });
  });

  it('skips items without a usable id', () => {
    for (const item of [
      null,
      'x',
      [],
      {},
      { id: 0 },
      { id: -3 },
      { id: 'abc' },
      { id: 1.5 },
      { id: 2 ** 53 },
    ]) {
      assert.equal(mapV1Node(item), undefined, JSON.stringify(item));
      assert.equal(mapV2Node(item), undefined, JSON.stringify(item));
    }
  });

  it('never lets a wrong type through as a value', () => {
    const info = mapV2Node({ id: 5, name: 42, asn: { id: 'AS9' }, city: { name: 7 }, country: ['US'] });
    assert.deepEqual(info, { id: '5', asn: '9' });
  });
});
