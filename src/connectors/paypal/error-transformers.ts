/**
 * Pure mappings of PayPal's error answers: what each means for the kit's one failure rule, the error
 * class PGB gives it, and the ConnectorError PGB raises. No I/O here, so every table is unit-tested.
 */
import { ConnectorError, type ConnectorErrorClass } from "../../core/ports/connector.ts";
import { classifyPgFailure, type PgAnswerMeaning } from "../kit/pg-failure.ts";
import type { PgErrorReading } from "../kit/pg-http-client.ts";
import { PayPalErrorSchema, PayPalOAuthErrorSchema } from "./wire.ts";

export interface PayPalFailure {
  errorClass: ConnectorErrorClass;
  httpStatus: number;
  /** PayPal's error name (UNPROCESSABLE_ENTITY…) or the OAuth error (invalid_token…). */
  name: string;
  /** The first details[].issue, e.g. INSTRUMENT_DECLINED; the name when there is none. */
  issue: string;
  message: string;
  debugId?: string;
  /** PayPal says: send the buyer back to the approval page to choose another way to pay. */
  sendBuyerBack: boolean;
}

/** 422 issues that mean PGB sent something wrong: a bug or configuration error, not the buyer's doing. */
const FATAL_ISSUES: ReadonlySet<string> = new Set([
  "CURRENCY_NOT_SUPPORTED",
  "DECIMAL_PRECISION",
  "DECIMALS_NOT_SUPPORTED",
  "AMOUNT_MISMATCH",
  "CANNOT_BE_ZERO_OR_NEGATIVE",
  "CANNOT_BE_NEGATIVE",
  "CURRENCY_MISMATCH",
  "INVALID_CURRENCY_CODE",
  "REFUND_CAPTURE_CURRENCY_MISMATCH",
  "RETURN_URL_REQUIRED",
  "CANCEL_URL_REQUIRED",
  "AUTH_CAPTURE_NOT_ENABLED",
  "PAYEE_ACCOUNT_RESTRICTED",
  "PAYEE_ACCOUNT_LOCKED_OR_CLOSED",
  "PERMISSION_DENIED",
]);

/** 422 issues after which the outcome must be read from PayPal: a capture exists or is being made. */
const INDETERMINATE_ISSUES: ReadonlySet<string> = new Set(["ORDER_ALREADY_CAPTURED", "ORDER_COMPLETION_IN_PROGRESS"]);

/** Issues after which PayPal documents sending the buyer back to its approval page. */
const SEND_BUYER_BACK: ReadonlySet<string> = new Set(["INSTRUMENT_DECLINED", "PAYER_ACTION_REQUIRED", "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING"]);

/** What PayPal's error answer means, for the kit's one failure rule; plus whether to send the buyer back. */
export interface PayPalErrorReading extends PgErrorReading {
  name: string;
  issue: string;
  debugId?: string;
  sendBuyerBack: boolean;
}

/**
 * What a PayPal error answer means (kit/pg-failure.ts decides the class from it). An expired or
 * unknown token (401 invalid_token) was refused unprocessed, so it is retried after a new token; bad
 * credentials, PGB's own request mistakes (400, 403, 404 and the 422 issues in FATAL_ISSUES) need an
 * operator; 422 business refusals are declines, except a capture already made or in progress, which
 * PayPal may have acted on; 429 refused unprocessed; a 409 (a conflicting request in flight) and a
 * 5xx may have acted.
 */
export function readPayPalError(httpStatus: number, body: unknown): PayPalErrorReading {
  const oauth = PayPalOAuthErrorSchema.safeParse(body);
  const rest = PayPalErrorSchema.safeParse(body);
  const name = rest.success ? rest.data.name : oauth.success ? oauth.data.error : `HTTP_${httpStatus}`;
  const detail = rest.success ? rest.data.details?.[0] : undefined;
  const issue = detail?.issue ?? name;
  const debugId = rest.success ? rest.data.debug_id : undefined;
  const text = (
    detail?.description ??
    (rest.success ? rest.data.message : oauth.success ? oauth.data.error_description : undefined) ??
    `PayPal answered HTTP ${httpStatus}`
  ).slice(0, 500);
  const meaning: PgAnswerMeaning =
    httpStatus === 401
      ? name === "invalid_token"
        ? "unprocessed"
        : "misconfigured"
      : httpStatus === 429
        ? "unprocessed"
        : httpStatus === 409 || httpStatus >= 500
          ? "pg-fault"
          : httpStatus === 422
            ? INDETERMINATE_ISSUES.has(issue)
              ? "pg-fault"
              : FATAL_ISSUES.has(issue)
                ? "misconfigured"
                : "declined"
            : "misconfigured";
  return {
    meaning,
    pgCode: issue,
    pgMessage: `${text}${debugId ? ` (debug_id ${debugId})` : ""}`,
    name,
    issue,
    sendBuyerBack: SEND_BUYER_BACK.has(issue),
    ...(debugId !== undefined ? { debugId } : {}),
  };
}

/** A PayPal error answer classified by the kit's one rule. `moneyMoving`: the call would create a capture or refund. */
export function classifyPayPalError(httpStatus: number, body: unknown, moneyMoving: boolean): PayPalFailure {
  const reading = readPayPalError(httpStatus, body);
  const { errorClass } = classifyPgFailure(
    { kind: "answered", httpStatus, meaning: reading.meaning, pgCode: reading.issue, pgMessage: reading.pgMessage },
    moneyMoving,
    "PayPal",
  );
  const message =
    reading.debugId === undefined ? reading.pgMessage : reading.pgMessage.slice(0, reading.pgMessage.length - ` (debug_id ${reading.debugId})`.length);
  return {
    errorClass,
    httpStatus,
    name: reading.name,
    issue: reading.issue,
    message,
    sendBuyerBack: reading.sendBuyerBack,
    ...(reading.debugId !== undefined ? { debugId: reading.debugId } : {}),
  };
}

export function toConnectorError(failure: PayPalFailure): ConnectorError {
  return new ConnectorError(
    failure.errorClass,
    `PayPal ${failure.issue}: ${failure.message}${failure.debugId ? ` (debug_id ${failure.debugId})` : ""}`,
    failure.issue,
    failure.httpStatus,
  );
}
