// `npm run image` for real (apt, npm ci, tsc; about a minute): two builds, the first with a cold
// cache of its own, give the same digest and the same archive; the layers hold the runtime, the
// app and its production dependencies and nothing of the development tree; and the unpacked
// rootfs runs the CLI on its own libc (chroot, as root) as the image's user.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { ImageSummary } from '../../../scripts/image/build.ts';
import { IMAGE_UID, imageRuntimeConfig } from '../../../scripts/image/spec.ts';
import { readBlob, readJson, readManifest, readTar, type TarEntry } from '../../support/oci.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');
const BUILD_TIMEOUT_MS = 10 * 60_000;

const scratch = await mkdtemp(join(tmpdir(), 'image-test-'));
after(() => rm(scratch, { recursive: true, force: true }));

interface Build {
  stdout: string;
  summary: ImageSummary;
}

async function build(name: string, cache: string): Promise<Build> {
  const out = join(scratch, name);
  const { stdout } = await run(process.execPath, [join(ROOT, 'scripts/image/build.ts'), '--out', out], {
    env: { ...process.env, CATCHPOINT_BRIDGE_CACHE: cache },
    maxBuffer: 16 * 2 ** 20,
    timeout: BUILD_TIMEOUT_MS,
  });
  return { stdout, summary: await readJson<ImageSummary>(join(out, 'image.json')) };
}

const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

let cold: Build;
let warm: Build;
/** Every entry of the image, later layers over earlier ones, by path without a trailing slash. */
const files = new Map<string, TarEntry>();
let config: { created: string; config: ReturnType<typeof imageRuntimeConfig> };
let layers: TarEntry[][];

before(
  async () => {
    const cache = join(scratch, 'cache');
    cold = await build('cold', cache);
    warm = await build('warm', cache);
    const { manifest } = await readManifest(cold.summary.layoutDir);
    config = JSON.parse(
      (await readBlob(cold.summary.layoutDir, manifest.config.digest)).toString(),
    ) as typeof config;
    layers = [];
    for (const layer of manifest.layers)
      layers.push(await readTar(await readBlob(cold.summary.layoutDir, layer.digest)));
    for (const entry of layers.flat()) files.set(entry.header.name.replace(/\/$/, ''), entry);
  },
  { timeout: 2 * BUILD_TIMEOUT_MS },
);

describe('image', () => {
  it('the same commit built twice, from a cold cache and a warm one, gives the same digest and archive', async () => {
    assert.match(cold.summary.digest, /^sha256:[a-f0-9]{64}$/);
    assert.equal(warm.summary.digest, cold.summary.digest);
    assert.ok(cold.stdout.includes(cold.summary.digest), 'the digest is printed');
    assert.match(cold.stdout, /MiB compressed, [\d.]+ MiB unpacked/);
    assert.equal(await sha256(warm.summary.archive), await sha256(cold.summary.archive));
    const { version } = await readJson<{ version: string }>(join(ROOT, 'package.json'));
    assert.equal(cold.summary.version, version);
    assert.ok(cold.summary.archive.endsWith(`/catchpoint-bridge-${version}.oci.tar`));
    const index = await readJson<{ manifests: { annotations: Record<string, string> }[] }>(
      join(cold.summary.layoutDir, 'index.json'),
    );
    assert.equal(index.manifests[0]?.annotations['org.opencontainers.image.ref.name'], version);
  });

  it("the config is spec.ts's, with the commit's sha and time", async () => {
    const { version } = await readJson<{ version: string }>(join(ROOT, 'package.json'));
    const revision = (await run('git', ['rev-parse', 'HEAD'], { cwd: ROOT })).stdout.trim();
    const commitTime = Number((await run('git', ['log', '-1', '--format=%ct'], { cwd: ROOT })).stdout.trim());
    const expectedTime = Number(process.env.SOURCE_DATE_EPOCH || commitTime);
    assert.deepEqual(config.config, imageRuntimeConfig({ version, revision }));
    assert.equal(Date.parse(config.created) / 1000, expectedTime);
    for (const { header } of layers.flat()) {
      assert.equal(header.mtime.getTime() / 1000, expectedTime, header.name);
      assert.equal(header.uid, 0, header.name);
      assert.equal(header.gid, 0, header.name);
    }
  });

  it('the image holds Node, the app and /etc as the entrypoint needs them', () => {
    const node = files.get('nodejs/bin/node');
    assert.equal(node?.header.type, 'file');
    assert.equal(node?.header.mode, 0o755);
    for (const path of ['app/package.json', 'app/bin/catchpoint-bridge.js', 'app/dist/cli.js']) {
      assert.equal(files.get(path)?.header.type, 'file', path);
    }
    assert.equal(files.get('lib64/ld-linux-x86-64.so.2')?.header.type, 'symlink', 'the ELF interpreter');
    assert.equal(files.get('tmp')?.header.mode, 0o1777);
    assert.match(
      files.get('etc/passwd')?.data.toString() ?? '',
      new RegExp(`^nonroot:x:${IMAGE_UID}:${IMAGE_UID}:`, 'm'),
    );
    assert.match(files.get('etc/group')?.data.toString() ?? '', new RegExp(`^nonroot:x:${IMAGE_UID}:`, 'm'));
  });

  it('nothing of development: no devDependency, no sources or tests, no Debian docs', async () => {
    const lock = await readJson<{ packages: Record<string, { dev?: boolean }> }>(
      join(ROOT, 'package-lock.json'),
    );
    const devOnly = Object.entries(lock.packages)
      .filter(([, pkg]) => pkg.dev === true)
      .map(([path]) => `app/${path}`);
    for (const name of ['typescript', '@biomejs/biome', 'fast-check', 'autocannon', 'node']) {
      assert.ok(
        devOnly.includes(`app/node_modules/${name}`),
        `${name} is a devDependency (the check below is not empty)`,
      );
    }
    const present = devOnly.filter((path) => files.has(path));
    assert.deepEqual(present, [], 'devDependencies in /app/node_modules');
    const typescript = [...files.keys()].filter(
      (path) => /\.[cm]?ts$/.test(path) && !path.startsWith('app/node_modules/'),
    );
    assert.deepEqual(typescript, [], '.ts files outside node_modules');
    const app = [...files.keys()].filter((path) => /^app\/[^/]+$/.test(path)).sort();
    assert.deepEqual(app, ['app/bin', 'app/dist', 'app/node_modules', 'app/package.json']);
    assert.deepEqual(
      [...files.keys()].filter((path) =>
        /^usr\/share\/(doc\/[^/]+\/(?!copyright$)|man\/|locale\/)/.test(path),
      ),
      [],
    );
  });

  /** Unpacks the layers in order into dir (they hold no whiteouts: each adds files). */
  async function unpack(dir: string): Promise<void> {
    for (const entry of layers.flat()) {
      const path = join(dir, entry.header.name);
      if (entry.header.type === 'directory') {
        await mkdir(path, { recursive: true });
        await chmod(path, entry.header.mode);
      } else if (entry.header.type === 'symlink') {
        await mkdir(dirname(path), { recursive: true });
        await rm(path, { force: true });
        await symlink(entry.header.linkname, path);
      } else {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, entry.data, { mode: entry.header.mode });
        await chmod(path, entry.header.mode);
      }
    }
  }

  it('the unpacked rootfs runs the CLI as the image user, on its own libc', {
    skip: process.getuid?.() !== 0 && 'chroot needs root',
  }, async () => {
    const rootfs = join(scratch, 'rootfs');
    await mkdir(rootfs);
    await chmod(rootfs, 0o755); // the image's user must be able to enter /
    await unpack(rootfs);
    const { User, Entrypoint, Cmd, Env } = config.config;
    const env = Object.fromEntries(
      Env.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    );
    // chroot: the host's /lib is out of reach, so Node loads the image's libc, libstdc++, libgcc_s.
    // Exit 0 or run() rejects; the CLI writes its usage to stderr.
    const { stderr } = await run('chroot', [`--userspec=${User}`, rootfs, ...Entrypoint, ...Cmd], { env });
    assert.match(stderr, /^usage: catchpoint-bridge <command>/m);
    assert.match(stderr, /operator\s+run the operator/);
    const who = await run(
      'chroot',
      [
        `--userspec=${User}`,
        rootfs,
        Entrypoint[0]!,
        '-p',
        'JSON.stringify([process.getuid(), require("os").userInfo().username, process.version])',
      ],
      { env },
    );
    const [uid, username, version] = JSON.parse(who.stdout) as [number, string, string];
    assert.equal(uid, IMAGE_UID);
    assert.equal(username, 'nonroot');
    assert.match(version, /^v24\./);
  });
});
