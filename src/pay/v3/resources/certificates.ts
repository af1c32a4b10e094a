import type { APIPromise } from '../../../core/api-promise.js';
import type { RequestOptions } from '../../../core/request-options.js';
import type { SignedExchange } from '../signed-exchange.js';
import type { PlatformCertificateList } from '../types.js';

/**
 * WeChat Pay platform certificates (`GET /v3/certificates`), as WeChat Pay lists them: each sealed
 * with the APIv3 key. The client keeps its own trust current by itself (`autoCertificates`); this
 * is the raw, verified list, e.g. to save the certificates for another system.
 *
 * @example
 * const { data } = await pay.certificates.list();
 * const pems = data.map((c) => decryptResource({ apiV3Key, ...c.encrypt_certificate, associatedData: c.encrypt_certificate.associated_data }));
 */
export class PayCertificates {
  readonly #exchange: SignedExchange;

  /** @internal Built by `PayV3`. */
  constructor(exchange: SignedExchange) {
    this.#exchange = exchange;
  }

  /**
   * `GET /v3/certificates`: the platform certificates in force, newest last.
   *
   * @example
   * const serials = (await pay.certificates.list()).data.map((c) => c.serial_no);
   */
  list(params: Record<string, never> = {}, options?: RequestOptions): APIPromise<PlatformCertificateList> {
    return this.#exchange.call('GET', '/v3/certificates', { ...options, query: { ...params } }, true);
  }
}
