/**
 * KakaoPay's online payment API through the shared PG client: `Authorization: SECRET_KEY …`, JSON
 * bodies, no idempotency header (KakaoPay has none), and what KakaoPay's error answers
 * (`error_code`, `error_message`, `extras`) mean, handed to the kit's one failure rule.
 */
import type { Logger } from "pino";
import type { z } from "zod";
import { Secret } from "../../core/secret.ts";
import type { ConnectorError } from "../../core/ports/connector.ts";
import { classifyPgFailure, type PgAnswerMeaning } from "../kit/pg-failure.ts";
import { PgHttpClient, type PgCallMetrics, type PgErrorReading } from "../kit/pg-http-client.ts";
import {
  KakaoPayApproveResponseSchema,
  KakaoPayCancelResponseSchema,
  KakaoPayErrorSchema,
  KakaoPayOrderResponseSchema,
  KakaoPayReadyResponseSchema,
} from "./wire.ts";
import type { KakaoPaySettings } from "./settings.ts";

/**
 * Codes that refuse a request which took no effect and will not succeed repeated as it is. -780 is
 * from KakaoPay's single-payment reference (the payment method refused the approval, with
 * `extras.method_result_code`); the others follow the older kapi.kakao.com payment code list.
 */
const DECLINE_CODES = new Set([
  -780, // approval failure: the card issuer or KakaoPay money refused
  -701, // the buyer has not finished (or quit / failed) in KakaoTalk
  -723, // the tid's 15 minutes are over
  -708, // pg_token does not belong to the tid
  -704, // not cancellable in its state
  -797, // over the single-payment limit
]);
/**
 * -702 (already approved / already cancelled) and -706 (cancel amount disagrees with what is left)
 * may be the effect of PGB's own earlier call whose answer was lost: only order lookup can tell, so
 * they read as a fault that may have acted, and the connector asks.
 */
export const ALREADY_DONE = -702;
export const CANCEL_AMOUNT_DISAGREES = -706;
/** Kakao's common codes: -10 the request quota is spent; -7 and -9798 maintenance; -1 an internal error. */
const UNPROCESSED_CODES = new Set([-10, -7, -9798]);
const MISCONFIGURED_CODES = new Set([-401, -3, -5]);

/** What a KakaoPay error answer means. HTTP status first: not every numeric code is documented with certainty. */
export function readKakaoPayError(status: number, body: unknown): PgErrorReading {
  const parsed = KakaoPayErrorSchema.safeParse(body);
  const code = parsed.success ? parsed.data.error_code : undefined;
  const extras = parsed.success ? parsed.data.extras : undefined;
  const method = extras?.method_result_code ? ` (${extras.method_result_code}${extras.method_result_message ? `: ${extras.method_result_message}` : ""})` : "";
  const pgMessage = parsed.success ? `${parsed.data.error_message}${method}` : `HTTP ${status}`;
  const meaning: PgAnswerMeaning =
    status === 401 || status === 403 || (code !== undefined && MISCONFIGURED_CODES.has(code))
      ? "misconfigured"
      : status === 429 || (code !== undefined && UNPROCESSED_CODES.has(code))
        ? "unprocessed"
        : status >= 500 || code === -1 || code === ALREADY_DONE || code === CANCEL_AMOUNT_DISAGREES
          ? "pg-fault"
          : code !== undefined && DECLINE_CODES.has(code)
            ? "declined"
            : // Not KakaoPay's body (a wrong apiBase, a proxy), or a parameter KakaoPay refused: PGB sent something wrong.
              "misconfigured";
  return { meaning, ...(code !== undefined ? { pgCode: String(code) } : {}), pgMessage };
}

export type KakaoPayOperation = "ready" | "approve" | "order" | "cancel";

/** The class of a KakaoPay error answer to `operation` (the kit's one rule applied to KakaoPay's codes). */
export function classifyKakaoPayAnswer(operation: KakaoPayOperation, status: number, body: unknown): ConnectorError {
  return classifyPgFailure(
    { kind: "answered", httpStatus: status, ...readKakaoPayError(status, body) },
    operation !== "order",
    `KakaoPay POST /online/v1/payment/${operation}`,
  );
}

export class KakaoPayApi {
  readonly #http: PgHttpClient;
  readonly #cid: string;

  constructor(settings: KakaoPaySettings, logger: Logger, metrics?: PgCallMetrics) {
    this.#cid = settings.cid;
    this.#http = new PgHttpClient({
      pg: "KAKAOPAY",
      label: "KakaoPay",
      baseUrl: settings.apiBase,
      timeoutMs: settings.timeoutMs,
      authorization: new Secret(`SECRET_KEY ${settings.secretKey.reveal()}`),
      idempotencyHeader: null,
      readError: readKakaoPayError,
      logger,
      metrics,
    });
  }

  get cid(): string {
    return this.#cid;
  }

  ready(body: Record<string, string | number>): Promise<z.infer<typeof KakaoPayReadyResponseSchema>> {
    return this.#post("ready", body, KakaoPayReadyResponseSchema);
  }

  approve(body: Record<string, string | number>): Promise<z.infer<typeof KakaoPayApproveResponseSchema>> {
    return this.#post("approve", body, KakaoPayApproveResponseSchema);
  }

  /** Order lookup is a POST that changes nothing: a lost answer may simply be asked again. */
  order(tid: string): Promise<z.infer<typeof KakaoPayOrderResponseSchema>> {
    return this.#post("order", { tid }, KakaoPayOrderResponseSchema, false);
  }

  cancel(body: Record<string, string | number>): Promise<z.infer<typeof KakaoPayCancelResponseSchema>> {
    return this.#post("cancel", body, KakaoPayCancelResponseSchema);
  }

  #post<S extends z.ZodType>(operation: KakaoPayOperation, body: Record<string, string | number>, schema: S, writes = true): Promise<z.infer<S>> {
    return this.#http.request({ method: "POST", path: `/online/v1/payment/${operation}`, operation, json: { cid: this.#cid, ...body }, writes }, schema);
  }
}
