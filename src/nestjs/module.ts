/**
 * `WeChatKitModule`: the clients, token stores and session guards of one or more accounts as Nest
 * providers, and the early step that keeps WeChat's signed bodies raw (see raw-body.ts).
 */
import {
  type DynamicModule,
  Inject,
  Injectable,
  type InjectionToken,
  Module,
  type ModuleMetadata,
  type OptionalFactoryDependency,
  type Provider,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { TokenStore } from '../credentials/token-store.js';
import { ConfigError } from '../errors.js';
import {
  accountsOf,
  attachGuard,
  checkAccountName,
  DEFAULT_WECHAT_ACCOUNT,
  defaultStoreOf,
  guardOf,
  WeChatAccount,
  type WeChatAccountOptions,
  type WeChatKitModuleOptions,
  type WeChatProduct,
} from './account.js';
import { installRawBodyCapture, type NestHttpAdapterLike } from './raw-body.js';
import { CLIENT_CLASSES, DEFAULT_STORE, getWeChatToken, MODULE_OPTIONS } from './tokens.js';

/** Options of {@link WeChatKitModule.forRootAsync}. */
export interface WeChatKitModuleAsyncOptions {
  /** Modules whose providers the factory injects (e.g. `ConfigModule`). */
  imports?: ModuleMetadata['imports'];
  /** What the factory receives, in order (e.g. `[ConfigService]`). */
  inject?: Array<InjectionToken | OptionalFactoryDependency>;
  /** Returns the module options (sync or async). */
  // biome-ignore lint/suspicious/noExplicitAny: Nest factories take whatever `inject` names
  useFactory: (...args: any[]) => WeChatKitModuleOptions | PromiseLike<WeChatKitModuleOptions>;
  /**
   * The named accounts the factory configures (`accounts: { shop: … }` → `['shop']`): Nest needs
   * their providers before the factory runs. The default account is always there.
   */
  accounts?: readonly string[];
  /** Register the providers globally (default `true`); `false` to import the module where used. */
  isGlobal?: boolean;
}

/** Options of {@link WeChatKitModule.forRoot}: the module options plus `isGlobal`. */
export interface WeChatKitModuleRootOptions extends WeChatKitModuleOptions {
  /** Register the providers globally (default `true`); `false` to import the module where used. */
  isGlobal?: boolean;
}

/** Installs the raw-body step when the module is instantiated, before `app.init()` (private). */
class RawBodyInstaller {
  constructor(host: HttpAdapterHost | null) {
    installRawBodyCapture(host?.httpAdapter as NestHttpAdapterLike | undefined);
  }
}
Injectable()(RawBodyInstaller);
Inject(HttpAdapterHost)(RawBodyInstaller, undefined as never, 0);

/** Placeholder for a client whose product the account does not configure. */
const NEST_PROBES = new Set([
  'then',
  'constructor',
  'onModuleInit',
  'onApplicationBootstrap',
  'onModuleDestroy',
  'beforeApplicationShutdown',
  'onApplicationShutdown',
  'toJSON',
]);

function unconfigured(account: WeChatAccount, product: WeChatProduct): object {
  return new Proxy(Object.create(null) as object, {
    get(_target, property) {
      // Nest (and `await`, and loggers) probe instances for hooks: those must not throw.
      if (typeof property === 'symbol' || NEST_PROBES.has(property)) return undefined;
      return account[product];
    },
  });
}

function accountProviders(name: string): Provider[] {
  const account = getWeChatToken('account', name);
  const providers: Provider[] = [
    {
      provide: account,
      inject: [MODULE_OPTIONS, DEFAULT_STORE],
      useFactory: async (options: Map<string, WeChatAccountOptions>, store: TokenStore) => {
        const own = options.get(name) as WeChatAccountOptions;
        const built = new WeChatAccount(name, own, store);
        await attachGuard(built, own.guard);
        return built;
      },
    },
    {
      provide: getWeChatToken('store', name),
      inject: [account],
      useFactory: (built: WeChatAccount) => built.store,
    },
    {
      provide: getWeChatToken('guard', name),
      inject: [account],
      useFactory: (built: WeChatAccount) => guardOf(built) ?? null,
    },
  ];
  for (const [Client, product] of CLIENT_CLASSES) {
    providers.push({
      provide: getWeChatToken(Client, name),
      inject: [account],
      useFactory: (built: WeChatAccount) =>
        built.has(product) ? built[product] : unconfigured(built, product),
    });
  }
  return providers;
}

/**
 * The weixin-kit clients as Nest providers, for one account or several.
 *
 * Providers, per account (`'default'` for the top-level options):
 * - `OfficialAccount`, `MiniProgram`, `OpenPlatform`, `Work`, `PayV3`: `@InjectWeChat(PayV3)`,
 *   `@InjectWeChat(PayV3, 'shop')` (the default account's are also under the class itself);
 * - the account (all of the above): `@InjectWeChat()`, `@InjectWeChat('shop')`;
 * - its token store: `@InjectWeChatStore()`, `@InjectWeChatStore('shop')`;
 * - its session guard, behind `@UseGuards(WeChatSession)` / `WeChatSession.forAccount('shop')`.
 *
 * A product left out of the options is still injectable, and throws a `ConfigError` naming the
 * option to add when used. Callback routes (`@WeChatCallbackRoute`, `@PayNotificationRoute`)
 * need the module in the app: it keeps the raw bytes of WeChat's signed requests.
 *
 * @example
 * @Module({
 *   imports: [
 *     WeChatKitModule.forRootAsync({
 *       imports: [ConfigModule],
 *       inject: [ConfigService],
 *       useFactory: (config: ConfigService) => ({
 *         officialAccount: { appId: config.get('OA_APPID'), secret: config.get('OA_SECRET') },
 *       }),
 *     }),
 *   ],
 * })
 * export class AppModule {}
 */
// biome-ignore lint/complexity/noStaticOnlyClass: a Nest dynamic module is a class with static forRoot()
export class WeChatKitModule {
  /** The module with options known now. */
  static forRoot(options: WeChatKitModuleRootOptions): DynamicModule {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'weixin-kit/nestjs: WeChatKitModule.forRoot(options) takes an object',
      );
    }
    const { isGlobal, ...moduleOptions } = options;
    const accounts = accountsOf(moduleOptions);
    return WeChatKitModule.#build([...accounts.keys()], isGlobal, [], {
      provide: MODULE_OPTIONS,
      useValue: accounts,
    });
  }

  /** The module with options from a factory (a `ConfigService`, a secret manager, …). */
  static forRootAsync(options: WeChatKitModuleAsyncOptions): DynamicModule {
    if (typeof options !== 'object' || options === null || typeof options.useFactory !== 'function') {
      throw new ConfigError(
        'INVALID_CONFIG',
        'weixin-kit/nestjs: WeChatKitModule.forRootAsync({ useFactory, inject?, imports?, accounts? }) needs useFactory',
      );
    }
    const declared = [...(options.accounts ?? [])];
    for (const name of declared) {
      if (checkAccountName(name) === DEFAULT_WECHAT_ACCOUNT) {
        throw new ConfigError(
          'INVALID_CONFIG',
          'weixin-kit/nestjs: forRootAsync accounts lists the named accounts; "default" is always there',
        );
      }
    }
    const factory = options.useFactory;
    return WeChatKitModule.#build(
      [DEFAULT_WECHAT_ACCOUNT, ...declared],
      options.isGlobal,
      options.imports ?? [],
      {
        provide: MODULE_OPTIONS,
        inject: options.inject ?? [],
        useFactory: async (...args: unknown[]) => accountsOf(await factory(...args), declared),
      },
    );
  }

  static #build(
    names: string[],
    isGlobal: boolean | undefined,
    imports: NonNullable<ModuleMetadata['imports']>,
    optionsProvider: Provider,
  ): DynamicModule {
    const store: Provider = {
      provide: DEFAULT_STORE,
      inject: [MODULE_OPTIONS],
      useFactory: (accounts: Map<string, WeChatAccountOptions>) =>
        defaultStoreOf(accounts.get(DEFAULT_WECHAT_ACCOUNT) as WeChatAccountOptions),
    };
    const perAccount = names.flatMap(accountProviders);
    return {
      module: WeChatKitModule,
      global: isGlobal ?? true,
      imports,
      providers: [optionsProvider, store, RawBodyInstaller, ...perAccount],
      exports: perAccount.map((provider) => (provider as { provide: InjectionToken }).provide),
    };
  }
}
Module({})(WeChatKitModule);
