/**
 * Keys of a parsed push's internal state, shared by push.ts (which fills them), measurement.ts
 * (which reads them) and types.ts (CatchpointPush declares them). Symbol keys keep the parsed
 * body out of JSON.stringify and out of pino's serialisers, so logging a push never logs a whole
 * webhook body.
 */
export const kPushBody: unique symbol = Symbol('catchpoint-bridge.push.body');
export const kPushSummary: unique symbol = Symbol('catchpoint-bridge.push.summary');
export const kPushTemplate: unique symbol = Symbol('catchpoint-bridge.push.template');
