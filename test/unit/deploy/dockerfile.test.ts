// deploy/Dockerfile cannot be built here (no Docker engine), so what can be checked by reading it
// is: everything it copies from the build context exists and gets past .dockerignore, the
// entrypoint is the package's bin, it runs as the numeric UID the chart and the operator expect,
// and both stages use the Node major package.json asks for.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { BRIDGE_UID } from '../../../src/operator/catchpoint-bridge/desired.ts';

const ROOT = join(import.meta.dirname, '../../..');
const dockerfile = await readFile(join(ROOT, 'deploy/Dockerfile'), 'utf8');
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

test('every COPY from the build context exists and is let in by .dockerignore', async () => {
  const ignore = (await readFile(join(ROOT, '.dockerignore'), 'utf8'))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  assert.equal(ignore[0], '*', '.dockerignore is an allow-list');
  const sources = instructions
    .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
    .flatMap((l) => l.split(/\s+/).slice(1, -1));
  assert.deepEqual(sources, ['package.json', 'package-lock.json', 'package.json', 'bin/', 'src/']);
  for (const source of sources) {
    assert.ok(existsSync(join(ROOT, source)), `${source} exists`);
    assert.ok(ignore.includes(`!${source}`), `.dockerignore lets ${source} in`);
  }
});

test('the entrypoint runs the package bin, which imports the CLI', async () => {
  const entrypoint = instructions.find((l) => l.startsWith('ENTRYPOINT '));
  assert.equal(entrypoint, 'ENTRYPOINT ["/nodejs/bin/node", "/app/bin/catchpoint-bridge.js"]');
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  assert.equal(pkg.bin['catchpoint-bridge'], './bin/catchpoint-bridge.js');
  assert.match(
    await readFile(join(ROOT, 'bin/catchpoint-bridge.js'), 'utf8'),
    /import '\.\.\/src\/cli\.ts';/,
  );
});

test('the final stage runs as the numeric UID the chart and the operator use', () => {
  const users = instructions.filter((l) => l.startsWith('USER '));
  assert.deepEqual(users, [`USER ${BRIDGE_UID}:${BRIDGE_UID}`]);
  assert.ok(instructions.indexOf(users[0]!) > instructions.findLastIndex((l) => l.startsWith('FROM ')));
});

test("both stages use the Node major of package.json's engines, production dependencies only", async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  const major = /(\d+)/.exec(pkg.engines.node)?.[1];
  const froms = instructions.filter((l) => l.startsWith('FROM '));
  const [deps, runtime, ...more] = froms.map((f) => f.split(/\s+/)[1] ?? '');
  assert.equal(more.length, 0, 'two stages');
  // A full version tag (or a digest) for the deps stage; both stages on Debian 12 (bookworm).
  assert.match(deps ?? '', new RegExp(`^node:${major}\\.\\d+\\.\\d+-bookworm-slim(@sha256:[a-f0-9]{64})?$`));
  assert.match(
    runtime ?? '',
    new RegExp(`^gcr\\.io/distroless/nodejs${major}-debian12:nonroot(@sha256:[a-f0-9]{64})?$`),
  );
  assert.ok(instructions.some((l) => l.includes('npm ci --omit=dev')));
});
