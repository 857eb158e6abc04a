/**
 * Validation of a CatchpointBridge spec outside the API server (standalone config files, and a
 * last check in the bridge before a new generation is swapped in): TypeBox defaults and schema
 * checks, then the CRD's own CEL rules, evaluated with a standard CEL interpreter plus the Kubernetes
 * libraries the rules use (quantity: cel-quantity.ts), so a file the bridge accepts is exactly a CR
 * the API server would admit.
 */

import type { CelInput } from '@bufbuild/cel';
import { isCelError, run } from '@bufbuild/cel';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseAllDocuments } from 'yaml';
import { CodedError, hasCode } from '../shared/errors.ts';
import { QUANTITY_FUNCS } from './cel-quantity.ts';
import { API_GROUP, API_VERSION, CatchpointBridgeSpec, KIND } from './schema.ts';
import type { CatchpointBridge, CatchpointBridgeSpec as Spec } from './types.ts';

export interface ValidationProblem {
  /** JSON-pointer-like path, e.g. `/spec/tsdb/endpoints/0`. */
  path: string;
  message: string;
}

export class InvalidSpecError extends CodedError<'CPB_ERR_INVALID_SPEC'> {
  readonly problems: ValidationProblem[];
  constructor(problems: ValidationProblem[]) {
    super(
      'CPB_ERR_INVALID_SPEC',
      `invalid CatchpointBridge:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`,
    );
    this.problems = problems;
  }
}

interface CelRule {
  rule: string;
  message?: string;
  /** Evaluated like `rule`; its string replaces `message` (which stays the fallback). */
  messageExpression?: string;
  /** Where the API server reports the rule, relative to the schema it sits on: `.a.b`. */
  fieldPath?: string;
}

const CEL_ENV = { funcs: [...QUANTITY_FUNCS] };

function friendlyMessage(schema: TSchema, message: string): string {
  if (message === 'Expected required property') return 'is required';
  const options = (schema.anyOf as TSchema[] | undefined)?.map((s) => s.const);
  if (options?.every((o) => typeof o === 'string')) return `must be one of: ${options.join(', ')}`;
  if (typeof schema.pattern === 'string' && message.startsWith('Expected string to match')) {
    return `${message}${schema.description ? ` (${schema.description})` : ''}`;
  }
  return message;
}

/** Returns the spec with every default applied; throws InvalidSpecError listing every problem. */
export function validateSpec(input: unknown, basePath = '/spec'): Spec {
  const defaulted = Value.Default(CatchpointBridgeSpec, structuredClone(input ?? {}));
  const problems: ValidationProblem[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(CatchpointBridgeSpec, defaulted)) {
    // One line per path: TypeBox reports a missing property also as a type mismatch, and a
    // union mismatch once per branch.
    if (seen.has(error.path)) continue;
    seen.add(error.path);
    problems.push({ path: basePath + error.path, message: friendlyMessage(error.schema, error.message) });
  }
  // CEL rules run even when the schema found problems, so one run lists them all; a rule that
  // cannot be evaluated because of a type problem already reported is not reported again.
  checkCelRules(CatchpointBridgeSpec, defaulted, basePath, problems, problems.length > 0);
  if (problems.length > 0) throw new InvalidSpecError(problems);
  return defaulted as Spec;
}

/** Validates a whole CatchpointBridge object (as read from a manifest or the API server). */
export function validateCatchpointBridge(input: unknown): CatchpointBridge {
  const problems: ValidationProblem[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidSpecError([{ path: '/', message: 'expected a CatchpointBridge object' }]);
  }
  const obj = input as Record<string, unknown>;
  if (obj.apiVersion !== `${API_GROUP}/${API_VERSION}`) {
    problems.push({ path: '/apiVersion', message: `expected ${API_GROUP}/${API_VERSION}` });
  }
  if (obj.kind !== KIND) problems.push({ path: '/kind', message: `expected ${KIND}` });
  const metadata = obj.metadata as Record<string, unknown> | undefined;
  if (typeof metadata?.name !== 'string' || metadata.name === '') {
    problems.push({ path: '/metadata/name', message: 'a name is required' });
  }
  let spec: Spec | undefined;
  try {
    spec = validateSpec(obj.spec);
  } catch (err) {
    if (!hasCode(err, 'CPB_ERR_INVALID_SPEC')) throw err;
    problems.push(...(err as InvalidSpecError).problems);
  }
  if (problems.length > 0 || spec === undefined) throw new InvalidSpecError(problems);
  return { ...(obj as unknown as CatchpointBridge), spec };
}

/** Parses a YAML (or JSON) manifest holding exactly one CatchpointBridge. */
export function parseCatchpointBridgeManifest(text: string): CatchpointBridge {
  const docs = parseAllDocuments(text).filter((d) => d.contents !== null);
  const bridges = docs.map((d) => {
    if (d.errors.length > 0) {
      throw new InvalidSpecError(d.errors.map((e) => ({ path: '/', message: `YAML: ${e.message}` })));
    }
    return d.toJS() as unknown;
  });
  const matching = bridges.filter((b) => (b as { kind?: unknown } | null)?.kind === KIND);
  if (matching.length !== 1) {
    throw new InvalidSpecError([
      { path: '/', message: `expected exactly one ${KIND} document, found ${matching.length}` },
    ]);
  }
  return validateCatchpointBridge(matching[0]);
}

/** Walks schema and value together and evaluates every `x-kubernetes-validations` rule. */
function checkCelRules(
  schema: TSchema,
  value: unknown,
  path: string,
  problems: ValidationProblem[],
  quietEvalErrors: boolean,
): void {
  if (value === undefined) return;
  const rules = (schema as { 'x-kubernetes-validations'?: CelRule[] })['x-kubernetes-validations'];
  if (rules !== undefined) {
    const self = toCel(schema, value);
    for (const { rule, message, messageExpression, fieldPath } of rules) {
      // A transition rule compares an update with the stored object: only an API server has both.
      if (/\boldSelf\b/.test(rule)) continue;
      const result = run(rule, { self }, CEL_ENV);
      if (isCelError(result)) {
        if (quietEvalErrors) continue;
        problems.push({ path, message: `rule could not be evaluated (${rule}): ${result.message}` });
      } else if (result !== true) {
        const expressed =
          messageExpression === undefined ? undefined : run(messageExpression, { self }, CEL_ENV);
        problems.push({
          path: withFieldPath(path, fieldPath),
          message:
            typeof expressed === 'string' && expressed !== ''
              ? expressed
              : (message ?? `failed rule: ${rule}`),
        });
      }
    }
  }
  if (schema.type === 'object' && schema.properties && typeof value === 'object' && value !== null) {
    for (const [key, child] of Object.entries(schema.properties as Record<string, TSchema>)) {
      checkCelRules(
        child,
        (value as Record<string, unknown>)[key],
        `${path}/${key}`,
        problems,
        quietEvalErrors,
      );
    }
  } else if (schema.type === 'array' && schema.items && Array.isArray(value)) {
    value.forEach((item, i) => {
      checkCelRules(schema.items as TSchema, item, `${path}/${i}`, problems, quietEvalErrors);
    });
  }
}

/** The problem's path for a rule's fieldPath; only the `.a.b` form (the one schema.ts uses). */
function withFieldPath(path: string, fieldPath: string | undefined): string {
  if (fieldPath === undefined) return path;
  if (!/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(fieldPath)) throw new Error(`unsupported fieldPath ${fieldPath}`);
  return path + fieldPath.replaceAll('.', '/');
}

/**
 * Converts a JSON value to CEL input the way the API server types it: objects become maps and
 * schema integers become CEL ints (bigint), so `size(list) <= self.maxTags` compares int to int.
 */
function toCel(schema: TSchema | undefined, value: unknown): CelInput {
  if (Array.isArray(value)) return value.map((v) => toCel(schema?.items as TSchema | undefined, v));
  if (typeof value === 'number') return schema?.type === 'integer' ? BigInt(value) : value;
  if (typeof value === 'object' && value !== null) {
    const props = (schema?.properties ?? {}) as Record<string, TSchema>;
    const additional = schema?.additionalProperties;
    const map = new Map<string, CelInput>();
    for (const [k, v] of Object.entries(value)) {
      const childSchema = props[k] ?? (typeof additional === 'object' ? (additional as TSchema) : undefined);
      map.set(k, toCel(childSchema, v));
    }
    return map;
  }
  return value as CelInput;
}
