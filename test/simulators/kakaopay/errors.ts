/**
 * KakaoPay's error answers as the simulator gives them: HTTP status plus
 * `{error_code, error_message, extras?}`.
 *
 * The shape, -780 "approval failure!" (HTTP 400) with `extras.method_result_code` /
 * `method_result_message`, and the HTTP statuses are from KakaoPay's single-payment reference.
 * The other negative codes follow the code list of KakaoPay's older kapi.kakao.com reference,
 * which the open-api host kept; the exact number for each case could not be checked against the
 * current error-code page, so they live in this one table to be corrected in one place. A
 * connector must not depend on a number alone: it classifies by HTTP status first.
 */
export interface SimError {
  status: number;
  code: number;
  message: string;
}

export const ERRORS = {
  /** Missing or wrong `Authorization: SECRET_KEY …`. */
  unauthorized: { status: 401, code: -401, message: "Invalid Secret Key" },
  /** A required field is missing, of the wrong type, too long, or inconsistent. */
  invalidParameter: { status: 400, code: -2, message: "invalid request parameter" },
  /** The cid is not one this key may use. */
  invalidCid: { status: 400, code: -2, message: "invalid cid" },
  /** No such tid for this cid. */
  invalidTid: { status: 400, code: -721, message: "invalid tid" },
  /** Approve before the buyer finished in KakaoTalk (or after they quit / failed). */
  notAuthenticated: { status: 400, code: -701, message: "payment is not authenticated" },
  /** Approve on a tid that is already approved. */
  alreadyApproved: { status: 400, code: -702, message: "payment is already done" },
  /** pg_token does not belong to this tid. */
  invalidPgToken: { status: 400, code: -708, message: "invalid pg_token" },
  /** partner_order_id / partner_user_id / total_amount differ from the ready request. */
  partnerMismatch: { status: 400, code: -2, message: "partner_order_id, partner_user_id or total_amount does not match the ready request" },
  /** The tid's 15 minutes are over. */
  expired: { status: 400, code: -723, message: "payment request is expired" },
  /** The payment method (card issuer, KakaoPay money) refused the approval. */
  approvalFailure: { status: 400, code: -780, message: "approval failure!" },
  /** Cancel on a payment that is not approved. */
  notCancellable: { status: 400, code: -704, message: "payment is not cancellable" },
  /** Cancel on a payment that is fully cancelled. */
  alreadyCancelled: { status: 400, code: -702, message: "payment is already cancelled" },
  /** cancel_amount above what is left, or cancel_available_amount not what KakaoPay has. */
  cancelAmountExceeded: { status: 400, code: -706, message: "cancel amount exceeds cancel available amount" },
  cancelAvailableMismatch: { status: 400, code: -706, message: "cancel_available_amount does not match" },
  /**
   * Throttled. KakaoPay's payment reference documents no throttling answer; this is Kakao's common
   * "request quota exceeded" code (-10) on HTTP 429, an assumption kept here to be corrected in one place.
   */
  throttled: { status: 429, code: -10, message: "exceeded the allowed request quota" },
  /** KakaoPay itself failed. */
  internal: { status: 500, code: -1, message: "internal server error" },
  unavailable: { status: 503, code: -1, message: "service unavailable" },
} as const satisfies Record<string, SimError>;

export type ErrorName = keyof typeof ERRORS;

export function errorBody(error: SimError, extras?: { method_result_code: string; method_result_message: string }): Record<string, unknown> {
  return { error_code: error.code, error_message: error.message, ...(extras ? { extras } : {}) };
}
