/**
 * PayPal's REST API through the shared PG client: an OAuth2 client-credentials token, cached until
 * shortly before it expires and fetched again when PayPal answers 401 invalid_token; PayPal's
 * PayPal-Request-Id on every POST; what PayPal's error answers mean (error-transformers.ts, readPayPalError).
 */
import type { Logger } from "pino";
import type { z } from "zod";
import type { Clock } from "../../core/ports/clock.ts";
import { ConnectorError } from "../../core/ports/connector.ts";
import { Secret } from "../../core/secret.ts";
import { PgHttpClient, type PgCall, type PgCallMetrics } from "../kit/pg-http-client.ts";
import { readPayPalError } from "./error-transformers.ts";
import { PayPalTokenSchema } from "./wire.ts";
import type { PayPalSettings } from "./settings.ts";

/** A token is renewed this long before PayPal says it expires (clocks differ; a call takes time). */
const TOKEN_MARGIN_MS = 5 * 60_000;

/** Order, capture and refund ids are not secret; shortened in logs all the same. */
function redactPath(path: string): string {
  return path.replace(/\/(orders|captures|refunds)\/([A-Z0-9]{6,})/g, (_m, kind: string, id: string) => `/${kind}/…${id.slice(-5)}`);
}

export class PayPalApi {
  readonly #api: PgHttpClient;
  readonly #oauth: PgHttpClient;
  #token: { value: Secret; renewAt: number } | undefined;
  #fetching: Promise<Secret> | undefined;
  readonly #clock: Clock;

  constructor(
    settings: Pick<PayPalSettings, "apiBase" | "clientId" | "clientSecret" | "timeoutMs">,
    logger: Logger,
    metrics: PgCallMetrics | undefined,
    clock: Clock,
  ) {
    this.#clock = clock;
    const common = {
      pg: "PAYPAL",
      label: "PayPal",
      baseUrl: settings.apiBase,
      timeoutMs: settings.timeoutMs,
      readError: readPayPalError,
      redactPath,
      logger,
      metrics,
    };
    this.#oauth = new PgHttpClient({
      ...common,
      authorization: new Secret(`Basic ${Buffer.from(`${settings.clientId}:${settings.clientSecret.reveal()}`).toString("base64")}`),
      idempotencyHeader: null,
    });
    this.#api = new PgHttpClient({ ...common, authorization: () => this.#bearer(), idempotencyHeader: "paypal-request-id" });
  }

  /**
   * One call with the current token. A 401 invalid_token (the token expired early or PayPal
   * forgot it) was refused without acting: a new token is fetched and the call sent once more,
   * with the same PayPal-Request-Id.
   */
  async request<S extends z.ZodType>(call: PgCall, schema: S): Promise<z.infer<S>> {
    // The token first, on its own: a failure to get one is the token call's (classified as such),
    // not a lost answer of this call.
    await this.#bearer();
    try {
      return await this.#api.request(call, schema);
    } catch (error) {
      if (!(error instanceof ConnectorError) || error.httpStatus !== 401 || error.pgCode !== "invalid_token") throw error;
      this.#token = undefined;
      await this.#bearer();
      return this.#api.request(call, schema);
    }
  }

  async #bearer(): Promise<Secret> {
    if (this.#token !== undefined && this.#clock.nowMs() < this.#token.renewAt) return this.#token.value;
    // One token request at a time, however many calls want one.
    this.#fetching ??= this.#fetchToken().finally(() => {
      this.#fetching = undefined;
    });
    return this.#fetching;
  }

  async #fetchToken(): Promise<Secret> {
    const token = await this.#oauth.request(
      { method: "POST", path: "/v1/oauth2/token", operation: "token", form: { grant_type: "client_credentials" }, writes: false },
      PayPalTokenSchema,
    );
    const value = new Secret(`Bearer ${token.access_token}`);
    this.#token = { value, renewAt: this.#clock.nowMs() + Math.max(0, token.expires_in * 1000 - TOKEN_MARGIN_MS) };
    return value;
  }
}
