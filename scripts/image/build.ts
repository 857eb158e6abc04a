// `npm run image [-- --out <dir>]`: the product's OCI image, built without Docker, reproducibly.
// The same commit gives the same digest: every time in it is the commit's (SOURCE_DATE_EPOCH
// overrides), and oci.ts writes tar, gzip and JSON deterministically. Writes <out>/oci/ (an OCI
// image layout), <out>/catchpoint-bridge-<version>.oci.tar (the same, as an OCI archive) and
// <out>/image.json; prints the digest and sizes. <out> defaults to .image/ in the repository.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { writeOciArchive, writeOciLayout } from './oci.ts';
import { gatherLayers, imageCacheDir, ociArchitecture } from './rootfs.ts';
import { IMAGE_NAME, imageRuntimeConfig } from './spec.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const log = (message: string) => console.error(`[image] ${message}`);

/** What a build records about itself in <out>/image.json, for scripts and tests that use the image. */
export interface ImageSummary {
  name: string;
  version: string;
  /** The manifest's digest: what a registry and `crictl images --digests` show. */
  digest: string;
  archive: string;
  layoutDir: string;
  /** The blobs: what a registry stores and a node pulls. */
  compressedBytes: number;
  /** The layers' tars: what a node unpacks. */
  uncompressedBytes: number;
}

/** SOURCE_DATE_EPOCH (reproducible-builds.org) when set, else the commit's time. */
export function sourceDateEpoch(fromEnv: string | undefined, commitTime: string): number {
  const text = fromEnv !== undefined && fromEnv !== '' ? fromEnv : commitTime.trim();
  if (!/^\d+$/.test(text)) throw new Error(`not a Unix time in seconds: '${text}'`);
  return Number(text);
}

function mebibytes(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

async function git(...args: string[]): Promise<string> {
  return (await run('git', args, { cwd: root })).stdout.trim();
}

/** Where builds go unless told otherwise (and where cluster:up --node and the tests take it from). */
export const DEFAULT_OUT = join(root, '.image');

/** Builds the image into `out` (layout, archive, image.json) and returns what it wrote. */
export async function buildImage(out: string = DEFAULT_OUT): Promise<ImageSummary> {
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
  const revision = await git('rev-parse', 'HEAD');
  const created = new Date(
    sourceDateEpoch(process.env.SOURCE_DATE_EPOCH, await git('log', '-1', '--format=%ct')) * 1000,
  );
  const changed = await git('status', '--porcelain', '--', 'src', 'bin', 'package.json', 'package-lock.json');
  if (changed !== '') log(`uncommitted changes go into the image; its revision label says ${revision}`);

  const layers = await gatherLayers({ repoRoot: root, cacheDir: imageCacheDir(), log });
  log(`writing ${layers.length} layers`);
  const layoutDir = join(out, 'oci');
  const image = await writeOciLayout(layoutDir, {
    created,
    architecture: ociArchitecture(),
    os: 'linux',
    config: imageRuntimeConfig({ version, revision }),
    layers,
    refName: version,
  });
  const archive = join(out, `${IMAGE_NAME}-${version}.oci.tar`);
  await writeOciArchive(layoutDir, archive, created);

  const blobs = [image.manifest, image.config, ...image.layers];
  const summary: ImageSummary = {
    name: IMAGE_NAME,
    version,
    digest: image.manifest.digest,
    archive,
    layoutDir,
    compressedBytes: blobs.reduce((sum, blob) => sum + blob.size, 0),
    uncompressedBytes: image.layers.reduce((sum, layer) => sum + layer.uncompressedSize, 0),
  };
  await mkdir(out, { recursive: true });
  await writeFile(join(out, 'image.json'), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: DEFAULT_OUT } } });
  const started = performance.now();
  const summary = await buildImage(resolve(values.out));
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${summary.name}:${summary.version} ${summary.digest}`);
  console.log(
    `${mebibytes(summary.compressedBytes)} compressed, ${mebibytes(summary.uncompressedBytes)} unpacked, built in ${seconds} s`,
  );
  console.log(summary.archive);
}

if (import.meta.main) await main();
