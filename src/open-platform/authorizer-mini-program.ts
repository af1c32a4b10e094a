import type { RequestOptions } from '../core/api-client.js';
import { APIPromise } from '../core/api-promise.js';
import { ArgumentError } from '../errors.js';
import { MiniProgram } from '../mini-program/mini-program.js';

/** `(errcode, errmsg)` of a write that answers nothing else. */
export interface WxaOk {
  errcode: number;
  errmsg: string;
}

/** `code.commit` parameters (`wxa/commit`, 上传代码并生成体验版); wire names kept. */
export interface CommitCodeParams {
  /** The code template's id in the platform's template library (`getTemplateList`). */
  template_id: string | number;
  /**
   * The ext.json the template reads (`extAppid`, `ext`, `extPages`, `window`, …). WeChat takes it
   * as a JSON string; an object is serialised here.
   */
  ext_json: string | Record<string, unknown>;
  /** The version number you choose (at most 64 characters). */
  user_version: string;
  user_desc: string;
}

/** One page of `code.submitAudit`'s `item_list` (审核项); wire names kept. */
export interface AuditItem {
  address?: string;
  tag?: string;
  first_class?: string;
  second_class?: string;
  third_class?: string;
  first_id?: number;
  second_id?: number;
  third_id?: number;
  title?: string;
}

/**
 * `code.submitAudit` parameters (`wxa/submit_audit`, 提交代码审核); wire names kept, all optional
 * (WeChat then audits the committed version with the account's own categories).
 */
export interface SubmitAuditParams {
  item_list?: AuditItem[];
  preview_info?: { video_id_list?: string[]; pic_id_list?: string[] };
  version_desc?: string;
  feedback_info?: string;
  feedback_stuff?: string;
  ugc_declare?: Record<string, unknown>;
  privacy_api_not_use?: boolean;
  order_path?: string;
  [field: string]: unknown;
}

/** An audit's state (审核状态): 0 approved, 1 rejected, 2 under audit, 3 withdrawn, 4 delayed. */
export type AuditStatus = 0 | 1 | 2 | 3 | 4;

/** `wxa/get_auditstatus`; wire names kept. */
export interface AuditStatusResult extends WxaOk {
  status: AuditStatus;
  /** Why it was rejected (status 1) or delayed (status 4). */
  reason?: string;
  /** Screenshots of a rejection: media_ids separated by `|`. */
  screenshot?: string;
}

/** `wxa/get_latest_auditstatus`; wire names kept (the docs spell `ScreenShot` here). */
export interface LatestAuditStatusResult extends WxaOk {
  auditid: number;
  status: AuditStatus;
  reason?: string;
  ScreenShot?: string;
  user_version?: string;
  user_desc?: string;
  submit_audit_time?: number;
}

/** The four server domain lists of a Mini Program (服务器域名); wire names kept. */
export interface ServerDomains {
  requestdomain: string[];
  wsrequestdomain: string[];
  uploaddomain: string[];
  downloaddomain: string[];
  udpdomain?: string[];
  tcpdomain?: string[];
}

/**
 * `domains.modify` parameters (`wxa/modify_domain`, 设置服务器域名): `add`, `delete` or `set` the
 * lists given, or `get` them (no lists then).
 */
export type ModifyDomainParams =
  | { action: 'get' }
  | ({ action: 'add' | 'delete' | 'set' } & Partial<ServerDomains>);

const DOMAIN_FIELDS = [
  'requestdomain',
  'wsrequestdomain',
  'uploaddomain',
  'downloaddomain',
  'udpdomain',
  'tcpdomain',
] as const;

function requireText(method: string, name: string, value: unknown, max?: number): string {
  if (typeof value !== 'string' || value === '') {
    throw new ArgumentError(`${method}: ${name} must be a non-empty string`);
  }
  if (max !== undefined && value.length > max) {
    throw new ArgumentError(`${method}: ${name} must be at most ${max} characters`);
  }
  return value;
}

/**
 * A Mini Program client acting for an account authorised to an Open Platform platform
 * (`op.miniProgram(appId)`): everything {@link MiniProgram} has, with the authorizer token, plus
 * the management only a third-party platform can do — code (commit → submit_audit → the
 * `weapp_audit_success` / `weapp_audit_fail` event → release) and server domains.
 *
 * @example
 * const mp = op.miniProgram(authorizerAppId);
 * await mp.code.commit({ template_id: 12, ext_json: { extAppid: authorizerAppId }, user_version: 'v1.2.0', user_desc: 'spring' });
 * const { auditid } = await mp.code.submitAudit();
 * // … the weapp_audit_success event arrives at the message URL of this account …
 * await mp.code.release();
 */
export class AuthorizerMiniProgram extends MiniProgram {
  /** Code management (代码管理) on the account's behalf. */
  readonly code = {
    /**
     * `POST /wxa/commit`: uploads a template's code for the account with its ext.json, which also
     * makes it the trial version (体验版). Committing again replaces the committed code.
     *
     * @example
     * await mp.code.commit({ template_id: 12, ext_json: { extAppid: mp.appId, ext: { shop: 'a' } }, user_version: 'v1.2.0', user_desc: 'spring' });
     */
    commit: (params: CommitCodeParams, options?: RequestOptions): APIPromise<WxaOk> =>
      APIPromise.from(async () => {
        const method = 'code.commit';
        const templateId = params?.template_id;
        if (typeof templateId !== 'number' && (typeof templateId !== 'string' || templateId === '')) {
          throw new ArgumentError(`${method}: template_id must be the code template's id`);
        }
        const ext = params.ext_json;
        const extJson = typeof ext === 'string' ? ext : JSON.stringify(ext ?? {});
        return this.client
          .request<WxaOk>('POST', '/wxa/commit', {
            ...options,
            // Committing the same code again replaces it with itself.
            idempotent: options?.idempotent ?? true,
            body: {
              template_id: templateId,
              ext_json: extJson,
              user_version: requireText(method, 'user_version', params.user_version, 64),
              user_desc: requireText(method, 'user_desc', params.user_desc),
            },
          })
          .withResponse();
      }),
    /**
     * `POST /wxa/submit_audit`: submits the committed code for review → `{ auditid }`. The result
     * comes as the `weapp_audit_success` / `weapp_audit_fail` / `weapp_audit_delay` event to the
     * platform's message URL (and from `getAuditStatus`). Not retried after a network error: a
     * second submission is refused with 85009 while one is under review.
     *
     * @example
     * const { auditid } = await mp.code.submitAudit({ version_desc: 'spring menu' });
     */
    submitAudit: (
      params: SubmitAuditParams = {},
      options?: RequestOptions,
    ): APIPromise<WxaOk & { auditid: number }> =>
      this.client.request<WxaOk & { auditid: number }>('POST', '/wxa/submit_audit', {
        ...options,
        body: params,
      }),
    /**
     * `POST /wxa/get_auditstatus`: the state of one submission.
     *
     * @example
     * const { status, reason } = await mp.code.getAuditStatus({ auditid });
     */
    getAuditStatus: (params: { auditid: number }, options?: RequestOptions): APIPromise<AuditStatusResult> =>
      this.client.request<AuditStatusResult>('POST', '/wxa/get_auditstatus', {
        ...options,
        idempotent: true,
        body: { auditid: params.auditid },
      }),
    /**
     * `GET /wxa/get_latest_auditstatus`: the state of the latest submission.
     *
     * @example
     * const latest = await mp.code.getLatestAuditStatus();
     */
    getLatestAuditStatus: (options?: RequestOptions): APIPromise<LatestAuditStatusResult> =>
      this.client.request<LatestAuditStatusResult>('GET', '/wxa/get_latest_auditstatus', { ...options }),
    /**
     * `POST /wxa/release`: publishes the approved version (发布已通过审核的小程序). Fails with 85019
     * (no approved version) or 85020 (the audit does not allow it) otherwise. Not retried after a
     * network error.
     *
     * @example
     * await mp.code.release();
     */
    release: (options?: RequestOptions): APIPromise<WxaOk> =>
      this.client.request<WxaOk>('POST', '/wxa/release', { ...options, body: {} }),
  };

  /** Server domains (服务器域名) on the account's behalf. */
  readonly domains = {
    /**
     * `POST /wxa/modify_domain`: adds, deletes, replaces (`set`) or reads (`get`) the account's
     * server domains; answers the lists as they are afterwards.
     *
     * @example
     * await mp.domains.modify({ action: 'add', requestdomain: ['https://api.example.com'] });
     * const { requestdomain } = await mp.domains.modify({ action: 'get' });
     */
    modify: (params: ModifyDomainParams, options?: RequestOptions): APIPromise<WxaOk & ServerDomains> =>
      APIPromise.from(async () => {
        const action = params?.action;
        if (action !== 'get' && action !== 'add' && action !== 'delete' && action !== 'set') {
          throw new ArgumentError('domains.modify: action must be add, delete, set or get');
        }
        const body: Record<string, unknown> = { action };
        if (action !== 'get') {
          const lists = params as Partial<ServerDomains>;
          for (const field of DOMAIN_FIELDS) {
            const list = lists[field];
            if (list === undefined) continue;
            if (!Array.isArray(list) || !list.every((d) => typeof d === 'string' && d !== '')) {
              throw new ArgumentError(`domains.modify: ${field} must be an array of domain URLs`);
            }
            body[field] = list;
          }
        }
        return this.client
          .request<WxaOk & ServerDomains>('POST', '/wxa/modify_domain', {
            ...options,
            // Each action states the result it wants: resending it is harmless.
            idempotent: options?.idempotent ?? true,
            body,
          })
          .withResponse();
      }),
  };
}
