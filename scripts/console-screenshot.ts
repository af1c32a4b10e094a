// Makes docs/images/emulator-console.png, the README's picture of the emulator console: starts an
// emulator and a small developer server (weixin-kit's own callback and Pay notification
// handlers), plays a short session (token calls, one refused; orders paid, refunded, closed; a
// push answered), opens /_emulator/ui in headless Chromium and saves a screenshot.
//
//   npm run setup:browser && npx tsx scripts/console-screenshot.ts [out.png]
import { accessSync, constants, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { chromium } from 'playwright-core';
import { toNodeListener } from '../src/adapters/node.js';
import { defaultConfig } from '../src/emulator/config.js';
import { startEmulator } from '../src/emulator/server.js';
import { createPayNotificationHandler, createWeChatCallback, PayV3, reply } from '../src/index.js';

const out = process.argv[2] ?? 'docs/images/emulator-console.png';
const browserPath = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
]
  .filter((p): p is string => Boolean(p))
  .find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
if (browserPath === undefined) {
  console.error('no Chromium found: run npm run setup:browser (or set CHROMIUM_PATH)');
  process.exit(1);
}

let listener: Parameters<typeof createServer>[1] = (_req, res) => res.end();
const dev = createServer((req, res) => listener?.(req, res));
await new Promise<void>((resolve) => dev.listen(0, '127.0.0.1', resolve));
const devUrl = `http://127.0.0.1:${(dev.address() as AddressInfo).port}`;
const config = defaultConfig();
const [first, ...others] = config.apps ?? [];
const emulator = await startEmulator({
  config: { ...config, apps: [{ ...first!, callbackUrl: `${devUrl}/wechat` }, ...others] },
});
const app = emulator.config.apps[0]!;
const merchant = emulator.config.merchants[0]!;
const pay = new PayV3({
  mchid: merchant.mchid,
  merchantSerialNo: merchant.merchantCertificateSerial,
  privateKey: merchant.merchantPrivateKeyPem as string,
  apiV3Key: merchant.apiV3Key,
  platform: {
    publicKey: { id: emulator.state.platform.publicKey.id, key: emulator.state.platform.publicKey.pem },
  },
  baseUrl: emulator.url,
});
const callback = createWeChatCallback({
  appId: app.appId,
  token: app.token as string,
  encodingAESKey: app.encodingAESKey as string,
  mode: 'safe',
});
callback.on('text', (message) => reply.text(`You said: ${message.Content}`));
const wechat = toNodeListener(callback);
const notify = toNodeListener(
  createPayNotificationHandler({ apiV3Key: merchant.apiV3Key, verifier: pay.platformTrust }),
);
listener = (req, res) => (req.url?.startsWith('/pay/') ? notify(req, res) : wechat(req, res));

const browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1360, height: 1000 }, deviceScaleFactor: 1 });
  await page.goto(`${emulator.url}/_emulator/ui`);
  await page.locator('#conn.live').waitFor({ timeout: 10_000 });

  const api = (path: string, body?: unknown) =>
    fetch(`${emulator.url}${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
  await api(`/cgi-bin/token?grant_type=client_credential&appid=${app.appId}&secret=${app.secret}`);
  const orders = [
    ['ORDER-20261202-0001', 'T-shirt, size M', 9900],
    ['ORDER-20261202-0002', 'Coffee beans 500 g', 6800],
    ['ORDER-20261202-0003', 'Gift card', 20000],
    ['ORDER-20261202-0004', 'Notebook', 1500],
  ] as const;
  for (const [no, description, total] of orders) {
    await pay.transactions.native({
      appid: app.appId,
      description,
      out_trade_no: no,
      notify_url: `${devUrl}/pay/notify`,
      amount: { total },
    });
  }
  await api('/_emulator/faults', {
    path: '/cgi-bin/message/custom/send',
    errcode: 45047,
    errmsg: 'out of response count limit',
    count: 0,
  });
  await page.locator('tr.order[data-order="ORDER-20261202-0004"]').waitFor({ timeout: 10_000 });
  await page.locator('tr.order[data-order="ORDER-20261202-0001"] button[data-action="pay"]').click();
  await page
    .locator('tr.order[data-order="ORDER-20261202-0001"][data-state="SUCCESS"]')
    .waitFor({ timeout: 10_000 });
  await page.locator('tr.order[data-order="ORDER-20261202-0002"] button[data-action="pay"]').click();
  await page
    .locator('tr.order[data-order="ORDER-20261202-0002"][data-state="SUCCESS"]')
    .waitFor({ timeout: 10_000 });
  await page.locator('tr.order[data-order="ORDER-20261202-0002"] button[data-action="refund"]').click();
  await page
    .locator('tr.order[data-order="ORDER-20261202-0002"][data-state="REFUND"]')
    .waitFor({ timeout: 10_000 });
  await page.locator('tr.order[data-order="ORDER-20261202-0004"] button[data-action="close"]').click();
  await page
    .locator('tr.order[data-order="ORDER-20261202-0004"][data-state="CLOSED"]')
    .waitFor({ timeout: 10_000 });
  await api(`/cgi-bin/token?grant_type=client_credential&appid=${app.appId}&secret=not-the-secret`);
  await api('/cgi-bin/no_such_api');
  await page.locator('#push-content').fill('Hello, weixin-kit!');
  await page.locator('#push-send').click();
  await page.locator('#push-result[data-verdict="accepted"]').waitFor({ timeout: 10_000 });
  await page.waitForTimeout(500);
  await page.locator('#toast').evaluate((el) => el.classList.add('hidden'));
  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await emulator.close();
  dev.close();
}
