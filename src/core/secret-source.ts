/**
 * How the clients use a secret option that may be a value or a {@link SecretProvider}: plain
 * values are checked when the client is built, provider values when first read, with the same
 * check and the same typed error. Internal to the clients.
 */
import { checkOptions } from './client-options.js';
import { isSecretProvider, type SecretProvider } from './secret-provider.js';

/**
 * The check a consumer applies to each value (its format, its length): returns the value or
 * throws the consumer's typed error. `from` names the provider the value came from, if any.
 */
export type SecretCheck = (value: unknown, from: string | undefined) => string;

/** One configured secret: a value, or a provider read when needed. */
export class SecretSource {
  readonly #plain: string | undefined;
  readonly #provider: SecretProvider | undefined;
  readonly #check: SecretCheck;

  constructor(input: unknown, check: SecretCheck = (value) => value as string) {
    this.#check = check;
    if (isSecretProvider(input)) {
      this.#provider = input;
    } else {
      this.#plain = check(input, undefined);
    }
  }

  /** The value, checked; or undefined when it comes from a provider. */
  get plain(): string | undefined {
    return this.#plain;
  }

  /** The value (a provider's cached or freshly read one), checked. */
  async get(): Promise<string> {
    if (this.#plain !== undefined) return this.#plain;
    const provider = this.#provider as SecretProvider;
    return this.#check(await provider.get(), provider.name);
  }

  /**
   * After WeChat refused `used`: reads a provider again and answers its value when it differs
   * from `used` (checked), else undefined — for a plain value, an unchanged value, or a failed read
   * (which the provider reports through its own hook).
   */
  async changed(used: string): Promise<string | undefined> {
    const provider = this.#provider;
    if (provider === undefined) return undefined;
    let fresh: string;
    try {
      fresh = await provider.refresh();
    } catch {
      return undefined;
    }
    return fresh === used ? undefined : this.#check(fresh, provider.name);
  }

  /**
   * Sends with the secret; when `refused(error)` says WeChat refused it and a provider has a new
   * value, sends once more with that value. Never more than twice.
   */
  async use<T>(send: (secret: string) => Promise<T>, refused: (error: unknown) => boolean): Promise<T> {
    const secret = await this.get();
    try {
      return await send(secret);
    } catch (error) {
      if (!refused(error)) throw error;
      const fresh = await this.changed(secret);
      if (fresh === undefined) throw error;
      return send(fresh);
    }
  }

  /**
   * Sends a request that must not be repeated (a single-use code exchange) with the secret. When
   * WeChat refuses it, a provider is read again so that the next request uses the new value; this
   * one fails with WeChat's refusal.
   */
  async useOnce<T>(send: (secret: string) => Promise<T>, refused: (error: unknown) => boolean): Promise<T> {
    const secret = await this.get();
    try {
      return await send(secret);
    } catch (error) {
      if (refused(error)) await this.changed(secret).catch(() => undefined);
      throw error;
    }
  }
}

/**
 * The secret option `option` of `client`: a provider, or a non-empty string — refused otherwise
 * with the same `ConfigError` as any other required option.
 */
export function requiredSecret(
  client: string,
  option: string,
  value: unknown,
  check?: SecretCheck,
): SecretSource {
  if (!isSecretProvider(value)) checkOptions(client, { [option]: value }, [option], [option], []);
  return new SecretSource(value, check);
}

/** How a consumer words the errors of a list of secrets. */
export interface SecretListRules {
  /** Checks one value; `label` is `option` for a single value, `option[i]` in a list. */
  check(value: unknown, label: string, from: string | undefined): string;
  /** The error for an empty list. */
  empty(): Error;
  /** The error for a value listed twice. */
  repeated(label: string, firstLabel: string): Error;
}

/**
 * A secret option that takes one value or a list, current first (the APIv3 key while it is being
 * changed), each a value or a provider. Plain values are checked now, provider values when read.
 */
export class SecretList {
  readonly #entries: readonly SecretSource[];
  readonly #labels: readonly string[];
  readonly #rules: SecretListRules;
  /** The values, when none comes from a provider. */
  readonly #plain: readonly string[] | undefined;

  constructor(option: string, input: unknown, rules: SecretListRules) {
    const list = Array.isArray(input) ? (input as unknown[]) : [input];
    if (Array.isArray(input) && list.length === 0) throw rules.empty();
    this.#rules = rules;
    this.#labels = list.map((_, index) => (Array.isArray(input) ? `${option}[${index}]` : option));
    this.#entries = list.map((value, index) => {
      const label = this.#labels[index] as string;
      return new SecretSource(value, (text, from) => rules.check(text, label, from));
    });
    const plain = this.#entries.map((entry) => entry.plain);
    // Values given as such are compared now; those from providers once read.
    this.#refuseRepeats(plain);
    this.#plain = plain.every((value) => value !== undefined) ? (plain as string[]) : undefined;
  }

  /** How many values are listed. */
  get size(): number {
    return this.#entries.length;
  }

  /** The values when none comes from a provider (then no read is needed), else undefined. */
  get plain(): readonly string[] | undefined {
    return this.#plain;
  }

  /** Every value, current first: providers read as needed, each checked, none repeated. */
  async values(): Promise<readonly string[]> {
    if (this.#plain !== undefined) return this.#plain;
    const values = await Promise.all(this.#entries.map((entry) => entry.get()));
    this.#refuseRepeats(values);
    return values;
  }

  /**
   * After no listed value worked: reads every provider again and answers the new list when one
   * of them changed, else undefined.
   */
  async changed(used: readonly string[]): Promise<readonly string[] | undefined> {
    if (this.#plain !== undefined) return undefined;
    const fresh = await Promise.all(
      this.#entries.map(async (entry, index) => (await entry.changed(used[index] as string)) ?? used[index]),
    );
    if (fresh.every((value, index) => value === used[index])) return undefined;
    this.#refuseRepeats(fresh as string[]);
    return fresh as string[];
  }

  #refuseRepeats(values: ReadonlyArray<string | undefined>): void {
    for (let index = 0; index < values.length; index++) {
      const value = values[index];
      if (value === undefined) continue;
      const first = values.indexOf(value);
      if (first !== index)
        throw this.#rules.repeated(this.#labels[index] as string, this.#labels[first] as string);
    }
  }
}
