/**
 * Country and continent lookups over countries-list, for the gaps Catchpoint leaves: the v2
 * node model has no continent (notes §11.3), node names carry only an ISO code ("Jinan, CN"),
 * and v1 gives country names but no codes. Lookup tables are built once at module load, so each
 * lookup is one Map read.
 */
import { continents, countries, type TCountryCode } from 'countries-list';

export interface CountryInfo {
  /** ISO 3166-1 alpha-2 code. */
  code: string;
  /** English short name as countries-list spells it ('United States', 'China'). */
  name: string;
  /** Continent name in Catchpoint's spelling ('North America', 'Asia', 'Europe', ...). */
  continent: string;
}

/**
 * Transcontinental countries where countries-list's main continent is not where Catchpoint's
 * nodes are: its Russian nodes sit in Moscow and St Petersburg, which v1 files under Europe.
 */
const CONTINENT_OVERRIDES: Readonly<Record<string, string>> = { RU: 'EU' };

/** Official (ISO-style) names Catchpoint and other feeds use that countries-list lacks. */
const EXTRA_NAMES: Readonly<Record<string, string>> = {
  'korea, republic of': 'KR',
  'republic of korea': 'KR',
  "korea, democratic people's republic of": 'KP',
  'iran, islamic republic of': 'IR',
  'taiwan, province of china': 'TW',
  'hong kong sar': 'HK',
  'hong kong sar china': 'HK',
  'macao sar': 'MO',
  'viet nam': 'VN',
  'moldova, republic of': 'MD',
  'tanzania, united republic of': 'TZ',
  'venezuela, bolivarian republic of': 'VE',
  'bolivia, plurinational state of': 'BO',
  "lao people's democratic republic": 'LA',
  'syrian arab republic': 'SY',
  uk: 'GB',
};

const byCode = new Map<string, CountryInfo>();
const byName = new Map<string, CountryInfo>();

for (const [code, country] of Object.entries(countries)) {
  const continentCode = CONTINENT_OVERRIDES[code] ?? country.continent;
  const info: CountryInfo = {
    code,
    name: country.name,
    continent: continents[continentCode as keyof typeof continents],
  };
  byCode.set(code, info);
  byName.set(country.name.toLowerCase(), info);
  byName.set(country.native.toLowerCase(), info);
  for (const alias of country.alias ?? []) byName.set(alias.toLowerCase(), info);
}
for (const [name, code] of Object.entries(EXTRA_NAMES)) {
  const info = byCode.get(code as TCountryCode);
  if (info !== undefined) byName.set(name, info);
}

/**
 * A country from its ISO alpha-2 code ('CN', 'us') or its English name, an alias, or an official
 * long name ('United States', 'Russian Federation', 'Korea, Republic of'), case-insensitively.
 */
export function lookupCountry(nameOrCode: string): CountryInfo | undefined {
  const text = nameOrCode.trim();
  if (text.length === 2) {
    const info = byCode.get(text.toUpperCase());
    if (info !== undefined) return info;
  }
  return byName.get(text.toLowerCase());
}

/** Continent name ('Asia') for a country name or ISO code; undefined when unknown. */
export function continentForCountry(nameOrCode: string): string | undefined {
  return lookupCountry(nameOrCode)?.continent;
}
