// deploy/Dockerfile cannot be built here (no Docker engine), so what can be checked by reading it
// is: everything it copies from the build context exists and gets past .dockerignore, the
// entrypoint is the package's bin, it runs as the numeric UID the chart and the operator expect,
// every stage uses the Node major package.json asks for, and its final stage configures the image
// as scripts/image/spec.ts does (what `npm run image` builds without Docker).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  APP_ENV,
  IMAGE_CMD,
  IMAGE_ENTRYPOINT,
  IMAGE_USER,
  IMAGE_WORKDIR,
  imageRuntimeConfig,
  STATIC_LABELS,
} from '../../../scripts/image/spec.ts';
import { BRIDGE_UID } from '../../../src/operator/catchpoint-bridge/desired.ts';
import { RUNTIME_NODE_FLAGS } from '../../../src/shared/node-flags.ts';

const ROOT = join(import.meta.dirname, '../../..');
const dockerfile = await readFile(join(ROOT, 'deploy/Dockerfile'), 'utf8');
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

describe('dockerfile', () => {
  it('every COPY from the build context exists and is let in by .dockerignore', async () => {
    const ignore = (await readFile(join(ROOT, '.dockerignore'), 'utf8'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    assert.equal(ignore[0], '*', '.dockerignore is an allow-list');
    const sources = instructions
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    assert.deepEqual(sources, [
      'package.json',
      'package-lock.json',
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src/',
      'package.json',
      'bin/',
    ]);
    for (const source of sources) {
      assert.ok(existsSync(join(ROOT, source)), `${source} exists`);
      assert.ok(ignore.includes(`!${source}`), `.dockerignore lets ${source} in`);
    }
  });

  it('the entrypoint runs the package bin, which imports the compiled CLI the build stage makes', async () => {
    const entrypoint = instructions.find((l) => l.startsWith('ENTRYPOINT '));
    assert.ok(entrypoint?.startsWith('ENTRYPOINT ['), 'exec form');
    assert.deepEqual(
      JSON.parse((entrypoint ?? '').slice('ENTRYPOINT '.length)),
      ['/nodejs/bin/node', ...RUNTIME_NODE_FLAGS, '/app/bin/catchpoint-bridge.js'],
      'node with the flags of src/shared/node-flags.ts, then the package bin',
    );
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    assert.equal(pkg.bin['catchpoint-bridge'], './bin/catchpoint-bridge.js');
    assert.match(
      await readFile(join(ROOT, 'bin/catchpoint-bridge.js'), 'utf8'),
      /new URL\('\.\.\/dist\/cli\.js', import\.meta\.url\)/,
    );
    assert.ok(instructions.includes('RUN npx tsc -p tsconfig.build.json'));
    assert.ok(instructions.includes('COPY --from=build /app/dist/ ./dist/'));
  });

  it('the final stage runs as the numeric UID the chart and the operator use', () => {
    const users = instructions.filter((l) => l.startsWith('USER '));
    assert.deepEqual(users, [`USER ${BRIDGE_UID}:${BRIDGE_UID}`]);
    assert.ok(instructions.indexOf(users[0]!) > instructions.findLastIndex((l) => l.startsWith('FROM ')));
  });

  it("every stage uses the Node major of package.json's engines; the runtime gets production dependencies only", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    const major = /(\d+)/.exec(pkg.engines.node)?.[1];
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    assert.equal(froms.length, 3, 'three stages: deps, build, runtime');
    const [deps, build, final] = froms.map((f) => f.split(/\s+/)[1] ?? '');
    // A full version tag (or a digest) for the Node stages; all on Debian 12 (bookworm).
    for (const stage of [deps, build]) {
      assert.match(
        stage ?? '',
        new RegExp(`^node:${major}\\.\\d+\\.\\d+-bookworm-slim(@sha256:[a-f0-9]{64})?$`),
      );
    }
    assert.match(
      final ?? '',
      new RegExp(`^gcr\\.io/distroless/nodejs${major}-debian12:nonroot(@sha256:[a-f0-9]{64})?$`),
    );
    assert.ok(instructions.some((l) => l.includes('npm ci --omit=dev')));
  });

  /** `K=V` and `K="V w/ spaces"` pairs, as ENV and LABEL take them. */
  function keyValues(text: string): [string, string][] {
    return [...text.matchAll(/([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S+)/g)].map(([, key, value]) => [
      key ?? '',
      value?.startsWith('"') ? (JSON.parse(value) as string) : (value ?? ''),
    ]);
  }

  it("the final stage configures the image as scripts/image/spec.ts does (npm run image's config)", () => {
    const final = instructions.slice(instructions.findLastIndex((l) => l.startsWith('FROM ')) + 1);
    const args = (keyword: string) =>
      final.filter((l) => l.startsWith(`${keyword} `)).map((l) => l.slice(keyword.length).trim());
    assert.deepEqual(args('USER'), [IMAGE_USER]);
    assert.deepEqual(
      args('ENTRYPOINT').map((a) => JSON.parse(a) as unknown),
      [IMAGE_ENTRYPOINT],
    );
    assert.deepEqual(
      args('CMD').map((a) => JSON.parse(a) as unknown),
      [IMAGE_CMD],
    );
    assert.deepEqual(args('WORKDIR'), [IMAGE_WORKDIR]);
    assert.deepEqual(
      args('ENV').flatMap((a) => keyValues(a).map(([key, value]) => `${key}=${value}`)),
      APP_ENV,
      'the ENV the Dockerfile sets (its base image supplies PATH)',
    );
    assert.deepEqual(
      args('EXPOSE')
        .flatMap((a) => a.split(/\s+/))
        .map((port) => (port.includes('/') ? port : `${port}/tcp`)),
      Object.keys(imageRuntimeConfig({ version: '0', revision: '0' }).ExposedPorts),
    );
    assert.deepEqual(Object.fromEntries(args('LABEL').flatMap(keyValues)), STATIC_LABELS);
  });
});
