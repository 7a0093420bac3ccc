/**
 * The closed catalogue of ErrorCodes the host sees. Codes are stable API: add, never rename.
 * Each code fixes its HTTP status so the class of failure is visible without reading the body.
 */
export const ERROR_CATALOGUE = {
  OK: { status: 200, description: "Success." },
  INVALID_JSON: { status: 400, description: "The body is not valid JSON." },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: "The body is not sent as application/json." },
  BODY_TOO_LARGE: { status: 413, description: "The body exceeds the size limit (64 KiB)." },
  INVALID_FIELD: { status: 400, description: "A field is missing, has the wrong type, or is out of range. ErrorMessage names it." },
  INVALID_AMOUNT: { status: 400, description: "A price is not a positive decimal string with at most the currency's decimals, or is too large." },
  UNSUPPORTED_NATION: { status: 400, description: "NationCode is not one PGB sells in." },
  UNSUPPORTED_PAY_TYPE: { status: 400, description: "PayType is not one PGB knows." },
  REDIRECT_URL_NOT_ALLOWED: { status: 400, description: "RedirectUrl is not absolute http(s) on one of the tenant's redirectOrigins." },
  UNAUTHORIZED: { status: 401, description: "The Authorization header is missing or carries no valid API key." },
  TENANT_FORBIDDEN: { status: 403, description: "The API key belongs to another DBType (or the DBType is unknown)." },
  ORDER_NOT_FOUND: { status: 404, description: "No payment exists for this DBType and OrderId." },
  NOT_FOUND: { status: 404, description: "No such route." },
  ORDER_ALREADY_PAID: { status: 409, description: "PayStart on an order that already has a paid payment." },
  PAYSTART_IN_PROGRESS: { status: 409, description: "Another PayStart for this order is still creating its checkout; retry shortly." },
  PAYMENT_NOT_PAID: { status: 409, description: "Cancel on an order whose payment is not paid." },
  PAYMENT_ALREADY_CANCELLED: { status: 409, description: "Cancel on an order that is fully cancelled." },
  STALE_CURRENT_PRICE: { status: 409, description: "CurrentTotalPrice is not PGB's remaining balance: the host's view is stale." },
  CANCEL_IN_PROGRESS: { status: 409, description: "A refund on this order is still waiting for the PG's answer; retry later." },
  NO_ROUTE: { status: 422, description: "The tenant's routes name no PG for this NationCode and PayType." },
  AMOUNT_MISMATCH: { status: 422, description: "CurrentTotalPrice − RefundPrice ≠ ModifiedTotalPrice." },
  REFUND_EXCEEDS_BALANCE: { status: 422, description: "RefundPrice is larger than the remaining balance." },
  PG_TYPE_MISMATCH: { status: 422, description: "PGType is not the PG the order was paid through." },
  PAY_TYPE_MISMATCH: { status: 422, description: "PayType is not the one the order was paid with." },
  NATION_MISMATCH: { status: 422, description: "NationCode is not the one the order was paid in." },
  IDEMPOTENCY_KEY_REUSED: { status: 422, description: "The Idempotency-Key was used before with a different request." },
  REFUND_ACCOUNT_REQUIRED: { status: 422, description: "Refunding a deposited virtual account needs RefundAccount {Bank, AccountNumber, HolderName}." },
  PG_DECLINED: { status: 422, description: "The PG refused the operation; ErrorMessage carries its reason." },
  PG_ERROR: { status: 502, description: "The PG answered with an error PGB did not expect; nothing was changed." },
  PG_RESULT_UNKNOWN: { status: 502, description: "The PG did not answer a money-moving call in time; PGB will settle it with the PG and notify." },
  PG_UNAVAILABLE: { status: 503, description: "The PG could not be reached; nothing was changed, retry later." },
  SHUTTING_DOWN: {
    status: 503,
    description: "This PGB instance is shutting down; nothing was done. Retry after Retry-After seconds (another instance answers).",
  },
  INTERNAL_ERROR: { status: 500, description: "A fault inside PGB. Logged with the request id." },
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** An expected failure: returned as a value by use cases, rendered by the API layer. */
export interface Failure {
  readonly ok: false;
  readonly code: Exclude<ErrorCode, "OK">;
  /** Safe to show to the host. */
  readonly message: string;
  /** For operators and logs only (may hold a PG's raw code). */
  readonly detail?: Record<string, unknown>;
}

export type Result<T> = { readonly ok: true; readonly value: T } | Failure;

export function fail(code: Failure["code"], message: string, detail?: Record<string, unknown>): Failure {
  return detail === undefined ? { ok: false, code, message } : { ok: false, code, message, detail };
}

export function succeed<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].status;
}

export function assertUnreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}
