/**
 * The one rule that turns how a PG call failed into PGB's four classes (core/ports/connector.ts:
 * declined, retryable, indeterminate, fatal). Each connector only says what its PG's answer means
 * (its own code tables); whether that may be retried, must be asked about later or needs an
 * operator is decided here, the same way for every PG.
 */
import { ConnectorError } from "../../core/ports/connector.ts";

/** What a PG's error answer means, as its connector reads the PG's code. */
export type PgAnswerMeaning =
  /** The PG said no (a card declined, a refund over the balance): nothing happened, nothing to retry. */
  | "declined"
  /** The PG refused without acting (throttled, the same key still in flight, or a PG that replays answers to a key): try again later. */
  | "unprocessed"
  /** The PG failed inside and may have acted: a read may be retried, a write must be asked about. */
  | "pg-fault"
  /** Our credentials or configuration are wrong, or it is not the PG answering: an operator must act. */
  | "misconfigured";

/** How the call failed. */
export type PgFailure =
  | { kind: "answered"; meaning: PgAnswerMeaning; httpStatus?: number; pgCode?: string; pgMessage: string }
  /** The request never left (refused connection, unknown host): nothing can have happened. */
  | { kind: "not-sent"; code: string }
  /** The request left and no answer came (time-out, reset): the PG may have acted. */
  | { kind: "no-answer"; code: string }
  /** The PG answered success in a shape PGB cannot read: a write took effect, a read is useless. */
  | { kind: "unreadable-success"; httpStatus?: number; detail: string };

/**
 * Connection failures that mean the request never left this machine. The same list for every PG,
 * whether the call goes through the shared client or a PG's own SDK.
 */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "CERT_HAS_EXPIRED",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
]);

/** A transport error's code (Node's `cause.code` from fetch, or an SDK's `code`), or undefined. */
export function transportFailure(code: string | undefined, timedOut: boolean): PgFailure {
  if (timedOut) return { kind: "no-answer", code: "TIMEOUT" };
  if (code !== undefined && NOT_SENT_CODES.has(code)) return { kind: "not-sent", code };
  return { kind: "no-answer", code: code ?? "NETWORK" };
}

/**
 * `writes`: whether the call may change something at the PG (a POST that creates, confirms, refunds
 * or expires). `describe` names the call for the message ("Toss POST /v1/payments/confirm").
 */
export function classifyPgFailure(failure: PgFailure, writes: boolean, describe: string): ConnectorError {
  switch (failure.kind) {
    case "answered": {
      const text = `${describe}: ${failure.httpStatus ?? "error"}${failure.pgCode !== undefined ? ` ${failure.pgCode}` : ""}: ${failure.pgMessage}`;
      const errorClass =
        failure.meaning === "declined"
          ? "declined"
          : failure.meaning === "unprocessed"
            ? "retryable"
            : failure.meaning === "misconfigured"
              ? "fatal"
              : writes
                ? "indeterminate"
                : "retryable";
      return new ConnectorError(errorClass, text, failure.pgCode, failure.httpStatus, failure.pgMessage);
    }
    case "not-sent":
      return new ConnectorError("retryable", `${describe}: ${failure.code}`, failure.code);
    case "no-answer":
      return new ConnectorError(
        writes ? "indeterminate" : "retryable",
        failure.code === "TIMEOUT" ? `${describe}: no answer in time` : `${describe}: connection lost (${failure.code})`,
        failure.code,
      );
    case "unreadable-success":
      return new ConnectorError(
        writes ? "indeterminate" : "fatal",
        `${describe}: unexpected answer shape (${failure.detail})`,
        "UNEXPECTED_RESPONSE",
        failure.httpStatus,
      );
  }
}
