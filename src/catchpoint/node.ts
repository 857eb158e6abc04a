/**
 * What the bridge knows about a Catchpoint node (the enrichment dimensions of notes §11.3), and
 * how to guess it from the push alone when the directory has not loaded or lacks the node.
 *
 * Values are Catchpoint's own text ('Las Vegas', 'United States'); turning them into tag values
 * (spaces, character set) is the mapping's job. A field nobody knows is undefined, never '',
 * because OpenTSDB rejects empty tag values (the seed's defect).
 */
import { lookupCountry } from './geo.ts';
import type { CatchpointPush } from './types.ts';

export interface NodeInfo {
  /** Catchpoint node id, digits. */
  id: string;
  /** "City, CC - ISP" as Catchpoint names the node. */
  name?: string;
  /** AS number, digits only. */
  asn?: string;
  city?: string;
  /** Country name ('United States'). */
  country?: string;
  /** ISO 3166-1 alpha-2 code ('US'). */
  countryCode?: string;
  /** Region or state ('Nevada'); v1 only. */
  region?: string;
  /** Continent ('North America'). */
  continent?: string;
  /** ISP or provider ('Level3', 'AWS'). */
  isp?: string;
  /** Catchpoint network type ('Backbone', 'LastMile', 'PublicCloud', ...). */
  networkType?: string;
}

export interface NodeNameParts {
  city?: string;
  countryCode?: string;
  isp?: string;
}

const ISP_SEPARATOR = ' - ';

/**
 * Splits Catchpoint's node naming convention "City, CC - ISP" ("Jinan, CN - Unicom",
 * "Washington, DC, US - Cogent", "New York, US - Verizon - IPv6"). The ISP is everything after
 * the first " - "; the country code is the last comma-separated part before it, kept only when
 * it is a known ISO code. A name that does not follow the convention yields what it can.
 */
export function parseNodeName(name: string): NodeNameParts {
  const parts: NodeNameParts = {};
  const dash = name.indexOf(ISP_SEPARATOR);
  const place = (dash === -1 ? name : name.slice(0, dash)).trim();
  if (dash !== -1) {
    const isp = name.slice(dash + ISP_SEPARATOR.length).trim();
    if (isp.length > 0) parts.isp = isp;
  }
  const comma = place.lastIndexOf(',');
  if (comma !== -1) {
    const code = place.slice(comma + 1).trim();
    const country = code.length === 2 ? lookupCountry(code) : undefined;
    if (country !== undefined) {
      parts.countryCode = country.code;
      const city = place.slice(0, comma).trim();
      if (city.length > 0) parts.city = city;
      return parts;
    }
  }
  // No ", CC": only trust the place as a city when there was an ISP part to split it from.
  if (dash !== -1 && place.length > 0 && comma === -1) parts.city = place;
  return parts;
}

/** ISP from a node name: the text after the first " - " ('AWS' from 'Frankfurt, DE - AWS'). */
export function ispFromNodeName(name: string): string | undefined {
  const dash = name.indexOf(ISP_SEPARATOR);
  if (dash === -1) return undefined;
  const isp = name.slice(dash + ISP_SEPARATOR.length).trim();
  return isp.length > 0 ? isp : undefined;
}

/**
 * Node metadata from the push alone: id, name and ASN as pushed; city, country code and ISP from
 * the name; country name and continent from the country code. Used when the directory does not
 * (yet) know the node, so pushes are never held up by the REST API. No region, no network type.
 */
export function fallbackNodeInfo(push: CatchpointPush): NodeInfo {
  const info: NodeInfo = { id: push.nodeId };
  if (push.nodeName !== undefined) info.name = push.nodeName;
  if (push.asn !== undefined) info.asn = push.asn;
  if (push.nodeName === undefined) return info;
  const parts = parseNodeName(push.nodeName);
  if (parts.city !== undefined) info.city = parts.city;
  if (parts.countryCode !== undefined) {
    const country = lookupCountry(parts.countryCode);
    info.countryCode = parts.countryCode;
    if (country !== undefined) {
      info.country = country.name;
      info.continent = country.continent;
    }
  }
  if (parts.isp !== undefined) info.isp = parts.isp;
  return info;
}

/**
 * Fills countryCode and continent from the country name, then city and country code from the
 * node name, where the source left them out. Never overwrites what the source said.
 */
export function completeGeography(info: NodeInfo): NodeInfo {
  if (info.country !== undefined) {
    const country = lookupCountry(info.country);
    if (country !== undefined) {
      if (info.countryCode === undefined) info.countryCode = country.code;
      if (info.continent === undefined) info.continent = country.continent;
    }
  }
  if (info.name !== undefined && (info.countryCode === undefined || info.city === undefined)) {
    const parts = parseNodeName(info.name);
    if (info.city === undefined && parts.city !== undefined) info.city = parts.city;
    if (info.countryCode === undefined && parts.countryCode !== undefined) {
      info.countryCode = parts.countryCode;
      const country = lookupCountry(parts.countryCode);
      if (country !== undefined) {
        if (info.country === undefined) info.country = country.name;
        if (info.continent === undefined) info.continent = country.continent;
      }
    }
  }
  return info;
}
