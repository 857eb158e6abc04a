// Reading back what scripts/image/oci.ts writes: tar entries with every header field, from a
// layer blob (gzip) or an OCI archive (plain tar).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { extract, type Header } from 'tar-stream';

export interface TarEntry {
  readonly header: Header;
  readonly data: Buffer;
}

export async function readTar(bytes: Buffer): Promise<TarEntry[]> {
  const gzipped = bytes[0] === 0x1f && bytes[1] === 0x8b;
  const archive = extract();
  archive.end(gzipped ? gunzipSync(bytes) : bytes);
  const entries: TarEntry[] = [];
  for await (const entry of archive) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    entries.push({ header: entry.header, data: Buffer.concat(chunks) });
  }
  return entries;
}

export async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

export interface Manifest {
  mediaType: string;
  config: { mediaType: string; digest: string; size: number };
  layers: { mediaType: string; digest: string; size: number }[];
}

export async function readBlob(layoutDir: string, digest: string): Promise<Buffer> {
  return readFile(join(layoutDir, 'blobs', 'sha256', digest.replace(/^sha256:/, '')));
}

/** The manifest index.json points at (the layout holds one image). */
export async function readManifest(layoutDir: string): Promise<{ digest: string; manifest: Manifest }> {
  const index = await readJson<{ manifests: { digest: string }[] }>(join(layoutDir, 'index.json'));
  const digest = index.manifests[0]?.digest ?? '';
  return { digest, manifest: JSON.parse((await readBlob(layoutDir, digest)).toString('utf8')) as Manifest };
}
