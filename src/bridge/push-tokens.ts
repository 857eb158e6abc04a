/**
 * Push URL tokens. Catchpoint signs nothing, so the webhook URL carries a long random token.
 * Candidates are compared as SHA-256 digests with timingSafeEqual against every valid token, with
 * no early exit, so timing reveals neither which token matched nor how much of a prefix did.
 * When the Secret's token changes, the previous one stays valid for the configured overlap, so
 * the URL in Catchpoint can be switched without refusing a push.
 */
import { hash, timingSafeEqual } from 'node:crypto';

interface ValidToken {
  digest: Buffer;
  /** Epoch ms after which the token is refused; Infinity for the current one. */
  until: number;
}

/** One-shot hash: no Hash object per push (it showed in the push path's profile). */
function digest(token: string): Buffer {
  return hash('sha256', token, 'buffer');
}

export class PushTokens {
  #current: string | undefined;
  #valid: ValidToken[] = [];

  /** Whether a token is configured (otherwise the seed-compatible POST / is open). */
  get required(): boolean {
    return this.#current !== undefined || this.#valid.length > 0;
  }

  update(token: string | undefined, overlapMs: number, now = Date.now()): void {
    if (token === this.#current) return;
    const kept = this.#valid
      .map((t) => (t.until === Number.POSITIVE_INFINITY ? { digest: t.digest, until: now + overlapMs } : t))
      .filter((t) => t.until > now);
    this.#current = token;
    this.#valid =
      token === undefined ? kept : [{ digest: digest(token), until: Number.POSITIVE_INFINITY }, ...kept];
  }

  matches(candidate: string, now = Date.now()): boolean {
    const d = digest(candidate);
    let ok = false;
    for (const t of this.#valid) {
      // Evaluate both sides for every token: no short-circuit on a match.
      const equal = timingSafeEqual(d, t.digest);
      ok = (equal && t.until > now) || ok;
    }
    return ok;
  }
}
