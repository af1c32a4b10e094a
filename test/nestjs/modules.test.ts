// WeChatKitModule's providers in a real Nest app: forRootAsync from a ConfigService-like provider,
// named accounts, the token store, unconfigured products, refused options, and callback routes in
// an app without the module (their body was parsed by Nest: a 500 that says what to change).
import 'reflect-metadata';
import { Body, Controller, Get, Inject, Injectable, Module, Post, UseGuards } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPayNotificationHandler } from '../../src/callbacks/index.js';
import { PayV3Verifier } from '../../src/crypto/index.js';
import type { EmulatorAppConfig } from '../../src/emulator/config.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { MemoryStore, MiniProgram, PayV3, type TokenStore, WeChatKitError } from '../../src/index.js';
import {
  getWeChatToken,
  InjectWeChat,
  InjectWeChatStore,
  PayNotificationRoute,
  type WeChatAccount,
  WeChatKitModule,
  WeChatSession,
} from '../../src/nestjs/index.js';
import { boot, call, control, PLATFORMS, type RunningApp } from './fixture.js';

const SHOP: EmulatorAppConfig = {
  appId: 'wxnest0000000000shop',
  secret: 'nest-shop-secret-01234',
  kind: 'mini-program',
};
const MAIN: EmulatorAppConfig = {
  appId: 'wxnest0000000000main',
  secret: 'nest-main-secret-56789',
  kind: 'mini-program',
};

let emulator: RunningEmulator;

beforeAll(async () => {
  emulator = await startEmulator({ config: { apps: [MAIN, SHOP], merchants: [] } });
});

afterAll(async () => {
  await emulator?.close();
});

/** A stand-in for @nestjs/config's ConfigService: values by key, from its own module. */
@Injectable()
class ConfigService {
  readonly #values: Record<string, string>;
  constructor(@Inject('CONFIG_VALUES') values: Record<string, string>) {
    this.#values = values;
  }
  get(key: string): string {
    const value = this.#values[key];
    if (value === undefined) throw new Error(`no config value ${key}`);
    return value;
  }
}

@Module({
  providers: [
    ConfigService,
    {
      provide: 'CONFIG_VALUES',
      useFactory: () => ({
        MP_APPID: MAIN.appId,
        MP_SECRET: MAIN.secret,
        SHOP_APPID: SHOP.appId,
        SHOP_SECRET: SHOP.secret,
        WECHAT_API: emulator.url,
      }),
    },
  ],
  exports: [ConfigService],
})
class ConfigModule {}

const sharedStore = new MemoryStore();

@Controller()
class AccountsController {
  constructor(
    @InjectWeChat(MiniProgram) private readonly main: MiniProgram,
    @InjectWeChat(MiniProgram, 'shop') private readonly shopMp: MiniProgram,
    @InjectWeChat('shop') private readonly shop: WeChatAccount,
    @InjectWeChat() private readonly account: WeChatAccount,
    @InjectWeChatStore() private readonly store: TokenStore,
    @InjectWeChatStore('shop') private readonly shopStore: TokenStore,
    @InjectWeChat(PayV3) private readonly pay: PayV3,
  ) {}

  @Get('accounts')
  accounts() {
    return {
      main: this.main.appId,
      shop: this.shopMp.appId,
      sameShopClient: this.shop.miniProgram === this.shopMp,
      sameMainClient: this.account.miniProgram === this.main,
      sharedStore: this.store === sharedStore,
      shopStoreIsOwn: this.shopStore !== this.store && this.shop.store === this.shopStore,
    };
  }

  @Post('session')
  async session(@Body() body: { code: string; account?: string }) {
    const client = body.account === 'shop' ? this.shopMp : this.main;
    const { openid } = await client.auth.code2Session({ js_code: body.code });
    return { openid };
  }

  @Get('pay')
  payUse() {
    try {
      return { mchid: this.pay.mchid };
    } catch (error) {
      return { code: (error as WeChatKitError).code, message: (error as Error).message };
    }
  }
}

describe('WeChatKitModule.forRootAsync with a ConfigService-like provider and two accounts', () => {
  let nest: RunningApp;
  let factoryCalls = 0;

  beforeAll(async () => {
    @Module({
      imports: [
        WeChatKitModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          accounts: ['shop'],
          useFactory: async (config: ConfigService) => {
            factoryCalls++;
            return {
              store: sharedStore,
              miniProgram: {
                appId: config.get('MP_APPID'),
                secret: config.get('MP_SECRET'),
                baseUrl: config.get('WECHAT_API'),
              },
              accounts: {
                shop: {
                  store: new MemoryStore(),
                  miniProgram: {
                    appId: config.get('SHOP_APPID'),
                    secret: config.get('SHOP_SECRET'),
                    baseUrl: config.get('WECHAT_API'),
                  },
                },
              },
            };
          },
        }),
      ],
      controllers: [AccountsController],
    })
    class AppModule {}
    nest = await boot(AppModule, 'express');
  });

  afterAll(async () => {
    await nest?.close();
  });

  it('builds the options once, from the injected config, and injects both accounts by name', async () => {
    const answer = await call(`${nest.url}/accounts`);
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({
      main: MAIN.appId,
      shop: SHOP.appId,
      sameShopClient: true,
      sameMainClient: true,
      sharedStore: true,
      shopStoreIsOwn: true,
    });
    expect(factoryCalls).toBe(1);
  });

  it('calls WeChat (the emulator) with each account’s own credentials', async () => {
    const exchange = async (app: EmulatorAppConfig, account: string | undefined, openId: string) => {
      const { code } = await control(emulator.url, '/_emulator/mini-program/login', {
        appId: app.appId,
        openId,
      });
      return call(`${nest.url}/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ code, ...(account === undefined ? {} : { account }) }),
      });
    };
    const main = await exchange(MAIN, undefined, 'o_main_user');
    expect(main.json()).toEqual({ openid: 'o_main_user' });
    const shop = await exchange(SHOP, 'shop', 'o_shop_user');
    expect(shop.json()).toEqual({ openid: 'o_shop_user' });
    // A code of the shop's Mini Program is not the main one's: WeChat refuses it to the wrong appid.
    const crossed = await exchange(SHOP, undefined, 'o_crossed');
    expect(crossed.status).toBe(500);
  });

  it('injects an unconfigured product, which says what to add when used', async () => {
    const answer = await call(`${nest.url}/pay`);
    expect(answer.json()).toEqual({ code: 'INVALID_CONFIG', message: expect.stringContaining('add payV3') });
    expect(nest.app.get(getWeChatToken(PayV3))).toBeDefined();
    expect(nest.app.get(getWeChatToken(MiniProgram, 'shop'))).toBeInstanceOf(MiniProgram);
  });
});

describe('WeChatKitModule refuses bad options when the module is built', () => {
  it('an unknown option names itself and the allowed ones', () => {
    expect(() => WeChatKitModule.forRoot({ miniprogram: {} } as never)).toThrow(
      /unknown option "miniprogram"/,
    );
  });

  it('an account named "default" in accounts, or a bad account name', () => {
    expect(() => WeChatKitModule.forRoot({ accounts: { default: {} } })).toThrow(
      /top-level options are the default/,
    );
    expect(() => WeChatKitModule.forRoot({ accounts: { 'a b': {} } })).toThrow(/account name/);
  });

  it('a forRootAsync factory configuring an account it did not declare fails the boot', async () => {
    @Module({
      imports: [
        WeChatKitModule.forRootAsync({
          useFactory: () => ({
            accounts: { shop: { miniProgram: { appId: SHOP.appId, secret: SHOP.secret } } },
          }),
        }),
      ],
    })
    class AppModule {}
    const error = await boot(AppModule, 'express').then(
      async (running) => {
        await running.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WeChatKitError);
    expect((error as WeChatKitError).code).toBe('INVALID_CONFIG');
    expect((error as Error).message).toContain('forRootAsync({ accounts: ["shop"] })');
  });
});

describe('@UseGuards(WeChatSession) without a configured guard', () => {
  it('fails the boot with a ConfigError saying which option to add', async () => {
    @Controller()
    class Guarded {
      @Get('me')
      @UseGuards(WeChatSession.forAccount('shop'))
      me() {
        return {};
      }
    }
    @Module({
      imports: [
        WeChatKitModule.forRoot({
          accounts: { shop: { miniProgram: { appId: SHOP.appId, secret: SHOP.secret } } },
        }),
      ],
      controllers: [Guarded],
    })
    class AppModule {}
    const error = await boot(AppModule, 'express').then(
      async (running) => {
        await running.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect((error as WeChatKitError).code).toBe('INVALID_CONFIG');
    expect((error as Error).message).toContain('accounts.shop.guard');
  });
});

describe.each(PLATFORMS)('a callback route in an app without WeChatKitModule (%s)', (platform) => {
  let nest: RunningApp;
  const problems: string[] = [];
  const logged: string[] = [];

  @Controller()
  class PayController {
    readonly #handler = createPayNotificationHandler({
      apiV3Key: '0123456789abcdef0123456789abcdef',
      verifier: new PayV3Verifier({ publicKey: { id: 'PUB_KEY_ID_0000', key: emulatorKeyPem() } }),
      logger: { error: (fields) => logged.push(fields.code) },
    });
    @PayNotificationRoute('pay/notify', { onMisconfigured: (message) => problems.push(message) })
    notifications() {
      return this.#handler;
    }
  }

  beforeAll(async () => {
    @Module({ controllers: [PayController] })
    class AppModule {}
    nest = await boot(AppModule, platform);
  });

  afterAll(async () => {
    await nest?.close();
  });

  it('answers a signed JSON body Nest parsed with a 500 saying to import the module', async () => {
    const answer = await call(`${nest.url}/pay/notify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'wechatpay-signature': 'c2ln' },
      body: '{"id":"x"}',
    });
    expect(answer.status).toBe(500);
    expect(answer.text).toContain('Import WeChatKitModule');
    expect(problems).toHaveLength(1);
    // The handler is told as well: its owner's logger gets the misconfiguration.
    expect(logged).toEqual(['BODY_ALREADY_PARSED']);
  });
});

function emulatorKeyPem(): string {
  return emulator.state.platform.publicKey.pem;
}
