/**
 * The push stream the benchmarks send: Catchpoint's default JSON (the bodies of
 * test/harness/push-stream.ts `pushBody`, byte for byte) over many tests and nodes, every push
 * distinct in (TestId, NodeId, Timestamp) so that de-duplication never hides one.
 *
 * Push i goes to node i mod N of test ⌊i / N⌋ mod T at `baseMs + i` ms: each test sees every node
 * in turn, the way Catchpoint pushes arrive. Bodies are built from per-(test, node) prefixes and
 * a per-second timestamp cache, so the load generator spends its core on sending, not on
 * JSON.stringify.
 */
import { type PushSpecimen, pushBody } from '../../test/harness/push-stream.ts';

export interface BenchNode {
  id: number;
  name: string;
  asn: number;
}

/** Datapoints per push under the default spec: 7 dimensions × (rtt, status). */
export const POINTS_PER_PUSH = 14;

export class PushSource {
  readonly #nodes: readonly BenchNode[];
  readonly #tests: readonly number[];
  readonly #prefixes: string[][];
  readonly #baseMs: number;
  #next = 0;
  #stampSecond = Number.NaN;
  #stampPrefix = '';

  /** `baseMs`: timestamp of the first push; later pushes are 1 ms apart. */
  constructor(tests: readonly number[], nodes: readonly BenchNode[], baseMs: number) {
    if (tests.length === 0 || nodes.length === 0) throw new Error('PushSource needs tests and nodes');
    this.#tests = tests;
    this.#nodes = nodes;
    this.#baseMs = baseMs;
    this.#prefixes = tests.map((testId) =>
      nodes.map(
        (n) =>
          '{"Version":3,"V":3,"TestDetail":{"Name":"DNS check","TypeId":5,"MonitorTypeId":13},' +
          `"TestId":${testId},"NodeId":${n.id},"NodeName":${JSON.stringify(n.name)},"Asn":${n.asn},` +
          '"DivisionId":1033,"ClientId":1234,"Summary":{"V":1,"Timestamp":"',
      ),
    );
  }

  /** Pushes handed out so far. */
  get count(): number {
    return this.#next;
  }

  /** The specimen of push `i` (what pushBody would be given). */
  specimen(i: number): PushSpecimen {
    const n = this.#nodes.length;
    const node = this.#nodes[i % n]!;
    return {
      testId: this.#tests[Math.floor(i / n) % this.#tests.length]!,
      nodeId: node.id,
      nodeName: node.name,
      asn: node.asn,
      timestampMs: this.#baseMs + i,
      totalMs: 10 + (i % 500),
    };
  }

  /** The body of push `i`. */
  body(i: number): string {
    const n = this.#nodes.length;
    const prefix = this.#prefixes[Math.floor(i / n) % this.#tests.length]![i % n]!;
    const ts = this.#baseMs + i;
    const second = Math.floor(ts / 1000);
    if (second !== this.#stampSecond) {
      this.#stampSecond = second;
      const d = new Date(second * 1000);
      const p2 = (v: number) => String(v).padStart(2, '0');
      this.#stampPrefix = `${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}`;
    }
    const ms = ts - second * 1000;
    const msText = ms < 10 ? `00${ms}` : ms < 100 ? `0${ms}` : String(ms);
    return `${prefix}${this.#stampPrefix}${msText}","Timing":{"Total":${10 + (i % 500)}},"Request":"www.example.com"}}`;
  }

  /** The next push body. */
  next(): string {
    return this.body(this.#next++);
  }

  /** Throws unless `body(i)` equals the harness's pushBody for a spread of pushes. */
  selfCheck(): void {
    const n = this.#nodes.length * this.#tests.length;
    for (const i of [0, 1, 7, 999, 1000, 1001, n - 1, n, n + 12_345]) {
      const want = pushBody(this.specimen(i));
      const got = this.body(i);
      if (got !== want) throw new Error(`push body ${i} differs from pushBody():\n${got}\n${want}`);
    }
    this.#stampSecond = Number.NaN;
  }
}
