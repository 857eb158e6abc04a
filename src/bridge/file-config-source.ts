/**
 * Config from a CatchpointBridge manifest file and a directory laid out like mounted Secret
 * volumes (`<dir>/<secret-name>/<key>`): how a developer runs the bridge, and how most bridge
 * tests do. Both are re-read when they change, so edits apply live here too. A referenced
 * ConfigMap (a CA bundle) is read from the same directory, `<dir>/<configmap-name>/<key>`, as a
 * mounted ConfigMap volume would lay it out: standalone there is no API to tell the two apart.
 *
 * The files are polled every second. Parsing and validating the manifest (YAML, schema, CEL
 * rules) takes milliseconds of the event loop, so a poll that reads exactly the bytes of the
 * last load (manifest and every Secret key that load read) reuses its outcome instead.
 */
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { parseCatchpointBridgeManifest } from '../api/validate.ts';
import { type ConfigSource, type ResolvedConfig, resolveConfig } from './config.ts';

export interface FileConfigSourceOptions {
  configFile: string;
  secretsDir: string | undefined;
  /** How often files are checked for changes (fs.watch is not reliable on every filesystem). */
  pollMs?: number;
}

/** The bytes a load depended on: the manifest and each Secret key it read (undefined: absent). */
interface Inputs {
  text: string;
  secrets: Array<{ path: string; value: string | undefined }>;
}

export class FileConfigSource implements ConfigSource {
  readonly immediate = true;
  readonly #options: FileConfigSourceOptions;
  #generation = 0;
  #lastText = '';
  #timer: NodeJS.Timeout | undefined;
  #watchers: FSWatcher[] = [];
  /** Inputs of the last load and what it gave: a config, or the error it threw. */
  #last: { inputs: Inputs; error: Error | undefined } | undefined;

  constructor(options: FileConfigSourceOptions) {
    this.#options = options;
  }

  load(): ResolvedConfig {
    return this.#load(readFileSync(this.#options.configFile, 'utf8'), []);
  }

  /** Loads from `text`, recording every Secret key read (and its value) into `secrets`. */
  #load(text: string, secrets: Inputs['secrets']): ResolvedConfig {
    const bridge = parseCatchpointBridgeManifest(text);
    const dir = this.#options.secretsDir;
    const read = (secret: string, key: string): string | undefined => {
      if (dir === undefined) return undefined;
      const path = join(dir, secret, key);
      const value = readOrUndefined(path);
      secrets.push({ path, value });
      return value;
    };
    const resource = `${bridge.metadata.namespace ?? ''}/${bridge.metadata.name}`;
    return resolveConfig(resource, this.#generation + 1, bridge.spec, read, read);
  }

  /** Loads unless the files hold exactly what the last load read; then repeats its outcome. */
  #loadIfChanged(): ResolvedConfig | undefined {
    const text = readFileSync(this.#options.configFile, 'utf8');
    const last = this.#last;
    if (
      last !== undefined &&
      last.inputs.text === text &&
      last.inputs.secrets.every((s) => readOrUndefined(s.path) === s.value)
    ) {
      if (last.error !== undefined) throw last.error;
      return undefined; // the config in use
    }
    const inputs: Inputs = { text, secrets: [] };
    try {
      const config = this.#load(text, inputs.secrets);
      this.#last = { inputs, error: undefined };
      return config;
    } catch (err) {
      this.#last = { inputs, error: err as Error };
      throw err;
    }
  }

  async start(onChange: (c: ResolvedConfig) => void, onError: (e: Error) => void): Promise<ResolvedConfig> {
    const first = this.#loadIfChanged()!;
    this.#generation = first.generation;
    this.#lastText = fingerprint(first);
    const check = () => {
      try {
        const next = this.#loadIfChanged();
        if (next === undefined) return;
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

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function fingerprint(c: ResolvedConfig): string {
  return JSON.stringify([c.spec, c.pushToken, c.catchpoint, c.tsdbAuth, c.tsdbTls]);
}
