/**
 * A watch response is newline-delimited JSON, one event per line, in chunks that may end mid-line,
 * hold several lines or none. This turns the chunks back into lines.
 */
export class LineSplitter {
  #pending = '';

  /** The complete lines this chunk finishes, in order, blank ones dropped; a partial last line waits. */
  push(chunk: string): string[] {
    this.#pending += chunk;
    const end = this.#pending.lastIndexOf('\n');
    if (end < 0) return [];
    const lines = this.#pending.slice(0, end).split('\n');
    this.#pending = this.#pending.slice(end + 1);
    return lines.filter((line) => line.trim() !== '');
  }
}
