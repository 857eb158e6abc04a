/**
 * The image's inputs, gathered from this machine: Debian 12's runtime libraries (apt), the Node 24
 * binary the `node` npm package ships, the compiled app and its production node_modules, and the
 * few /etc files a non-root process needs. Slow steps are cached under
 * $CATCHPOINT_BRIDGE_CACHE/image (default ~/.cache/catchpoint-bridge/image), each keyed by what it
 * is made from, only the newest entry kept.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, open, readdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, posix, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { extract } from 'tar-stream';
import { type ImageLayer, type LayerEntry, normalizePath } from './oci.ts';
import { IMAGE_UID, IMAGE_USER_NAME, NODE_BINARY } from './spec.ts';

const run = promisify(execFile);

/**
 * Node's runtime libraries (libc, libstdc++, libgcc_s; gcc-12-base is a dependency of the latter
 * two), from the Debian 12 the distroless base is made of.
 */
export const DEBIAN_PACKAGES: readonly string[] = ['libc6', 'libgcc-s1', 'libstdc++6', 'gcc-12-base'];

export type Log = (message: string) => void;

export function imageCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.CATCHPOINT_BRIDGE_CACHE || join(homedir(), '.cache', 'catchpoint-bridge');
  return join(cache, 'image');
}

/** The OCI architecture of the machine: the Node binary and the .debs are this machine's. */
export function ociArchitecture(arch: string = process.arch): string {
  const oci: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };
  const name = oci[arch];
  if (name === undefined) throw new Error(`no image for architecture ${arch}`);
  return name;
}

/** The image's three layers, from the one that changes least (re-pulled least) to the app. */
export async function gatherLayers(options: {
  repoRoot: string;
  cacheDir: string;
  log: Log;
}): Promise<ImageLayer[]> {
  const { repoRoot, cacheDir, log } = options;
  const [debs, node, nodeModules, dist] = await Promise.all([
    fetchDebs(join(cacheDir, 'debs'), DEBIAN_PACKAGES, log),
    nodeBinary(repoRoot),
    productionNodeModules(repoRoot, join(cacheDir, 'node_modules'), log),
    compiledApp(repoRoot, join(cacheDir, 'dist'), log),
  ]);
  const debianFiles = (await Promise.all(debs.map((deb) => debEntries(deb.file)))).flat();
  return [
    {
      createdBy: `Debian 12 ${debs.map((deb) => `${deb.name} ${deb.version}`).join(', ')}; Node ${node.version} at ${NODE_BINARY}; /etc/passwd, /etc/group, /etc/nsswitch.conf, /tmp`,
      entries: [
        ...debianFiles,
        { type: 'file', path: NODE_BINARY, mode: 0o755, data: { file: node.file } },
        ...etcEntries(),
      ],
    },
    {
      createdBy: `/app/node_modules: npm ci --omit=dev --ignore-scripts, package-lock.json ${nodeModules.key}`,
      entries: await treeEntries(nodeModules.dir, 'app/node_modules'),
    },
    {
      createdBy: '/app: package.json, bin/, dist/ (tsc -p tsconfig.build.json)',
      entries: [
        {
          type: 'file',
          path: 'app/package.json',
          mode: 0o644,
          data: { file: join(repoRoot, 'package.json') },
        },
        ...(await treeEntries(join(repoRoot, 'bin'), 'app/bin')),
        ...(await treeEntries(dist.dir, 'app/dist')),
      ],
    },
  ];
}

// --- /etc and /tmp --------------------------------------------------------------------------

/**
 * Names for root and the image's user (os.userInfo() and anything else calling getpwuid() get an
 * answer), lookups from files and DNS only, and a /tmp anyone may write to.
 */
export function etcEntries(): LayerEntry[] {
  const uid = IMAGE_UID;
  const text = (lines: readonly string[]) => Buffer.from(`${lines.join('\n')}\n`);
  return [
    {
      type: 'file',
      path: 'etc/passwd',
      mode: 0o644,
      data: text([
        'root:x:0:0:root:/root:/sbin/nologin',
        `${IMAGE_USER_NAME}:x:${uid}:${uid}:${IMAGE_USER_NAME}:/nonexistent:/sbin/nologin`,
      ]),
    },
    {
      type: 'file',
      path: 'etc/group',
      mode: 0o644,
      data: text(['root:x:0:', `${IMAGE_USER_NAME}:x:${uid}:`]),
    },
    {
      type: 'file',
      path: 'etc/nsswitch.conf',
      mode: 0o644,
      data: text(['passwd: files', 'group: files', 'shadow: files', 'hosts: files dns']),
    },
    { type: 'directory', path: 'tmp', mode: 0o1777 },
  ];
}

// --- a directory tree -----------------------------------------------------------------------

/** Entries for everything under dir, placed at `at` in the image; symlinks stay symlinks. */
export async function treeEntries(dir: string, at: string): Promise<LayerEntry[]> {
  const names = await readdir(dir, { recursive: true });
  return Promise.all(
    ['', ...names].map((name) => entryFor(join(dir, name), posix.join(at, name.split(sep).join('/')))),
  );
}

async function entryFor(file: string, path: string): Promise<LayerEntry> {
  const stats = await lstat(file);
  if (stats.isDirectory()) return { type: 'directory', path, mode: stats.mode };
  if (stats.isSymbolicLink()) return { type: 'symlink', path, target: await readlink(file) };
  if (stats.isFile()) return { type: 'file', path, mode: stats.mode, data: { file } };
  throw new Error(`${file}: neither a file, a directory nor a symlink`);
}

// --- Debian packages ------------------------------------------------------------------------

export interface Deb {
  readonly name: string;
  readonly version: string;
  readonly file: string;
}

/** apt-get download's file name (an epoch's ':' is written %3a). */
export function debFileName(name: string, version: string, architecture: string): string {
  return `${name}_${version.replaceAll(':', '%3a')}_${architecture}.deb`;
}

/**
 * The candidate version of each package as a .deb in dir, downloaded once per version. apt's
 * package lists are refreshed only when that fails (a fresh machine, or a superseded version).
 */
export async function fetchDebs(dir: string, names: readonly string[], log: Log): Promise<Deb[]> {
  await mkdir(dir, { recursive: true });
  let debs: Deb[];
  try {
    debs = await downloadDebs(dir, names, log);
  } catch (err) {
    log(`apt-get download failed (${(err as Error).message.split('\n')[0]}): apt-get update, then again`);
    await run('apt-get', ['update', '-qq']);
    debs = await downloadDebs(dir, names, log);
  }
  const wanted = new Set(debs.map((deb) => posix.basename(deb.file)));
  for (const name of await readdir(dir)) {
    if (!wanted.has(name) && !name.startsWith('.partial-')) await rm(join(dir, name), { recursive: true });
  }
  return debs;
}

async function downloadDebs(dir: string, names: readonly string[], log: Log): Promise<Deb[]> {
  const debs = await candidates(dir, names);
  const missing = debs.filter((deb) => !existsSync(deb.file));
  if (missing.length === 0) return debs;
  log(`apt-get download ${missing.map((deb) => `${deb.name}=${deb.version}`).join(' ')}`);
  // Into a directory of its own, so an interrupted download never passes for a cached .deb.
  const partial = join(dir, `.partial-${randomUUID()}`);
  await mkdir(partial);
  try {
    await run(
      'apt-get',
      // As root, apt would download as the _apt user, who cannot write into a home directory.
      ['download', '-qq', '-o', 'APT::Sandbox::User=root', ...missing.map((d) => `${d.name}=${d.version}`)],
      { cwd: partial },
    );
    for (const deb of missing) await rename(join(partial, posix.basename(deb.file)), deb.file);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return debs;
}

/** The candidate version of each package, from one apt-cache call (each takes over a second). */
async function candidates(dir: string, names: readonly string[]): Promise<Deb[]> {
  const { stdout } = await run('apt-cache', ['show', '--no-all-versions', ...names]);
  const records = stdout.split(/\n\n+/).filter((record) => record.trim() !== '');
  return names.map((name) => {
    const record = records.find((r) => fieldOf(r, 'Package') === name);
    const version = record && fieldOf(record, 'Version');
    const architecture = record && fieldOf(record, 'Architecture');
    if (version === undefined || architecture === undefined)
      throw new Error(`apt-cache show ${name}: no candidate`);
    return { name, version, file: join(dir, debFileName(name, version, architecture)) };
  });
}

function fieldOf(record: string, key: string): string | undefined {
  return new RegExp(`^${key}: (.+)$`, 'm').exec(record)?.[1];
}

/**
 * Documentation, manuals, translations, lintian overrides and gdb's pretty-printers: nothing the
 * process reads. Each package's copyright file stays, as the licenses of shipped binaries ask.
 */
export function keepDebianPath(path: string): boolean {
  if (/^usr\/share\/(man|info|lintian|locale|gdb|gcc)(\/|$)/.test(path)) return false;
  const doc = /^usr\/share\/doc\/[^/]+\/(.+)$/.exec(path);
  return doc === null || doc[1] === 'copyright';
}

/** The files of a .deb's data archive, read from `dpkg-deb --fsys-tarfile` as it streams. */
export async function debEntries(deb: string): Promise<LayerEntry[]> {
  const child = spawn('dpkg-deb', ['--fsys-tarfile', deb], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = exitOf(child, `dpkg-deb --fsys-tarfile ${deb}`);
  const archive = extract();
  child.stdout?.pipe(archive);
  const entries: LayerEntry[] = [];
  const hardlinks: { path: string; target: string }[] = [];
  for await (const entry of archive) {
    const { header } = entry;
    const path = normalizePath(header.name);
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    if (path === '' || !keepDebianPath(path)) continue;
    if (header.type === 'directory') entries.push({ type: 'directory', path, mode: header.mode });
    else if (header.type === 'symlink') entries.push({ type: 'symlink', path, target: header.linkname });
    else if (header.type === 'file')
      entries.push({ type: 'file', path, mode: header.mode, data: Buffer.concat(chunks) });
    else if (header.type === 'link') hardlinks.push({ path, target: normalizePath(header.linkname) });
    else throw new Error(`${deb}: ${header.name} is a ${header.type}`);
  }
  await exited;
  // A hardlink becomes a copy: layers hold no hardlinks (their targets may sit in another layer).
  for (const link of hardlinks) {
    const target = entries.find((e) => e.path === link.target);
    if (target?.type !== 'file') throw new Error(`${deb}: ${link.path} links to ${link.target}, not a file`);
    entries.push({ ...target, path: link.path });
  }
  return entries;
}

function exitOf(child: ChildProcess, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${what} failed (exit ${code ?? signal})`)),
    );
  });
}

// --- Node -----------------------------------------------------------------------------------

/** The Node major package.json's engines asks for (`>=24.0.0` → 24). */
export function requiredNodeMajor(pkg: { engines?: { node?: string } }): number {
  const major = /(\d+)/.exec(pkg.engines?.node ?? '')?.[1];
  if (major === undefined) throw new Error('package.json has no engines.node');
  return Number(major);
}

/**
 * The binary the `node` devDependency installs (node_modules/node/bin/node): checked to be an ELF
 * executable, not a wrapper script, and of the Node major package.json asks for.
 */
export async function nodeBinary(repoRoot: string): Promise<{ file: string; version: string }> {
  const file = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
  const handle = await open(file);
  const magic = Buffer.alloc(4);
  await handle.read(magic, 0, 4, 0).finally(() => handle.close());
  if (!magic.equals(Buffer.from('\x7fELF', 'latin1'))) throw new Error(`${file} is not an ELF binary`);
  const version = (await run(file, ['--version'])).stdout.trim();
  const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
    engines?: { node?: string };
  };
  const major = requiredNodeMajor(pkg);
  if (!version.startsWith(`v${major}.`)) throw new Error(`${file} is Node ${version}, not ${major}.x`);
  return { file, version };
}

// --- cached build steps ---------------------------------------------------------------------

/** sha256 over files' repository paths and contents. */
export async function hashFiles(root: string, paths: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const path of [...paths].sort()) {
    const content = await readFile(join(root, path));
    hash.update(`${path}\0${content.byteLength}\0`).update(content);
  }
  return hash.digest('hex');
}

/**
 * dir/key, made by `make` into a fresh directory that is renamed into place once complete, so
 * an interrupted build never leaves a half-made entry behind. Other keys are removed.
 */
async function cachedDir(
  dir: string,
  key: string,
  make: (into: string) => Promise<void>,
): Promise<{ dir: string; key: string }> {
  const target = join(dir, key);
  if (!existsSync(target)) {
    const partial = join(dir, `.partial-${randomUUID()}`);
    await mkdir(partial, { recursive: true });
    try {
      await make(partial);
      await rename(partial, target);
    } catch (err) {
      await rm(partial, { recursive: true, force: true });
      if (!existsSync(target)) throw err; // else a concurrent build made it first
    }
  }
  for (const name of await readdir(dir)) {
    if (name !== key && !name.startsWith('.partial-')) await rm(join(dir, name), { recursive: true });
  }
  return { dir: target, key };
}

/** The child's env: npm's own run-time variables left out, so a nested npm works on its own dir. */
function npmChildEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) =>
        !name.startsWith('npm_') || (name.startsWith('npm_config_') && name !== 'npm_config_local_prefix'),
    ),
  );
  // npm runs on the Node running this script (24), as it would in the Dockerfile's node:24 stage.
  return { ...env, PATH: `${dirname(process.execPath)}:${env.PATH ?? ''}` };
}

/**
 * Production dependencies only, installed from package.json and package-lock.json alone, as the
 * Dockerfile's deps stage does. Keyed by the lockfile: a second build reuses them.
 */
export async function productionNodeModules(
  repoRoot: string,
  cacheDir: string,
  log: Log,
): Promise<{ dir: string; key: string }> {
  const key = createHash('sha256')
    .update(await readFile(join(repoRoot, 'package-lock.json')))
    .digest('hex');
  const cached = await cachedDir(cacheDir, key, async (into) => {
    log(`npm ci --omit=dev (package-lock.json ${key.slice(0, 12)})`);
    for (const file of ['package.json', 'package-lock.json']) {
      await writeFile(join(into, file), await readFile(join(repoRoot, file)));
    }
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: into,
      env: npmChildEnv(),
    });
  });
  return { dir: join(cached.dir, 'node_modules'), key: `sha256:${key}` };
}

/** Every file under src/, relative to the repository. */
async function sourceFiles(repoRoot: string): Promise<string[]> {
  const entries = await readdir(join(repoRoot, 'src'), { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(repoRoot, join(entry.parentPath, entry.name)).split(sep).join('/'));
}

/**
 * src/ compiled with tsconfig.build.json, into the cache rather than the repository's dist/ (which
 * may hold a developer's build). Keyed by the sources, the tsconfigs and the lockfile (TypeScript's
 * version).
 */
export async function compiledApp(
  repoRoot: string,
  cacheDir: string,
  log: Log,
): Promise<{ dir: string; key: string }> {
  const inputs = [
    'tsconfig.json',
    'tsconfig.build.json',
    'package-lock.json',
    ...(await sourceFiles(repoRoot)),
  ];
  const key = await hashFiles(repoRoot, inputs);
  return cachedDir(cacheDir, key, async (into) => {
    log('tsc -p tsconfig.build.json');
    const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
    await run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', into], {
      cwd: repoRoot,
    }).catch((err: { stdout?: string; message: string }) => {
      throw new Error(`tsc -p tsconfig.build.json failed:\n${err.stdout || err.message}`);
    });
  });
}
