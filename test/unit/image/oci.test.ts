// The deterministic tar and OCI layout writer: same entries, same bytes, whatever the input order,
// the files' mtimes or modes on disk; normalized headers; symlinks kept; a layout tools can read.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import {
  type ImageDefinition,
  type LayerEntry,
  MEDIA_TYPES,
  normalizePath,
  planLayer,
  writeLayerBlob,
  writeOciArchive,
  writeOciLayout,
} from '../../../scripts/image/oci.ts';
import { treeEntries } from '../../../scripts/image/rootfs.ts';
import { type Manifest, readBlob, readJson, readManifest, readTar } from '../../support/oci.ts';

const MTIME = new Date(1_700_000_000 * 1000);
const scratch = await mkdtemp(join(tmpdir(), 'oci-test-'));
after(() => rm(scratch, { recursive: true, force: true }));
let dirs = 0;
async function freshDir(): Promise<string> {
  const dir = join(scratch, String(dirs++));
  await mkdir(dir, { recursive: true });
  return dir;
}

/** A blob written straight into a blobs directory (writeLayerBlob's), not a layout. */
const blobIn = (blobsDir: string, digest: string) => readFile(join(blobsDir, digest.slice('sha256:'.length)));
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** The same tree on disk twice, made in a different order, with different mtimes and modes. */
async function makeTree(root: string, variant: 0 | 1): Promise<void> {
  const steps = [
    async () => {
      await mkdir(join(root, 'bin'), { recursive: true });
      await chmod(join(root, 'bin'), variant ? 0o700 : 0o755);
      await writeFile(join(root, 'bin', 'run.js'), '#!/usr/bin/env node\n');
      await chmod(join(root, 'bin', 'run.js'), variant ? 0o700 : 0o775);
    },
    async () => {
      await mkdir(join(root, 'lib', 'deep'), { recursive: true });
      await writeFile(join(root, 'lib', 'deep', 'a.js'), 'export const a = 1;\n');
      await chmod(join(root, 'lib', 'deep', 'a.js'), variant ? 0o600 : 0o664);
      await writeFile(join(root, 'lib', 'empty'), '');
    },
    async () => {
      await mkdir(join(root, 'bin'), { recursive: true });
      await symlink('../lib/deep/a.js', join(root, 'bin', 'a'));
    },
  ];
  for (const step of variant ? [...steps].reverse() : steps) await step();
  for (const [file, seconds] of [
    ['bin/run.js', 1],
    ['lib/deep/a.js', 2],
    ['lib', 3],
  ] as const) {
    await utimes(join(root, file), seconds + variant * 1000, seconds + variant * 1000);
  }
}

describe('oci', () => {
  it('paths are relative and normalized; .. is refused', () => {
    assert.equal(normalizePath('./usr/lib/'), 'usr/lib');
    assert.equal(normalizePath('/app//bin/./x'), 'app/bin/x');
    assert.equal(normalizePath('./'), '');
    assert.throws(() => normalizePath('app/../etc/passwd'), /\.\./);
  });

  it('a planned layer is sorted, has every parent, and only normalized modes', () => {
    const entries: LayerEntry[] = [
      { type: 'file', path: '/app/bin/run.js', mode: 0o100700, data: Buffer.from('x') },
      { type: 'file', path: 'app/package.json', mode: 0o100600, data: Buffer.from('{}') },
      { type: 'directory', path: 'tmp/', mode: 0o41777 },
      { type: 'directory', path: 'app', mode: 0o40700 },
      { type: 'directory', path: './', mode: 0o40700 },
      { type: 'symlink', path: 'lib64/ld.so', target: '/lib/ld.so' },
    ];
    const planned = planLayer(entries);
    assert.deepEqual(
      planned.map((e) => [e.path, e.type, e.type === 'symlink' ? e.target : e.mode.toString(8)]),
      [
        ['app', 'directory', '755'],
        ['app/bin', 'directory', '755'],
        ['app/bin/run.js', 'file', '755'],
        ['app/package.json', 'file', '644'],
        ['lib64', 'directory', '755'],
        ['lib64/ld.so', 'symlink', '/lib/ld.so'],
        ['tmp', 'directory', '1777'],
      ],
    );
    assert.deepEqual(planLayer([...entries].reverse()), planned, 'input order does not matter');
  });

  it('the same path twice is fine when both agree, an error when they do not', () => {
    const dir: LayerEntry = { type: 'directory', path: 'usr', mode: 0o755 };
    const file: LayerEntry = { type: 'file', path: 'usr/x', mode: 0o644, data: Buffer.from('a') };
    assert.equal(planLayer([dir, file, dir, { ...file, data: Buffer.from('a') }]).length, 2);
    assert.throws(() => planLayer([file, { ...file, data: Buffer.from('b') }]), /usr\/x is given twice/);
    assert.throws(
      () =>
        planLayer([{ type: 'symlink', path: 'lib', target: 'usr/lib' }, file, { ...file, path: 'lib/x' }]),
      /parent lib is a symlink/,
    );
    assert.throws(
      () =>
        planLayer([
          { ...file, path: 'lib/x' },
          { type: 'symlink', path: 'lib', target: 'usr/lib' },
        ]),
      /lib is given twice/,
    );
  });

  it('a layer is byte-identical for the same files, whatever their order, mtimes and modes on disk', async () => {
    const [a, b] = [await freshDir(), await freshDir()];
    await makeTree(a, 0);
    await makeTree(b, 1);
    const entriesA = await treeEntries(a, 'app');
    const entriesB = (await treeEntries(b, 'app')).reverse();
    const [blobsA, blobsB] = [await freshDir(), await freshDir()];
    const layerA = await writeLayerBlob(blobsA, entriesA, MTIME);
    const layerB = await writeLayerBlob(blobsB, entriesB, MTIME);
    assert.deepEqual(layerA, layerB);
    const bytes = await blobIn(blobsA, layerA.digest);
    assert.deepEqual(bytes, await blobIn(blobsB, layerB.digest));
    assert.equal(layerA.digest, sha256(bytes));
    assert.equal(layerA.size, bytes.byteLength);
    assert.equal(layerA.diffId, sha256(gunzipSync(bytes)), 'diff_id is the uncompressed tar');
    assert.equal(layerA.uncompressedSize, gunzipSync(bytes).byteLength);
    assert.equal(layerA.mediaType, MEDIA_TYPES.layer);
    assert.deepEqual(await readdir(blobsA), [layerA.digest.slice('sha256:'.length)], 'no partial file left');

    const other = await writeLayerBlob(await freshDir(), entriesA, new Date(MTIME.getTime() + 1000));
    assert.notEqual(other.digest, layerA.digest, 'the mtime given is in the bytes');
  });

  it('every header field is set: root owner, no names, one mtime, normalized modes, symlinks kept', async () => {
    const root = await freshDir();
    await makeTree(root, 1);
    const longName = `${'d'.repeat(60)}/${'f'.repeat(90)}.js`;
    const blobs = await freshDir();
    const layer = await writeLayerBlob(
      blobs,
      [
        ...(await treeEntries(root, 'app')),
        { type: 'directory', path: 'tmp', mode: 0o1777 },
        { type: 'file', path: `app/${longName}`, mode: 0o644, data: Buffer.from('long') },
        { type: 'symlink', path: 'app/far', target: `/${'t'.repeat(120)}` },
      ],
      MTIME,
    );
    const entries = await readTar(await blobIn(blobs, layer.digest));
    const byName = new Map(entries.map((e) => [e.header.name, e]));
    for (const { header } of entries) {
      assert.equal(header.uid, 0, header.name);
      assert.equal(header.gid, 0, header.name);
      assert.equal(header.uname, '', header.name);
      assert.equal(header.gname, '', header.name);
      assert.equal(header.mtime.getTime(), MTIME.getTime(), header.name);
    }
    const mode = (name: string) => byName.get(name)?.header.mode.toString(8);
    assert.equal(mode('app/'), '755');
    assert.equal(mode('app/bin/'), '755', 'a 0700 directory');
    assert.equal(mode('app/bin/run.js'), '755', 'a 0700 executable');
    assert.equal(mode('app/lib/deep/a.js'), '644', 'a 0600 file');
    assert.equal(mode('tmp/'), '1777');
    assert.equal(byName.get('app/bin/a')?.header.type, 'symlink');
    assert.equal(byName.get('app/bin/a')?.header.linkname, '../lib/deep/a.js');
    assert.equal(byName.get('app/far')?.header.linkname, `/${'t'.repeat(120)}`, 'a long target survives');
    assert.equal(byName.get(`app/${longName}`)?.data.toString(), 'long', 'a long name survives');
    assert.equal(byName.get('app/lib/empty')?.data.byteLength, 0);
    assert.ok(!entries.some((e) => e.header.type === 'link'), 'no hardlinks');
    const names = entries.map((e) => e.header.name);
    assert.deepEqual(names, [...names].sort(), 'sorted');
  });

  function image(layers: ImageDefinition['layers']): ImageDefinition {
    return {
      created: MTIME,
      architecture: 'amd64',
      os: 'linux',
      config: { User: '10001:10001', Entrypoint: ['/bin/x'] },
      layers,
      refName: '1.2.3',
    };
  }

  it('an OCI layout and its archive are byte-identical when written twice', async () => {
    const tree = await freshDir();
    await makeTree(tree, 0);
    const layers = [
      { createdBy: 'base', entries: [{ type: 'directory', path: 'tmp', mode: 0o1777 } as const] },
      { createdBy: 'app', entries: await treeEntries(tree, 'app') },
    ];
    const [dirA, dirB] = [join(await freshDir(), 'oci'), join(await freshDir(), 'oci')];
    const a = await writeOciLayout(dirA, image(layers));
    const b = await writeOciLayout(
      dirB,
      image([...layers].map((l) => ({ ...l, entries: [...l.entries].reverse() }))),
    );
    assert.deepEqual(a, b);
    await writeOciArchive(dirA, `${dirA}.tar`, MTIME);
    const size = await writeOciArchive(dirB, `${dirB}.tar`, MTIME);
    const archive = await readFile(`${dirA}.tar`);
    assert.deepEqual(archive, await readFile(`${dirB}.tar`));
    assert.equal(size, archive.byteLength);

    const names = (await readTar(archive)).map((e) => e.header.name);
    assert.deepEqual(names, [
      'blobs/',
      'blobs/sha256/',
      ...[a.manifest, a.config, ...a.layers].map((blob) => `blobs/sha256/${blob.digest.slice(7)}`).sort(),
      'index.json',
      'oci-layout',
    ]);
  });

  it('the layout says what the OCI image spec asks for: tag, media types, diff_ids, created, history', async () => {
    const dir = join(await freshDir(), 'oci');
    // A stale blob from an earlier build is removed.
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(dir, 'blobs', 'sha256', 'stale'), 'x');
    const written = await writeOciLayout(
      dir,
      image([
        {
          createdBy: 'one file',
          entries: [{ type: 'file', path: 'x', mode: 0o644, data: Buffer.from('x') }],
        },
      ]),
    );
    assert.deepEqual(await readJson(join(dir, 'oci-layout')), { imageLayoutVersion: '1.0.0' });
    const index = await readJson<{ mediaType: string; manifests: Record<string, unknown>[] }>(
      join(dir, 'index.json'),
    );
    assert.equal(index.mediaType, MEDIA_TYPES.index);
    assert.deepEqual(index.manifests, [
      {
        mediaType: MEDIA_TYPES.manifest,
        digest: written.manifest.digest,
        size: written.manifest.size,
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: { 'org.opencontainers.image.ref.name': '1.2.3' },
      },
    ]);
    const { digest, manifest } = await readManifest(dir);
    assert.equal(digest, sha256(await readBlob(dir, digest)));
    assert.equal(manifest.mediaType, MEDIA_TYPES.manifest);
    assert.deepEqual(manifest.config, written.config);
    assert.equal(manifest.config.mediaType, MEDIA_TYPES.config);
    assert.deepEqual(manifest.layers, [
      { mediaType: MEDIA_TYPES.layer, digest: written.layers[0]!.digest, size: written.layers[0]!.size },
    ] satisfies Manifest['layers']);
    const config = JSON.parse((await readBlob(dir, manifest.config.digest)).toString()) as Record<
      string,
      unknown
    >;
    assert.deepEqual(config, {
      created: '2023-11-14T22:13:20Z',
      architecture: 'amd64',
      os: 'linux',
      config: { User: '10001:10001', Entrypoint: ['/bin/x'] },
      rootfs: { type: 'layers', diff_ids: [written.layers[0]!.diffId] },
      history: [{ created: '2023-11-14T22:13:20Z', created_by: 'one file' }],
    });
    assert.equal(
      (await readdir(join(dir, 'blobs', 'sha256'))).length,
      3,
      'manifest, config, layer; nothing stale',
    );
  });
});
