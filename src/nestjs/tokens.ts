/**
 * The injection tokens of `WeChatKitModule` and the decorators that use them. Every token is
 * explicit, so nothing depends on `emitDecoratorMetadata`.
 */
import { Inject } from '@nestjs/common';
import { ConfigError } from '../errors.js';
import { MiniProgram } from '../mini-program/mini-program.js';
import { OfficialAccount } from '../official-account/official-account.js';
import { OpenPlatform } from '../open-platform/open-platform.js';
import { PayV3 } from '../pay/v3/client.js';
import { Work } from '../work/work.js';
import {
  checkAccountName,
  DEFAULT_WECHAT_ACCOUNT,
  type WeChatClientClass,
  type WeChatProduct,
} from './account.js';

/** What a token names besides a client class: the account object, its token store or its guard. */
export type WeChatTokenKind = WeChatClientClass | 'account' | 'store' | 'guard';

/** The client classes, with their product key in the options and their name in string tokens. */
export const CLIENT_CLASSES: ReadonlyArray<readonly [WeChatClientClass, WeChatProduct, string]> = [
  [OfficialAccount, 'officialAccount', 'OfficialAccount'],
  [MiniProgram, 'miniProgram', 'MiniProgram'],
  [OpenPlatform, 'openPlatform', 'OpenPlatform'],
  [Work, 'work', 'Work'],
  [PayV3, 'payV3', 'PayV3'],
];

/** The token of the resolved module options (private). */
export const MODULE_OPTIONS = 'weixin-kit:module-options';
/** The token of the module-wide default store (private). */
export const DEFAULT_STORE = 'weixin-kit:default-store';

function clientName(kind: WeChatClientClass): string | undefined {
  return CLIENT_CLASSES.find(([Client]) => Client === kind)?.[2];
}

/**
 * The injection token of a client, the account object, the token store or the guard of an account.
 * The clients of the default account are provided under their class as well, so
 * `@Inject(PayV3)` and `moduleRef.get(PayV3)` work; every other token is a string
 * `weixin-kit:<account>:<what>` (`weixin-kit:shop:PayV3`, `weixin-kit:default:store`).
 *
 * @example
 * { provide: OrderService, inject: [getWeChatToken(PayV3, 'shop')], useFactory: (pay) => new OrderService(pay) }
 */
export function getWeChatToken(
  kind: WeChatTokenKind,
  account: string = DEFAULT_WECHAT_ACCOUNT,
): string | WeChatClientClass {
  checkAccountName(account);
  if (typeof kind === 'function') {
    const name = clientName(kind);
    if (name === undefined) {
      throw new ConfigError(
        'INVALID_CONFIG',
        'weixin-kit/nestjs: getWeChatToken takes OfficialAccount, MiniProgram, OpenPlatform, Work, PayV3, "account", "store" or "guard"',
      );
    }
    return account === DEFAULT_WECHAT_ACCOUNT ? kind : `weixin-kit:${account}:${name}`;
  }
  if (kind !== 'account' && kind !== 'store' && kind !== 'guard') {
    throw new ConfigError(
      'INVALID_CONFIG',
      `weixin-kit/nestjs: unknown token kind ${JSON.stringify(kind)} (OfficialAccount, MiniProgram, OpenPlatform, Work, PayV3, "account", "store" or "guard")`,
    );
  }
  return `weixin-kit:${account}:${kind}`;
}

/**
 * Injects a client of an account, or the account itself (a {@link WeChatAccount} with all its
 * clients, its store and its guard).
 *
 * @example
 * constructor(
 *   @InjectWeChat(OfficialAccount) private readonly oa: OfficialAccount,       // default account
 *   @InjectWeChat(PayV3, 'shop') private readonly shopPay: PayV3,              // account "shop"
 *   @InjectWeChat('shop') private readonly shop: WeChatAccount,                // all of "shop"
 * ) {}
 */
export function InjectWeChat(
  client: WeChatClientClass,
  account?: string,
): PropertyDecorator & ParameterDecorator;
export function InjectWeChat(account?: string): PropertyDecorator & ParameterDecorator;
export function InjectWeChat(
  first?: WeChatClientClass | string,
  account?: string,
): PropertyDecorator & ParameterDecorator {
  if (typeof first === 'function') return Inject(getWeChatToken(first, account));
  return Inject(getWeChatToken('account', first ?? DEFAULT_WECHAT_ACCOUNT));
}

/**
 * Injects the token store of an account (the module's `store`, default in memory).
 *
 * @example
 * constructor(@InjectWeChatStore() private readonly store: TokenStore) {}
 */
export function InjectWeChatStore(account?: string): PropertyDecorator & ParameterDecorator {
  return Inject(getWeChatToken('store', account));
}
