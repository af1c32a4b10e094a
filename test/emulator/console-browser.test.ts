// The emulator console in a real browser: headless Chromium (Debian's package, found by
// test/helpers/browser.ts) loads /_emulator/ui from a running emulator, pays, refunds and closes
// orders with its buttons, pushes a message to a real developer server (weixin-kit's own callback
// and Pay notification handlers), and the test asserts what the page shows. Screenshots are kept
// under test-artifacts/emulator-console/ (git-ignored).
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { toNodeListener } from '../../src/adapters/node.js';
import { defaultConfig } from '../../src/emulator/config.js';
import { eventLogOf } from '../../src/emulator/events.js';
import { type RunningEmulator, startEmulator } from '../../src/emulator/server.js';
import { createPayNotificationHandler, createWeChatCallback, PayV3, reply } from '../../src/index.js';
import { chromiumPath } from '../helpers/browser.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'emulator-console');
const WAIT = { timeout: 10_000 };

describe.skipIf(chromiumPath === undefined)('emulator console in Chromium', () => {
  let devServer: Server;
  let emulator: RunningEmulator;
  let browser: Browser;
  let page: Page;
  let pay: PayV3;
  const paid: string[] = [];
  const texts: string[] = [];
  const pageErrors: string[] = [];
  let devListener: Parameters<typeof createServer>[1] = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // The developer's server: started first (its URL goes into the emulator config), wired to the
    // emulator's keys once the emulator runs.
    devServer = createServer((req, res) => devListener?.(req, res));
    await new Promise<void>((resolve) => devServer.listen(0, '127.0.0.1', resolve));
    const devUrl = `http://127.0.0.1:${(devServer.address() as AddressInfo).port}`;
    const config = defaultConfig();
    const [first, ...others] = config.apps ?? [];
    emulator = await startEmulator({
      config: { ...config, apps: [{ ...first!, callbackUrl: `${devUrl}/wechat` }, ...others] },
    });
    const app = emulator.config.apps[0]!;
    const merchant = emulator.config.merchants[0]!;
    pay = new PayV3({
      mchid: merchant.mchid,
      merchantSerialNo: merchant.merchantCertificateSerial,
      privateKey: merchant.merchantPrivateKeyPem as string,
      apiV3Key: merchant.apiV3Key,
      platform: {
        publicKey: { id: emulator.state.platform.publicKey.id, key: emulator.state.platform.publicKey.pem },
      },
      baseUrl: emulator.url,
      // Signed with emulated time, which the clock test moves.
      now: () => emulator.state.now(),
    });
    const callback = createWeChatCallback({
      appId: app.appId,
      token: app.token as string,
      encodingAESKey: app.encodingAESKey as string,
      mode: 'safe',
      now: () => emulator.state.now(),
    });
    callback.on('text', (message) => {
      texts.push(String(message.Content));
      return reply.text(`You said: ${message.Content}`);
    });
    const notifications = createPayNotificationHandler({
      apiV3Key: merchant.apiV3Key,
      verifier: pay.platformTrust,
      now: () => emulator.state.now(),
    });
    notifications.on('TRANSACTION.SUCCESS', ({ resource }) => {
      paid.push(resource.out_trade_no);
    });
    const wechat = toNodeListener(callback);
    const payNotify = toNodeListener(notifications);
    devListener = (req, res) => (req.url?.startsWith('/pay/notify') ? payNotify(req, res) : wechat(req, res));

    browser = await chromium.launch({ executablePath: chromiumPath as string, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`);
    });
    await page.goto(`${emulator.url}/_emulator/ui`);
    await page.locator('#conn.live').waitFor(WAIT);
  }, 60_000);

  // No script error and no CSP violation (Chromium reports those as console errors) in any step.
  afterEach(() => {
    expect(pageErrors).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await emulator?.close();
    await new Promise<void>((resolve) => (devServer ? devServer.close(() => resolve()) : resolve()));
  });

  /**
   * Waits for a push's verdict; on a timeout the error says what the page showed, what the handler
   * received and the emulator's last push events (attempts, status, reason), so a failure in CI
   * explains itself.
   */
  async function waitOrExplain(selector: string): Promise<void> {
    try {
      await page.locator(selector).waitFor(WAIT);
    } catch (error) {
      const shown = await page
        .locator('#push-result')
        .textContent({ timeout: 1000 })
        .catch(() => '(unreadable)');
      const pushes = eventLogOf(emulator.state)
        .since(0)
        .filter((event) => event.kind === 'push')
        .slice(-5);
      throw new Error(
        `${selector} not seen: the page shows ${JSON.stringify(shown)}; the handler received ` +
          `${JSON.stringify(texts)}; the emulator's last pushes: ${JSON.stringify(pushes)}`,
        { cause: error },
      );
    }
  }

  async function order(outTradeNo: string, total: number): Promise<void> {
    await pay.transactions.native({
      appid: emulator.config.apps[0]!.appId,
      description: `Console test ${outTradeNo}`,
      out_trade_no: outTradeNo,
      notify_url: `http://127.0.0.1:${(devServer.address() as AddressInfo).port}/pay/notify`,
      amount: { total },
    });
  }

  it('is served under its Content-Security-Policy, live over SSE, with credentials masked', async () => {
    const response = await fetch(`${emulator.url}/_emulator/ui`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(await page.locator('#conn').getAttribute('class')).toContain('live');
    // Apps with their credentials masked: the secret itself never reaches the page.
    const app = emulator.config.apps[0]!;
    const card = page.locator(`[data-app="${app.appId}"]`);
    await expect(card.textContent()).resolves.toContain('••••');
    await page.locator('[data-corp]').first().waitFor(WAIT);
    const html = await page.content();
    const secrets = [
      app.secret,
      app.token,
      app.encodingAESKey,
      emulator.config.merchants[0]!.apiV3Key,
      ...emulator.config.corps.flatMap((c) => c.agents.map((a) => a.secret)),
    ];
    for (const secret of secrets) expect(html).not.toContain(secret as string);
    expect(await page.locator('#push-target').textContent()).toContain('/wechat');
  });

  it('shows an API call and its refusal live in the log', async () => {
    const app = emulator.config.apps[0]!;
    await fetch(`${emulator.url}/cgi-bin/token?grant_type=client_credential&appid=${app.appId}&secret=wrong`);
    const row = page.locator('tr.event[data-kind="api"][data-verdict="refused"]', {
      hasText: '/cgi-bin/token',
    });
    await row.first().waitFor(WAIT);
    expect(await row.first().textContent()).toContain('40125');
  });

  it('pays an order with its button: the order turns SUCCESS and the notification is logged as accepted', async () => {
    await order('CONSOLE-PAY-1', 2599);
    const orderRow = page.locator('tr.order[data-order="CONSOLE-PAY-1"]');
    await page.locator('tr.order[data-order="CONSOLE-PAY-1"][data-state="NOTPAY"]').waitFor(WAIT);
    expect(await orderRow.textContent()).toContain('25.99 CNY');
    await shot('1-order-unpaid');
    await orderRow.locator('button[data-action="pay"]').click();
    await page.locator('tr.order[data-order="CONSOLE-PAY-1"][data-state="SUCCESS"]').waitFor(WAIT);
    const notified = page.locator('tr.event[data-kind="pay-notification"][data-verdict="accepted"]', {
      hasText: 'TRANSACTION.SUCCESS',
    });
    await notified.first().waitFor(WAIT);
    expect(paid).toContain('CONSOLE-PAY-1');
    // The developer server's answer is what the verdict says.
    expect(await notified.first().textContent()).toContain('HTTP 204');
    expect((await pay.transactions.getByOutTradeNo({ out_trade_no: 'CONSOLE-PAY-1' })).trade_state).toBe(
      'SUCCESS',
    );

    await orderRow.locator('button[data-action="refund"]').click();
    await page.locator('tr.order[data-order="CONSOLE-PAY-1"][data-state="REFUND"]').waitFor(WAIT);
    await expect(orderRow.locator('button[data-action="refund"]').count()).resolves.toBe(0);

    await order('CONSOLE-CLOSE-1', 100);
    const closeRow = page.locator('tr.order[data-order="CONSOLE-CLOSE-1"]');
    await closeRow.locator('button[data-action="close"]').click();
    await page.locator('tr.order[data-order="CONSOLE-CLOSE-1"][data-state="CLOSED"]').waitFor(WAIT);
    await shot('2-orders-paid-refunded-closed');
  });

  it('pushes a message from the form: the server answers and the page shows the decrypted reply as text', async () => {
    // Markup in a message is shown as text, never parsed: the page renders with textContent only.
    const content = '<img src=x id=injected> 你好 & "quotes"';
    await page.locator('#push-type').selectOption('text');
    await page.locator('#push-content').fill(content);
    await page.locator('#push-send').click();
    await waitOrExplain('#push-result[data-verdict="accepted"]');
    expect(texts).toContain(content);
    expect(await page.locator('#push-result pre.reply').textContent()).toContain(`You said: ${content}`);
    await page.locator('tr.event[data-kind="push"][data-verdict="accepted"]').first().waitFor(WAIT);
    expect(await page.locator('#injected').count()).toBe(0);
    await shot('3-push-accepted');
  });

  it('shows a push the server refuses, with why', async () => {
    // The server answers 500 three times: the emulator gives up, and the log says so.
    const saved = devListener;
    devListener = (_req, res) => {
      res.statusCode = 500;
      res.end('boom');
    };
    try {
      await page.locator('#push-content').fill('this one fails');
      await page.locator('#push-send').click();
      await page.locator('#push-result[data-verdict="refused"]').waitFor(WAIT);
      expect(await page.locator('#push-result').textContent()).toContain('HTTP_500');
      const refused = page.locator('tr.event[data-kind="push"][data-verdict="refused"]');
      await refused.first().waitFor(WAIT);
      expect(await refused.first().textContent()).toContain('HTTP_500');
    } finally {
      devListener = saved;
    }
  });

  it('adds and clears a fault, and moves the clock', async () => {
    await page.locator('#fault-path').fill('/cgi-bin/getcallbackip');
    await page.locator('#fault-errcode').fill('45009');
    await page.locator('#fault-errmsg').fill('reach max api daily quota limit');
    await page.locator('#fault-form button[type="submit"]').click();
    await page.locator('#faults-body tr.fault', { hasText: '45009' }).waitFor(WAIT);
    expect(emulator.state.faults).toHaveLength(1);
    await page.locator('#fault-clear').click();
    await page.locator('#faults-empty:not(.hidden)').waitFor(WAIT);
    expect(emulator.state.faults).toHaveLength(0);

    const before = emulator.state.now();
    await page.locator('button[data-advance="3600"]').click();
    await page.locator('#clock-mode', { hasText: '+3' }).waitFor(WAIT);
    expect(emulator.state.now() - before).toBeGreaterThanOrEqual(3_600_000);
    // Control changes are in the log too, shown on request (the default view hides them).
    const control = page.locator('tr.event[data-kind="control"]', { hasText: '/_emulator/clock' });
    expect(await control.count()).toBe(0);
    await page.locator('#log-kind').selectOption('all');
    try {
      await control.first().waitFor(WAIT);
      expect(await control.first().getAttribute('data-verdict')).toBe('accepted');
      await shot('4-after-fault-and-clock');
    } finally {
      await page.locator('#log-kind').selectOption('');
    }
  });
});
