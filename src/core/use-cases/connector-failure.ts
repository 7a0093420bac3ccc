import { assertUnreachable, fail, type Failure } from "../errors.ts";
import type { ConnectorError } from "../ports/connector.ts";

/** The single mapping from a connector's failure class to what the host is told. */
export function connectorFailure(error: ConnectorError, doing: string): Failure {
  const detail = { pgCode: error.pgCode ?? null, pgHttpStatus: error.httpStatus ?? null };
  switch (error.errorClass) {
    case "declined":
      if (error.pgCode === "REFUND_ACCOUNT_REQUIRED") {
        return fail(
          "REFUND_ACCOUNT_REQUIRED",
          "this payment was a deposited virtual account: send RefundAccount {Bank, AccountNumber, HolderName} to refund it",
          detail,
        );
      }
      return fail("PG_DECLINED", `the PG declined to ${doing}: ${error.pgCode ?? ""} ${error.pgMessage ?? error.message}`.trim(), detail);
    case "retryable":
      return fail("PG_UNAVAILABLE", `the PG could not ${doing} right now; nothing was changed, retry later`, detail);
    case "indeterminate":
      return fail("PG_RESULT_UNKNOWN", `the PG did not confirm whether it could ${doing}; PGB will settle it with the PG and notify`, detail);
    case "fatal":
      return fail("PG_ERROR", `the PG answered an unexpected error while trying to ${doing}`, detail);
    default:
      return assertUnreachable(error.errorClass);
  }
}
