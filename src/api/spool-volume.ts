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

/** The emptyDir size the operator sets when the spec gives none (spoolVolumeSize's old default). */
export const DEFAULT_SPOOL_VOLUME_BYTES = 2 ** 30;

/**
 * The spool volume's size when the spec gives none: 1Gi, or what `maxBytes` needs when that is
 * more. A floor, not the exact need, so that a change of maxBytes within it does not change the
 * pod template (and roll the pods), and CRs made before the field was optional keep their size.
 */
export function defaultSpoolVolumeBytes(maxBytes: number): number {
  return Math.max(DEFAULT_SPOOL_VOLUME_BYTES, spoolVolumeBytes(maxBytes));
}

/**
 * Free bytes the bridge keeps on the spool's filesystem (answering 503 below it): the headroom,
 * or an eighth of a filesystem too small for it (a test's tmpfs, a tiny claim).
 */
export function spoolDiskReserveBytes(filesystemBytes: number): number {
  return Math.min(SPOOL_VOLUME_HEADROOM_BYTES, Math.floor(filesystemBytes / 8));
}
