import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningEmulator, startEmulator } from '../../src/emulator/index.js';
import { client, MP, OA, QUOTA_APP, tokenPath } from './fixture.js';

let emulator: RunningEmulator;
const api = client(() => emulator.url);
const QUOTA = 30;

// One emulator per test: tests move its clock and spend quotas, so a shared one made the outcome
// depend on the order (`--sequence.shuffle`).
beforeEach(async () => {
  emulator = await startEmulator({
    config: { apps: [OA, MP, QUOTA_APP], merchants: [], options: { tokenDailyQuota: QUOTA } },
  });
});
afterEach(async () => {
  await emulator.close();
});

/**
 * Moves the emulated clock to 01:00 Beijing time (UTC+8, where WeChat's quota days start) of the
 * next day. Daily-quota tests start there: from the real clock they failed when run in the ten
 * minutes before midnight in Beijing (the forced refreshes straddled the day boundary).
 */
async function toOneAmNextDay(): Promise<void> {
  const { now } = (await api.get('/_emulator/clock')) as { now: number };
  const day = 86_400;
  const beijing = now + 8 * 3600;
  await api.advance(day - (beijing % day) + 3600);
}

/** A business API call that only checks the token: the jsapi ticket. */
const probe = (token: string) => api.get(`/cgi-bin/ticket/getticket?access_token=${token}&type=jsapi`);
const stable = (app: typeof OA, force_refresh?: boolean) =>
  api.post('/cgi-bin/stable_token', {
    grant_type: 'client_credential',
    appid: app.appId,
    secret: app.secret,
    ...(force_refresh === undefined ? {} : { force_refresh }),
  });

describe('GET /cgi-bin/token', () => {
  it('issues { access_token, expires_in: 7200 } without errcode and counts it in stats', async () => {
    const before = (await api.get('/_emulator/stats')).tokensIssued[OA.appId] ?? 0;
    const body = await api.get(tokenPath(OA));
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in']);
    expect(body.expires_in).toBe(7200);
    expect(body.access_token.length).toBeGreaterThan(100);
    expect((await probe(body.access_token)).errcode).toBe(0);
    expect((await api.get('/_emulator/stats')).tokensIssued[OA.appId]).toBe(before + 1);
  });

  it('keeps the previous token valid for 5 minutes after a new one, then answers 40001', async () => {
    const first = (await api.get(tokenPath(OA))).access_token;
    const second = (await api.get(tokenPath(OA))).access_token;
    expect(second).not.toBe(first);
    await api.advance(299);
    expect((await probe(first)).errcode).toBe(0);
    expect((await probe(second)).errcode).toBe(0);
    await api.advance(2);
    const stale = await probe(first);
    expect(stale.errcode).toBe(40001);
    expect(stale.errmsg).toMatch(/^invalid credential, access_token is invalid or not latest/);
    expect((await probe(second)).errcode).toBe(0);
  });

  it('expires a token after 7200 s of emulated time (42001)', async () => {
    const token = (await api.get(tokenPath(OA))).access_token;
    await api.advance(7199);
    expect((await probe(token)).errcode).toBe(0);
    await api.advance(1);
    const expired = await probe(token);
    expect(expired.errcode).toBe(42001);
    expect(expired.errmsg).toMatch(/access_token expired/);
  });

  it.each([
    // 40125 "invalid appsecret", as WeChat answers: a 40001 here looks like a stale-token problem.
    ['wrong secret', `grant_type=client_credential&appid=${OA.appId}&secret=nope`, 40125],
    ['unknown appid', 'grant_type=client_credential&appid=wx9999999999999999&secret=x', 40013],
    ['missing appid', `grant_type=client_credential&secret=${OA.secret}`, 41002],
    ['missing secret', `grant_type=client_credential&appid=${OA.appId}`, 41004],
    ['bad grant_type', `grant_type=password&appid=${OA.appId}&secret=${OA.secret}`, 40002],
  ])('%s → %i', async (_name, qs, errcode) => {
    const body = await api.get(`/cgi-bin/token?${qs}`);
    expect(body.errcode).toBe(errcode);
    expect(body.access_token).toBeUndefined();
    expect(body.errmsg).toMatch(/rid: /);
  });

  it('answers 45009 once the daily quota is spent, and again issues tokens the next day', async () => {
    await toOneAmNextDay();
    for (let i = 0; i < QUOTA; i++) expect((await api.get(tokenPath(QUOTA_APP))).expires_in).toBe(7200);
    const refused = await api.get(tokenPath(QUOTA_APP));
    expect(refused.errcode).toBe(45009);
    // The quota is per app: another app still gets tokens.
    expect((await api.get(tokenPath(MP))).expires_in).toBe(7200);
    await api.advance(86_400);
    expect((await api.get(tokenPath(QUOTA_APP))).expires_in).toBe(7200);
  });
});

describe('POST /cgi-bin/stable_token', () => {
  it('returns the same token while valid, with the remaining lifetime as expires_in', async () => {
    const first = await stable(MP);
    expect(first.expires_in).toBeGreaterThan(7100);
    expect(first.errcode).toBeUndefined();
    await api.advance(1000);
    const again = await stable(MP, false);
    expect(again.access_token).toBe(first.access_token);
    expect(again.expires_in).toBeLessThanOrEqual(first.expires_in - 1000);
    expect(again.expires_in).toBeGreaterThan(first.expires_in - 1010);
    expect((await probe(again.access_token)).errcode).toBe(0);
  });

  it('renews the token in the last 5 minutes; the old one lives until it expires', async () => {
    const first = await stable(MP, true);
    await api.advance(7200 - 299);
    const renewed = await stable(MP);
    expect(renewed.access_token).not.toBe(first.access_token);
    expect(renewed.expires_in).toBe(7200);
    expect((await probe(first.access_token)).errcode).toBe(0);
    await api.advance(300);
    expect((await probe(first.access_token)).errcode).toBe(42001);
    expect((await probe(renewed.access_token)).errcode).toBe(0);
  });

  it('force_refresh issues a new token and invalidates the previous stable token at once', async () => {
    await api.advance(60);
    const old = await stable(OA);
    await api.advance(31);
    const fresh = await stable(OA, true);
    expect(fresh.access_token).not.toBe(old.access_token);
    expect(fresh.expires_in).toBe(7200);
    expect((await probe(old.access_token)).errcode).toBe(40001);
    expect((await probe(fresh.access_token)).errcode).toBe(0);
  });

  it('does not refresh again within 30 s of a forced refresh (returns the current token)', async () => {
    await api.advance(31);
    const forced = await stable(OA, true);
    await api.advance(10);
    const tooSoon = await stable(OA, true);
    expect(tooSoon.access_token).toBe(forced.access_token);
    expect(tooSoon.expires_in).toBeLessThanOrEqual(7190);
    await api.advance(21);
    expect((await stable(OA, true)).access_token).not.toBe(forced.access_token);
  });

  it('limits forced refreshes to 20 a day (45009), reset the next day', async () => {
    await toOneAmNextDay();
    for (let i = 0; i < 20; i++) {
      expect((await stable(OA, true)).expires_in).toBe(7200);
      await api.advance(30);
    }
    expect((await stable(OA, true)).errcode).toBe(45009);
    // Normal mode still works.
    expect((await stable(OA)).access_token).toBeTruthy();
    await api.advance(86_400);
    expect((await stable(OA, true)).expires_in).toBe(7200);
  });

  it('is independent of cgi-bin/token tokens', async () => {
    const viaStable = (await stable(OA)).access_token;
    const a = (await api.get(tokenPath(OA))).access_token;
    await api.get(tokenPath(OA));
    await api.advance(301);
    expect((await probe(a)).errcode).toBe(40001);
    expect((await probe(viaStable)).errcode).toBe(0);
    expect((await stable(OA)).access_token).toBe(viaStable);
    const fresh = (await api.get(tokenPath(OA))).access_token;
    await stable(OA, true);
    expect((await probe(fresh)).errcode).toBe(0);
  });

  it('checks credentials like cgi-bin/token and requires a JSON body (47001)', async () => {
    const form = await api.postForm(
      '/cgi-bin/stable_token',
      `grant_type=client_credential&appid=${OA.appId}&secret=${OA.secret}`,
    );
    expect(form.errcode).toBe(47001);
    expect((await api.postRaw('/cgi-bin/stable_token', '{"grant_type":')).errcode).toBe(47001);
    const base = { grant_type: 'client_credential', appid: OA.appId, secret: OA.secret };
    const wrongSecret = await api.post('/cgi-bin/stable_token', { ...base, secret: 'bad' });
    expect(wrongSecret.errcode).toBe(40125);
    expect(wrongSecret.errmsg).toMatch(/^invalid appsecret rid: /);
    expect((await api.post('/cgi-bin/stable_token', { ...base, appid: 'wx0000000000000000' })).errcode).toBe(
      40013,
    );
    expect((await api.post('/cgi-bin/stable_token', { ...base, appid: undefined })).errcode).toBe(41002);
    expect((await api.post('/cgi-bin/stable_token', { ...base, secret: undefined })).errcode).toBe(41004);
    expect((await api.post('/cgi-bin/stable_token', { ...base, grant_type: 'x' })).errcode).toBe(40002);
  });
});

describe('access_token checks on business APIs', () => {
  it('missing 41001, unknown 40001', async () => {
    expect((await api.get('/cgi-bin/ticket/getticket?type=jsapi')).errcode).toBe(41001);
    expect((await probe('not-a-token')).errcode).toBe(40001);
  });

  it("a token is valid for its own app only: it acts on the token's app", async () => {
    const oaToken = (await api.get(tokenPath(OA))).access_token;
    const mpToken = (await api.get(tokenPath(MP))).access_token;
    // The ticket is per app: the two tokens give two tickets.
    expect((await probe(oaToken)).ticket).not.toBe((await probe(mpToken)).ticket);
    // An OA token cannot reach the MP's data: Mini-Program APIs answer 48001 for it.
    const phone = await api.post(`/wxa/business/getuserphonenumber?access_token=${oaToken}`, { code: 'x' });
    expect(phone.errcode).toBe(48001);
  });

  it('POST /_emulator/tokens/revoke invalidates every token of the app at once (40001)', async () => {
    const a = (await api.get(tokenPath(OA))).access_token;
    const b = (await api.get(tokenPath(OA))).access_token;
    const s = (await stable(OA)).access_token;
    const other = (await api.get(tokenPath(MP))).access_token;
    const res = await api.call('POST', '/_emulator/tokens/revoke', { appId: OA.appId });
    expect(res.status).toBe(200);
    expect(res.body.revoked).toBeGreaterThanOrEqual(3);
    for (const token of [a, b, s]) expect((await probe(token)).errcode).toBe(40001);
    expect((await probe(other)).errcode).toBe(0);
    // A new token works; stable_token issues a new one too.
    expect((await probe((await api.get(tokenPath(OA))).access_token)).errcode).toBe(0);
    const newStable = (await stable(OA)).access_token;
    expect(newStable).not.toBe(s);
    expect((await probe(newStable)).errcode).toBe(0);
    expect((await api.call('POST', '/_emulator/tokens/revoke', { appId: 'wx0000000000000000' })).status).toBe(
      404,
    );
    expect((await api.call('POST', '/_emulator/tokens/revoke', {})).status).toBe(400);
  });
});
