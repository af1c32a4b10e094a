import { X509Certificate } from 'node:crypto';
import { encryptResource } from '../../crypto/pay-v3.js';
import { controlError, json } from '../http.js';
import type { Router } from '../router.js';
import type { EmulatorState } from '../state.js';
import { chinaTime } from './notifications.js';
import { v3Response, v3Route } from './signing.js';

/**
 * The WeChat Pay platform certificates: `GET /v3/certificates` (each certificate encrypted with
 * the merchant's APIv3 key), and the control routes `GET /_emulator/pay/platform` (the platform
 * keys in clear) and `POST /_emulator/pay/rotate-certificate`.
 */
export function registerCertificates(router: Router, state: EmulatorState): void {
  router.add(
    'GET',
    '/v3/certificates',
    v3Route((ctx) => {
      // Every current certificate, newest last (after a rotation both the old and the new one,
      // until `retireOld` drops the old, as WeChat Pay lists a certificate until it expires).
      const data = state.platform.certificates.map(({ serialNo, pem }) => {
        const x509 = new X509Certificate(pem);
        return {
          serial_no: serialNo,
          effective_time: chinaTime(new Date(x509.validFrom).getTime()),
          expire_time: chinaTime(new Date(x509.validTo).getTime()),
          encrypt_certificate: encryptResource({
            apiV3Key: ctx.merchant.apiV3Key,
            plaintext: pem,
            associatedData: 'certificate',
          }),
        };
      });
      return v3Response(state, ctx.merchant, 200, { data });
    }),
  );

  router.add('GET', '/_emulator/pay/platform', () =>
    json({
      certificates: state.platform.certificates.map(({ serialNo, pem }) => ({ serialNo, pem })),
      publicKey: { id: state.platform.publicKey.id, pem: state.platform.publicKey.pem },
    }),
  );
  router.add('POST', '/_emulator/pay/rotate-certificate', async (ctx) => {
    const text = (await ctx.text()).trim();
    const body = (text === '' ? {} : await ctx.json()) as Record<string, unknown> | undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return controlError(400, 'body must be a JSON object { "retireOld"?: boolean }');
    for (const key of Object.keys(body)) {
      if (key !== 'retireOld') return controlError(400, `unknown field "${key}" (allowed: retireOld)`);
    }
    if (body.retireOld !== undefined && typeof body.retireOld !== 'boolean')
      return controlError(400, 'retireOld must be a boolean');
    const fresh = state.rotateCertificate(body.retireOld === true);
    return json({ serialNo: fresh.serialNo });
  });
}
