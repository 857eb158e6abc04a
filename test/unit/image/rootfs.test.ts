// The parts of the image's inputs that need no apt, npm or tsc: /etc, what is kept of a .deb,
// file names, the Node major, the cache location, reading a directory tree.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  debFileName,
  etcEntries,
  imageCacheDir,
  keepDebianPath,
  ociArchitecture,
  requiredNodeMajor,
  treeEntries,
} from '../../../scripts/image/rootfs.ts';
import { IMAGE_UID, IMAGE_USER } from '../../../scripts/image/spec.ts';

describe('rootfs', () => {
  it("/etc names root and the image's user; /tmp is writable by all", () => {
    const entries = etcEntries();
    const text = (path: string) => {
      const entry = entries.find((e) => e.path === path);
      assert.ok(entry?.type === 'file' && Buffer.isBuffer(entry.data), path);
      return entry.data.toString();
    };
    assert.match(text('etc/passwd'), /^root:x:0:0:/m);
    assert.match(text('etc/passwd'), new RegExp(`^nonroot:x:${IMAGE_UID}:${IMAGE_UID}:`, 'm'));
    assert.match(text('etc/group'), new RegExp(`^nonroot:x:${IMAGE_UID}:$`, 'm'));
    assert.equal(IMAGE_USER, `${IMAGE_UID}:${IMAGE_UID}`);
    assert.match(text('etc/nsswitch.conf'), /^hosts: files dns$/m);
    assert.deepEqual(
      entries.find((e) => e.path === 'tmp'),
      { type: 'directory', path: 'tmp', mode: 0o1777 },
    );
  });

  it('of a .deb, libraries stay; documentation goes, except copyright files', () => {
    for (const path of [
      'lib/x86_64-linux-gnu/libc.so.6',
      'lib64/ld-linux-x86-64.so.2',
      'etc/ld.so.conf.d/x86_64-linux-gnu.conf',
      'usr/lib/x86_64-linux-gnu/gconv/UTF-16.so',
      'usr/share/doc/libc6/copyright',
      'usr/share/doc/libc6',
      'usr/share/doc/libstdc++6',
    ]) {
      assert.ok(keepDebianPath(path), path);
    }
    for (const path of [
      'usr/share/doc/libc6/changelog.Debian.gz',
      'usr/share/man',
      'usr/share/man/man1/ldd.1.gz',
      'usr/share/info/libc.info.gz',
      'usr/share/lintian/overrides/libc6',
      'usr/share/locale/de/LC_MESSAGES/libc.mo',
      'usr/share/gdb/auto-load/x.py',
      'usr/share/gcc/python/libstdcxx/__init__.py',
    ]) {
      assert.ok(!keepDebianPath(path), path);
    }
  });

  it("a .deb's cache file name is apt-get download's", () => {
    assert.equal(debFileName('libc6', '2.36-9+deb12u14', 'amd64'), 'libc6_2.36-9+deb12u14_amd64.deb');
    assert.equal(debFileName('x', '1:2.0-1', 'amd64'), 'x_1%3a2.0-1_amd64.deb');
  });

  it("the Node major comes from package.json's engines", () => {
    assert.equal(requiredNodeMajor({ engines: { node: '>=24.0.0' } }), 24);
    assert.throws(() => requiredNodeMajor({}), /engines/);
  });

  it('the cache is $CATCHPOINT_BRIDGE_CACHE/image, by default under ~/.cache', () => {
    assert.equal(imageCacheDir({ CATCHPOINT_BRIDGE_CACHE: '/c' }), '/c/image');
    assert.equal(imageCacheDir({}), join(homedir(), '.cache', 'catchpoint-bridge', 'image'));
  });

  it('the OCI architecture is the machine’s, in OCI words', () => {
    assert.equal(ociArchitecture('x64'), 'amd64');
    assert.equal(ociArchitecture('arm64'), 'arm64');
    assert.throws(() => ociArchitecture('mips'), /no image for/);
  });

  it('a tree is read with its directory, files and symlinks (as symlinks) at the given place', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tree-test-'));
    try {
      await mkdir(join(dir, 'sub'));
      await writeFile(join(dir, 'sub', 'f.js'), 'x');
      await symlink('sub/f.js', join(dir, 'link'));
      const entries = await treeEntries(dir, 'app/dist');
      const shape = entries
        .map((e) => `${e.type} ${e.path}${e.type === 'symlink' ? ` -> ${e.target}` : ''}`)
        .sort();
      assert.deepEqual(shape, [
        'directory app/dist',
        'directory app/dist/sub',
        'file app/dist/sub/f.js',
        'symlink app/dist/link -> sub/f.js',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
