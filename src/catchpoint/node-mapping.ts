/**
 * Catchpoint REST node items → NodeInfo (notes §10.4, §11.2, §11.3), as pure functions.
 *
 *  | NodeInfo    | v1 /ui/api/v1/nodes item      | v2 /api/v2/nodes/all item              |
 *  |-------------|-------------------------------|----------------------------------------|
 *  | id          | id                            | id                                     |
 *  | asn         | digits of asn.value ("AS3356")| asn.id                                 |
 *  | city        | city.name                     | city.name                              |
 *  | country     | country.name                  | country.name                           |
 *  | countryCode | from country (countries-list) | from country (countries-list)          |
 *  | region      | region.name                   | — (not in the model)                   |
 *  | continent   | continent.name                | from country (countries-list)          |
 *  | isp         | isp.name                      | text after " - " in the node name      |
 *  | networkType | network_type.name             | networkType.name                       |
 *
 * Where a source lacks a field, the node name fills it if it can. An item without a usable id
 * is skipped (undefined): a node the bridge cannot key on is no use to it.
 */

import { completeGeography, ispFromNodeName, type NodeInfo } from './node.ts';
import { isObject } from './path.ts';
import { isDigits } from './timestamp.ts';

const MAX_ASN = 4294967295;
const AS_PREFIX = /^\s*AS\s*(\d{1,10})\b/i;

export function mapV1Node(item: unknown): NodeInfo | undefined {
  return mapNode(item, (v1) => ({
    asn: asnFromV1(v1.asn),
    region: nameOf(v1.region),
    continent: nameOf(v1.continent),
    isp: nameOf(v1.isp),
    networkType: nameOf(v1.network_type),
  }));
}

export function mapV2Node(item: unknown): NodeInfo | undefined {
  // The public-node model has no region, continent or ISP; richer live responses may.
  return mapNode(item, (v2) => ({
    asn: isObject(v2.asn) ? asnNumber(v2.asn.id) : asnNumber(v2.asn),
    region: nameOf(v2.state) ?? nameOf(v2.region),
    continent: nameOf(v2.continent),
    isp: nameOf(v2.internetServiceProvider) ?? nameOf(v2.isp),
    networkType: nameOf(v2.networkType),
  }));
}

/** The fields v1 and v2 keep in different places (id, name, city and country they share). */
type ApiFields = Pick<NodeInfo, 'asn' | 'region' | 'continent' | 'isp' | 'networkType'>;

/** The steps both APIs share around what `read` takes from the item. */
function mapNode(item: unknown, read: (item: Record<string, unknown>) => ApiFields): NodeInfo | undefined {
  if (!isObject(item)) return undefined;
  const id = nodeId(item.id);
  if (id === undefined) return undefined;
  const name = text(item.name);
  const fields = read(item);
  const info: NodeInfo = { id };
  set(info, 'name', name);
  set(info, 'asn', fields.asn);
  set(info, 'city', nameOf(item.city));
  set(info, 'country', nameOf(item.country));
  set(info, 'region', fields.region);
  set(info, 'continent', fields.continent);
  set(info, 'isp', fields.isp ?? (name === undefined ? undefined : ispFromNodeName(name)));
  set(info, 'networkType', fields.networkType);
  return completeGeography(info);
}

function set(info: NodeInfo, key: Exclude<keyof NodeInfo, 'id'>, value: string | undefined): void {
  if (value !== undefined) info[key] = value;
}

function nodeId(value: unknown): string | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value > 0 ? String(value) : undefined;
  }
  if (typeof value === 'string' && isDigits(value) && value.length <= 16) {
    const n = Number(value);
    return Number.isSafeInteger(n) && n > 0 ? String(n) : undefined;
  }
  return undefined;
}

function text(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed.length === 0 ? undefined : trimmed;
}

/** `{id, name}` references (and plain strings, should a source flatten them). */
function nameOf(value: unknown): string | undefined {
  return isObject(value) ? text(value.name) : text(value);
}

function asnNumber(value: unknown): string | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 1 && value <= MAX_ASN ? String(value) : undefined;
  }
  if (typeof value === 'string') return asnFromText(value);
  return undefined;
}

function asnFromText(value: string): string | undefined {
  const trimmed = value.trim();
  const digits = isDigits(trimmed) ? trimmed : AS_PREFIX.exec(trimmed)?.[1];
  if (digits === undefined || digits.length > 10) return undefined;
  const n = Number(digits);
  return n >= 1 && n <= MAX_ASN ? String(n) : undefined;
}

/** v1: `asn: {value: "AS3356", name: "LEVEL3"}` (NS1 took the digits after "AS"). */
function asnFromV1(value: unknown): string | undefined {
  if (isObject(value)) return asnNumber(value.value) ?? asnNumber(value.id);
  return asnNumber(value);
}
