/**
 * Toss's HTTP API through the shared PG client: Basic auth with the secret key, Toss's
 * Idempotency-Key header, and what Toss's error codes mean. Toss has no Node server SDK.
 */
import type { Logger } from "pino";
import { Secret } from "../../core/secret.ts";
import { ConnectorError } from "../../core/ports/connector.ts";
import { classifyPgFailure, type PgAnswerMeaning } from "../kit/pg-failure.ts";
import { PgHttpClient, type PgCallMetrics, type PgErrorReading } from "../kit/pg-http-client.ts";
import { idempotencyKey } from "./transformers.ts";
import { TossErrorSchema, TossPaymentSchema, type TossPayment } from "./wire.ts";

/** The settings the client needs (a subset of TossSettings). */
export interface TossClientSettings {
  apiBase: string;
  secretKey: Secret;
  timeoutMs: number;
}

/** Codes Toss uses for its own transient faults, whatever the HTTP status (PROVIDER_ERROR is a 400). */
const TRANSIENT_CODES = new Set([
  "PROVIDER_ERROR",
  "FAILED_INTERNAL_SYSTEM_PROCESSING",
  "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
  "UNKNOWN_PAYMENT_ERROR",
  "FAILED_CARD_COMPANY_RESPONSE",
  "COMMON_ERROR",
  "IDEMPOTENT_REQUEST_PROCESSING",
]);
/**
 * Refused unprocessed and worth another try later, whatever the method: Toss throttling repeated
 * calls on one payment (403, on GET too), and a refund the bank could not take just now (500).
 */
const RETRY_LATER_CODES = new Set(["FORBIDDEN_CONSECUTIVE_REQUEST", "FAILED_REFUND_PROCESS"]);
/** Our keys are wrong or unusable: no retry will help, an operator must. */
const FATAL_CODES = new Set(["INVALID_API_KEY", "UNAUTHORIZED_KEY", "UNAUTHORIZED", "INCORRECT_BASIC_AUTH_FORMAT", "INVALID_AUTHORIZE_AUTH"]);

/** What Toss's error answer means. */
export function readTossError(status: number, body: unknown): PgErrorReading {
  const parsed = TossErrorSchema.safeParse(body);
  const code = parsed.success ? parsed.data.code : undefined;
  const pgMessage = parsed.success ? parsed.data.message : `HTTP ${status}`;
  const meaning: PgAnswerMeaning =
    status === 401 || (code !== undefined && FATAL_CODES.has(code))
      ? "misconfigured"
      : status === 429 || (code !== undefined && RETRY_LATER_CODES.has(code))
        ? "unprocessed"
        : status >= 500 || (code !== undefined && TRANSIENT_CODES.has(code))
          ? "pg-fault"
          : // A 4xx without Toss's error body is not Toss talking (a wrong apiBase, a proxy): misconfiguration.
            code === undefined
            ? "misconfigured"
            : "declined";
  return { meaning, ...(code !== undefined ? { pgCode: code } : {}), pgMessage };
}

/** The class of a Toss error answer to `method path` (the shared rule applied to Toss's codes). */
export function classifyHttpError(method: "GET" | "POST", path: string, status: number, text: string): ConnectorError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return classifyPgFailure({ kind: "answered", httpStatus: status, ...readTossError(status, body) }, method === "POST", `Toss ${method} ${path}`);
}

/** paymentKeys are not secret, but they are long and unhelpful in logs; keep a short tail. */
function redactPath(path: string): string {
  return path.replace(/^\/v1\/payments\/(?!orders\/|confirm$)([^/]+)/, (_m, key: string) => `/v1/payments/…${key.slice(-6)}`);
}

export class TossApi {
  readonly #http: PgHttpClient;

  constructor(settings: TossClientSettings, logger: Logger, metrics?: PgCallMetrics) {
    this.#http = new PgHttpClient({
      pg: "TOSS",
      label: "Toss",
      baseUrl: settings.apiBase,
      timeoutMs: settings.timeoutMs,
      authorization: new Secret(`Basic ${Buffer.from(`${settings.secretKey.reveal()}:`).toString("base64")}`),
      idempotencyHeader: "idempotency-key",
      readError: readTossError,
      redactPath,
      logger,
      metrics,
    });
  }

  get(path: string): Promise<TossPayment> {
    return this.#http.request({ method: "GET", path, operation: "payment" }, TossPaymentSchema);
  }

  post(path: string, body: object, key: string): Promise<TossPayment> {
    return this.#http.request(
      { method: "POST", path, operation: path.endsWith("/confirm") ? "confirm" : "cancel", json: body, idempotencyKey: idempotencyKey(key) },
      TossPaymentSchema,
    );
  }
}

export function isConnectorError(error: unknown): error is ConnectorError {
  return error instanceof ConnectorError;
}
