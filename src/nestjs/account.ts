/**
 * The options of `WeChatKitModule` and the account they build: one set of clients (Official
 * Account, Mini Program, Open Platform, WeCom, Pay v3), their token store and, optionally, the
 * session guard, per account name.
 */
import { MemoryStore } from '../credentials/memory-store.js';
import type { TokenStore } from '../credentials/token-store.js';
import { ConfigError } from '../errors.js';
import type { Guard } from '../guard/guard.js';
import { MiniProgram, type MiniProgramOptions } from '../mini-program/mini-program.js';
import { OfficialAccount, type OfficialAccountOptions } from '../official-account/official-account.js';
import { OpenPlatform, type OpenPlatformOptions } from '../open-platform/open-platform.js';
import { PayV3, type PayV3Options } from '../pay/v3/client.js';
import { Work, type WorkOptions } from '../work/work.js';

/** The name of the account configured at the top level of the module options. */
export const DEFAULT_WECHAT_ACCOUNT = 'default';

/** The products of one account, as named in {@link WeChatAccountOptions}. */
export type WeChatProduct = 'officialAccount' | 'miniProgram' | 'openPlatform' | 'work' | 'payV3';

/** The client classes the module provides. */
export type WeChatClientClass =
  | typeof OfficialAccount
  | typeof MiniProgram
  | typeof OpenPlatform
  | typeof Work
  | typeof PayV3;

/** The clients of one account, by product. */
export interface WeChatClients {
  officialAccount: OfficialAccount;
  miniProgram: MiniProgram;
  openPlatform: OpenPlatform;
  work: Work;
  payV3: PayV3;
}

/**
 * The clients of one account. Each product is the options its client class takes (see the
 * client's docs); a client whose options name no `store` gets the account's store.
 */
export interface WeChatAccountOptions {
  officialAccount?: OfficialAccountOptions | undefined;
  miniProgram?: MiniProgramOptions | undefined;
  openPlatform?: OpenPlatformOptions | undefined;
  work?: WorkOptions | undefined;
  payV3?: PayV3Options | undefined;
  /**
   * Where this account's clients keep tokens and tickets (`RedisStore` from `weixin-kit/redis` to
   * share them between instances). Default: the module's `store`.
   */
  store?: TokenStore | undefined;
  /**
   * The Mini Program session guard behind `@UseGuards(WeChatSession)`: a guard from
   * `createGuard` (`weixin-kit/guard`), or a function building it from this account's clients.
   *
   * @example
   * guard: (account) => createGuard({ miniProgram: account.miniProgram, keys }),
   */
  guard?: Guard | ((account: WeChatAccount) => Guard | PromiseLike<Guard>) | undefined;
}

/** Options of `WeChatKitModule.forRoot` (and what the `forRootAsync` factory returns). */
export interface WeChatKitModuleOptions extends WeChatAccountOptions {
  /**
   * More accounts by name, each injected with `@InjectWeChat('shop')` or
   * `@InjectWeChat(PayV3, 'shop')`. The top-level products are the account `'default'`.
   * The top-level `store` is the default of every account.
   */
  accounts?: Readonly<Record<string, WeChatAccountOptions>> | undefined;
}

const ACCOUNT_KEYS: readonly string[] = [
  'officialAccount',
  'miniProgram',
  'openPlatform',
  'work',
  'payV3',
  'store',
  'guard',
];
const MODULE_KEYS: readonly string[] = [...ACCOUNT_KEYS, 'accounts'];
const ACCOUNT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const PRODUCTS: Record<WeChatProduct, new (options: never) => object> = {
  officialAccount: OfficialAccount,
  miniProgram: MiniProgram,
  openPlatform: OpenPlatform,
  work: Work,
  payV3: PayV3,
};

function fail(message: string): never {
  throw new ConfigError('INVALID_CONFIG', `weixin-kit/nestjs: ${message}`);
}

function checkKeys(where: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(`${where} must be an object`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`${where}: unknown option "${key}" (allowed: ${allowed.join(', ')})`);
  }
}

/** Checks an account name (used in injection tokens and error messages). */
export function checkAccountName(name: unknown): string {
  if (typeof name !== 'string' || !ACCOUNT_NAME.test(name)) {
    fail(`an account name is 1-64 letters, digits, "_", "." or "-"; got ${JSON.stringify(name)}`);
  }
  return name;
}

/**
 * Validates module options and returns the options of every account by name, `'default'` first.
 * `declared`: the names `forRootAsync` registered providers for (all of them must be configured,
 * and no other).
 */
export function accountsOf(
  options: WeChatKitModuleOptions,
  declared?: readonly string[],
): Map<string, WeChatAccountOptions> {
  checkKeys('the module options', options, MODULE_KEYS);
  const out = new Map<string, WeChatAccountOptions>();
  const { accounts, ...top } = options;
  out.set(DEFAULT_WECHAT_ACCOUNT, top);
  if (accounts !== undefined) {
    checkKeys('accounts', accounts, Object.keys(accounts));
    for (const [name, account] of Object.entries(accounts)) {
      checkAccountName(name);
      if (name === DEFAULT_WECHAT_ACCOUNT) {
        fail('accounts.default: the top-level options are the default account; move them there');
      }
      checkKeys(`accounts.${name}`, account, ACCOUNT_KEYS);
      out.set(name, account);
    }
  }
  if (declared !== undefined) {
    for (const name of out.keys()) {
      if (name !== DEFAULT_WECHAT_ACCOUNT && !declared.includes(name)) {
        fail(
          `the factory configured account "${name}", which forRootAsync does not declare: add it to forRootAsync({ accounts: [${JSON.stringify(name)}] })`,
        );
      }
    }
    for (const name of declared) {
      if (!out.has(name))
        fail(`forRootAsync declares account "${name}", but the factory returned no accounts.${name}`);
    }
  }
  return out;
}

/**
 * One account: its clients, its token store and its guard. Reading a product that was not
 * configured throws a `ConfigError` naming the option to add.
 *
 * @example
 * constructor(@InjectWeChat('shop') private readonly shop: WeChatAccount) {}
 * // …
 * await this.shop.payV3.transactions.jsapi({ … });
 */
export class WeChatAccount implements WeChatClients {
  /** The account name (`'default'` for the top-level options). */
  readonly name: string;
  /** Where this account's clients keep tokens, unless a client's own options name a store. */
  readonly store: TokenStore;
  readonly #clients: Partial<WeChatClients>;

  /** Builds the configured clients. Prefer the module, which calls this for you. */
  constructor(name: string, options: WeChatAccountOptions, defaultStore: TokenStore) {
    this.name = checkAccountName(name);
    this.store = options.store ?? defaultStore;
    const clients: Partial<Record<WeChatProduct, object>> = {};
    for (const product of Object.keys(PRODUCTS) as WeChatProduct[]) {
      const given = options[product];
      if (given === undefined) continue;
      if (typeof given !== 'object' || given === null) fail(`${this.#where(product)} must be an object`);
      const Client = PRODUCTS[product];
      clients[product] = new Client(
        (given.store === undefined ? { ...given, store: this.store } : given) as never,
      );
    }
    this.#clients = clients as Partial<WeChatClients>;
  }

  /** True when this account has options for `product`. */
  has(product: WeChatProduct): boolean {
    return this.#clients[product] !== undefined;
  }

  get officialAccount(): OfficialAccount {
    return this.#client('officialAccount');
  }
  get miniProgram(): MiniProgram {
    return this.#client('miniProgram');
  }
  get openPlatform(): OpenPlatform {
    return this.#client('openPlatform');
  }
  get work(): Work {
    return this.#client('work');
  }
  get payV3(): PayV3 {
    return this.#client('payV3');
  }

  /** The session guard of this account (the `guard` option). */
  get guard(): Guard {
    const guard = guards.get(this);
    if (guard === undefined) {
      fail(
        `account "${this.name}" has no session guard: add guard: (account) => createGuard({ miniProgram: account.miniProgram, keys }) to ${this.#where('guard')}`,
      );
    }
    return guard;
  }

  #client<P extends WeChatProduct>(product: P): WeChatClients[P] {
    const client = this.#clients[product];
    if (client === undefined) {
      fail(
        `account "${this.name}" has no ${product}: add ${this.#where(product)} to the WeChatKitModule options`,
      );
    }
    return client;
  }

  #where(key: string): string {
    return whereIn(this.name, key);
  }
}

function whereIn(account: string, key: string): string {
  return account === DEFAULT_WECHAT_ACCOUNT ? key : `accounts.${account}.${key}`;
}

const guards = new WeakMap<WeChatAccount, Guard>();

/** Resolves an account's `guard` option once its clients exist (it may be built from them). */
export async function attachGuard(
  account: WeChatAccount,
  option: WeChatAccountOptions['guard'],
): Promise<void> {
  if (option === undefined) return;
  const guard = typeof option === 'function' ? await option(account) : option;
  if (typeof guard !== 'object' || guard === null || typeof guard.authenticate !== 'function') {
    fail(
      `${whereIn(account.name, 'guard')} must be a guard from createGuard() (weixin-kit/guard), or a function returning one`,
    );
  }
  guards.set(account, guard);
}

/** The account's guard, or `undefined` when it has none. */
export function guardOf(account: WeChatAccount): Guard | undefined {
  return guards.get(account);
}

/** Builds the module-wide default store. */
export function defaultStoreOf(options: WeChatAccountOptions): TokenStore {
  return options.store ?? new MemoryStore();
}
