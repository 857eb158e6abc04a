/**
 * Config from a CatchpointBridge manifest file and a directory laid out like mounted Secret
 * volumes (`<dir>/<secret-name>/<key>`): how a developer runs the bridge, and how most bridge
 * tests do. Both are re-read when they change, so edits apply live here too.
 */
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { parseCatchpointBridgeManifest } from '../api/validate.ts';
import { type ConfigSource, type ResolvedConfig, resolveSecrets } from './config.ts';

export interface FileConfigSourceOptions {
  configFile: string;
  secretsDir: string | undefined;
  /** How often files are checked for changes (fs.watch is not reliable on every filesystem). */
  pollMs?: number;
}

export class FileConfigSource implements ConfigSource {
  readonly #options: FileConfigSourceOptions;
  #generation = 0;
  #lastText = '';
  #timer: NodeJS.Timeout | undefined;
  #watchers: FSWatcher[] = [];

  constructor(options: FileConfigSourceOptions) {
    this.#options = options;
  }

  load(): ResolvedConfig {
    const text = readFileSync(this.#options.configFile, 'utf8');
    const bridge = parseCatchpointBridgeManifest(text);
    const dir = this.#options.secretsDir;
    const read = (secret: string, key: string): string | undefined => {
      if (dir === undefined) return undefined;
      try {
        return readFileSync(join(dir, secret, key), 'utf8');
      } catch {
        return undefined;
      }
    };
    const resource = `${bridge.metadata.namespace ?? ''}/${bridge.metadata.name}`;
    return resolveSecrets(resource, this.#generation + 1, bridge.spec, read);
  }

  async start(onChange: (c: ResolvedConfig) => void, onError: (e: Error) => void): Promise<ResolvedConfig> {
    const first = this.load();
    this.#generation = first.generation;
    this.#lastText = fingerprint(first);
    const check = () => {
      try {
        const next = this.load();
        const fp = fingerprint(next);
        if (fp === this.#lastText) return;
        this.#lastText = fp;
        this.#generation = next.generation;
        onChange(next);
      } catch (err) {
        onError(err as Error);
      }
    };
    this.#timer = setInterval(check, this.#options.pollMs ?? 1000);
    this.#timer.unref();
    try {
      this.#watchers.push(watch(this.#options.configFile, { persistent: false }, check));
    } catch {
      // polling covers it
    }
    return first;
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
  }
}

function fingerprint(c: ResolvedConfig): string {
  return JSON.stringify([c.spec, c.pushToken, c.catchpoint, c.tsdbAuth]);
}
