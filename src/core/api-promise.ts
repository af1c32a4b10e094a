import type { WithResponse } from './request-options.js';

/**
 * What every API method returns: a Promise of the data that also offers `.withResponse()` for
 * the HTTP status, headers and request id. The request is sent once, whichever is awaited.
 *
 * @example
 * const user = await oa.users.get({ openid });
 * const { data, response } = await pay.transactions.getByOutTradeNo({ out_trade_no }).withResponse();
 * console.log(response.requestId, response.status);
 */
export class APIPromise<T> extends Promise<T> {
  readonly #answer: Promise<WithResponse<T>>;
  #data: Promise<T> | undefined;

  constructor(answer: Promise<WithResponse<T>>) {
    // The base promise is never used: then/catch/finally below read `answer` instead.
    super((resolve) => resolve(undefined as T));
    this.#answer = answer;
  }

  /** `then` and friends return plain Promises, not APIPromises. */
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  /** The data together with the response metadata (status, headers, request id). */
  withResponse(): Promise<WithResponse<T>> {
    return this.#answer;
  }

  #value(): Promise<T> {
    this.#data ??= this.#answer.then((answer) => answer.data);
    return this.#data;
  }

  // biome-ignore lint/suspicious/noThenProperty: an APIPromise is a Promise on purpose.
  override then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#value().then(onfulfilled, onrejected);
  }

  override catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#value().catch(onrejected);
  }

  override finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#value().finally(onfinally);
  }

  /** An APIPromise whose data is `fn(data)`, with the same response metadata. */
  map<U>(fn: (data: T) => U | Promise<U>): APIPromise<U> {
    return new APIPromise(
      this.#answer.then(async (answer) => ({ data: await fn(answer.data), response: answer.response })),
    );
  }

  /** An APIPromise of `answer`, resolved by an async function. */
  static from<T>(run: () => Promise<WithResponse<T>>): APIPromise<T> {
    return new APIPromise(run());
  }
}
