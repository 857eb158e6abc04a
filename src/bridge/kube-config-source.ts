/**
 * Config from the API server: the bridge's own CatchpointBridge and the Secrets and ConfigMaps it
 * references, each watched by name (fieldSelector=metadata.name=<name>), which is all the Role
 * the operator grants allows. Edits apply within a second or so; the watches heal themselves (relist on 410,
 * backoff on errors), and while the API server is away the last good config keeps serving.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { referencedConfigMaps, referencedSecrets } from '../api/references.ts';
import { API_GROUP, API_VERSION, PLURAL } from '../api/schema.ts';
import type { CatchpointBridge } from '../api/types.ts';
import { validateSpec } from '../api/validate.ts';
import { Informer, type InformerObject } from '../kube/informer.ts';
import { resourcePath } from '../kube/resources.ts';
import { CodedError } from '../shared/errors.ts';
import { type ConfigSource, type ResolvedConfig, resolveConfig } from './config.ts';

export interface KubeConfigSourceOptions {
  kc: KubeConfig;
  namespace: string;
  name: string;
  logger: Logger;
  /** Events within this window are evaluated together. */
  debounceMs?: number;
}

/** A Secret (data base64) or a ConfigMap (data plain, binaryData base64). */
type DataObject = InformerObject & { data?: Record<string, string>; binaryData?: Record<string, string> };
type BridgeObject = CatchpointBridge & InformerObject;

export class ConfigNotFoundError extends CodedError<'CPB_ERR_CONFIG_NOT_FOUND'> {
  constructor(resource: string) {
    super('CPB_ERR_CONFIG_NOT_FOUND', `CatchpointBridge ${resource} not found`);
  }
}

export class KubeConfigSource implements ConfigSource {
  readonly #o: KubeConfigSourceOptions;
  readonly #bridge: Informer<BridgeObject>;
  readonly #secrets = new Map<string, Informer<DataObject>>();
  readonly #configMaps = new Map<string, Informer<DataObject>>();
  #timer: NodeJS.Timeout | undefined;
  #fingerprint = '';
  #stopped = false;
  #onChange: (c: ResolvedConfig) => void = () => {};
  #onError: (e: Error) => void = () => {};
  #firstResolve: ((c: ResolvedConfig) => void) | undefined;
  #lastErrorMessage = '';

  constructor(options: KubeConfigSourceOptions) {
    this.#o = options;
    this.#bridge = new Informer<BridgeObject>({
      kc: options.kc,
      logger: options.logger.child({ watch: 'catchpointbridge' }),
      path: resourcePath({
        apiVersion: `${API_GROUP}/${API_VERSION}`,
        plural: PLURAL,
        namespace: options.namespace,
      }),
      fieldSelector: `metadata.name=${options.name}`,
    });
    const schedule = () => this.#schedule();
    this.#bridge.on('add', schedule).on('update', schedule).on('delete', schedule);
  }

  get resource(): string {
    return `${this.#o.namespace}/${this.#o.name}`;
  }

  start(onChange: (c: ResolvedConfig) => void, onError: (e: Error) => void): Promise<ResolvedConfig> {
    this.#onChange = onChange;
    this.#onError = onError;
    const first = new Promise<ResolvedConfig>((resolve) => {
      this.#firstResolve = resolve;
    });
    this.#bridge.start();
    void this.#bridge.synced.then(() => this.#schedule());
    return first;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await Promise.all(
      [this.#bridge, ...this.#secrets.values(), ...this.#configMaps.values()].map((i) => i.stop()),
    );
  }

  #schedule(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#evaluate();
    }, this.#o.debounceMs ?? 20);
  }

  #evaluate(): void {
    const cr = this.#bridge.get(this.#o.namespace, this.#o.name);
    if (cr === undefined) {
      if (this.#bridge.hasSynced) this.#report(new ConfigNotFoundError(this.resource));
      return;
    }
    let config: ResolvedConfig;
    try {
      const spec = validateSpec(cr.spec);
      // Both lists are watched before either is read: each new watch re-evaluates once listed.
      const secretsSynced = this.#watch(this.#secrets, 'secrets', referencedSecrets(spec));
      const configMapsSynced = this.#watch(this.#configMaps, 'configmaps', referencedConfigMaps(spec));
      if (!secretsSynced || !configMapsSynced) return;
      const ns = this.#o.namespace;
      const base64 = (value: string | undefined) =>
        value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
      config = resolveConfig(
        this.resource,
        cr.metadata.generation ?? 0,
        spec,
        (secret, key) => base64(this.#secrets.get(secret)?.get(ns, secret)?.data?.[key]),
        (name, key) => {
          const cm = this.#configMaps.get(name)?.get(ns, name);
          return cm?.data?.[key] ?? base64(cm?.binaryData?.[key]);
        },
      );
    } catch (err) {
      this.#report(err as Error);
      return;
    }
    const fingerprint = JSON.stringify([
      config.generation,
      config.spec,
      config.pushToken,
      config.catchpoint,
      config.tsdbAuth,
      config.tsdbTls,
    ]);
    if (fingerprint === this.#fingerprint) return;
    this.#fingerprint = fingerprint;
    this.#lastErrorMessage = '';
    if (this.#firstResolve) {
      this.#firstResolve(config);
      this.#firstResolve = undefined;
    } else {
      this.#onChange(config);
    }
  }

  /** Keeps one watch per referenced Secret (or ConfigMap); true when all of them have listed. */
  #watch(
    informers: Map<string, Informer<DataObject>>,
    plural: 'secrets' | 'configmaps',
    names: string[],
  ): boolean {
    for (const [name, informer] of informers) {
      if (!names.includes(name)) {
        informers.delete(name);
        void informer.stop();
      }
    }
    let synced = true;
    for (const name of names) {
      let informer = informers.get(name);
      if (informer === undefined) {
        informer = new Informer<DataObject>({
          kc: this.#o.kc,
          logger: this.#o.logger.child({ watch: plural, name }),
          path: resourcePath({ apiVersion: 'v1', plural, namespace: this.#o.namespace }),
          fieldSelector: `metadata.name=${name}`,
        });
        const schedule = () => this.#schedule();
        informer.on('add', schedule).on('update', schedule).on('delete', schedule);
        informer.start();
        void informer.synced.then(schedule);
        informers.set(name, informer);
      }
      synced &&= informer.hasSynced;
    }
    return synced;
  }

  /** Each distinct problem is reported once (the same one recurs on every event). */
  #report(err: Error): void {
    if (err.message === this.#lastErrorMessage) return;
    this.#lastErrorMessage = err.message;
    if (this.#firstResolve)
      this.#o.logger.warn(
        { code: (err as { code?: string }).code, error: err.message },
        'waiting for a valid config',
      );
    else this.#onError(err);
  }
}
