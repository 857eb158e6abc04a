/**
 * How much more than `spool.maxBytes` the spool's volume must hold: one rule for the CRD's check
 * (schema.ts, CEL), the operator's emptyDir sizeLimit and the bridge's free-space watermark.
 *
 * Beyond the undelivered bytes `maxBytes` counts, the volume holds up to one delivered segment not
 * yet deleted (16 MiB), the dedupe journal (~20 MB at the default 500k keys), the cursor and any
 * set-aside records. Running out of that room gets an emptyDir's pod evicted, and its spool with
 * it; so the limit is checked against the volume, not left to the kubelet to find.
 */

/** Room kept on the spool's volume beyond `spool.maxBytes`. */
export const SPOOL_VOLUME_HEADROOM_BYTES = 64 * 2 ** 20;

/** The volume size a spool of `maxBytes` needs. */
export function spoolVolumeBytes(maxBytes: number): number {
  return maxBytes + SPOOL_VOLUME_HEADROOM_BYTES;
}

/**
 * Free bytes the bridge keeps on the spool's filesystem (answering 503 below it): the headroom,
 * or an eighth of a filesystem too small for it (a test's tmpfs, a tiny claim).
 */
export function spoolDiskReserveBytes(filesystemBytes: number): number {
  return Math.min(SPOOL_VOLUME_HEADROOM_BYTES, Math.floor(filesystemBytes / 8));
}
