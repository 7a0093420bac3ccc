/**
 * Pure mappings between PGB's types and Toss's wire objects. No I/O here, so every rule has a
 * unit test (test/connectors/toss-transformers.test.ts).
 */
import { createHash } from "node:crypto";
import { assertUnreachable } from "../../core/errors.ts";
import { money, type Money } from "../../core/money.ts";
import type { PayType } from "../../core/pay-type.ts";
import { ConnectorError, type PgPayment, type PgPaymentStatus, type RefundOutcome, type VirtualAccount } from "../../core/ports/connector.ts";
import type { CheckoutRow } from "./store.ts";
import type { TossCancel, TossDepositCallback, TossPayment, TossPaymentStatus, TossPaymentStatusChanged } from "./wire.ts";
import { brand, type PgTransactionId } from "../../core/ids.ts";

/** Toss's orderId rule: 6–64 characters of letters, digits, `-` and `_`. */
const TOSS_ORDER_ID = /^[A-Za-z0-9_-]{6,64}$/;

/**
 * The orderId Toss sees for a PGB payment: the payment id itself when it fits Toss's rule (so
 * operators can search Toss's console by it), otherwise a stable digest of it.
 */
export function tossOrderIdFor(paymentReference: string): string {
  if (TOSS_ORDER_ID.test(paymentReference)) return paymentReference;
  return `pgb-${createHash("sha256").update(paymentReference).digest("base64url").slice(0, 40)}`;
}

/** The method names Toss's v2 browser SDK takes in requestPayment, by PGB PayType. */
export type TossSdkMethod = "CARD" | "VIRTUAL_ACCOUNT" | "TRANSFER" | "MOBILE_PHONE";

export function sdkMethodFor(payType: PayType): TossSdkMethod | undefined {
  switch (payType) {
    case "CARD":
      return "CARD";
    // Toss's card window lists the easy-pay wallets (Toss Pay, Naver Pay, ...) next to the cards.
    case "EASY_PAY":
      return "CARD";
    case "VIRTUAL_ACCOUNT":
      return "VIRTUAL_ACCOUNT";
    case "TRANSFER":
      return "TRANSFER";
    case "MOBILE_PHONE":
      return "MOBILE_PHONE";
    case "PAYPAL":
      return undefined;
    default:
      return assertUnreachable(payType);
  }
}

export type TossMethod = "CARD" | "VIRTUAL_ACCOUNT" | "TRANSFER" | "MOBILE_PHONE" | "EASY_PAY" | "GIFT_CERTIFICATE" | "OTHER";

const METHOD_LABELS: Readonly<Record<string, TossMethod>> = {
  카드: "CARD",
  CARD: "CARD",
  가상계좌: "VIRTUAL_ACCOUNT",
  VIRTUAL_ACCOUNT: "VIRTUAL_ACCOUNT",
  계좌이체: "TRANSFER",
  TRANSFER: "TRANSFER",
  휴대폰: "MOBILE_PHONE",
  MOBILE_PHONE: "MOBILE_PHONE",
  간편결제: "EASY_PAY",
  EASY_PAY: "EASY_PAY",
  문화상품권: "GIFT_CERTIFICATE",
  도서문화상품권: "GIFT_CERTIFICATE",
  게임문화상품권: "GIFT_CERTIFICATE",
  CULTURE_GIFT_CERTIFICATE: "GIFT_CERTIFICATE",
};

/** Toss answers `method` in Korean or English depending on locale; PGB keeps one spelling. */
export function normaliseMethod(method: string | null | undefined): TossMethod | undefined {
  if (method === null || method === undefined || method === "") return undefined;
  return METHOD_LABELS[method.trim()] ?? METHOD_LABELS[method.trim().toUpperCase()] ?? "OTHER";
}

/** Toss's two-digit bank codes for the banks that issue virtual accounts, to their Korean names. */
const BANK_NAMES: Readonly<Record<string, string>> = {
  "02": "KDB산업은행",
  "03": "IBK기업은행",
  "06": "KB국민은행",
  "07": "Sh수협은행",
  "11": "NH농협은행",
  "20": "우리은행",
  "23": "SC제일은행",
  "31": "iM뱅크",
  "32": "부산은행",
  "34": "광주은행",
  "35": "제주은행",
  "37": "전북은행",
  "39": "경남은행",
  "45": "새마을금고",
  "71": "우체국",
  "81": "하나은행",
  "88": "신한은행",
  "89": "케이뱅크",
  "90": "카카오뱅크",
  "92": "토스뱅크",
};

/** The bank as a customer reads it; an unknown code passes through unchanged. */
export function bankName(bankCode: string): string {
  return BANK_NAMES[bankCode] ?? bankCode;
}

export function wonToMoney(amount: number): Money {
  return money(BigInt(amount), "KRW");
}

/** Money → Toss's integer won. Only KRW is accepted by the caller; MAX_MINOR_UNITS keeps it < 2^53. */
export function moneyToWon(amount: Money): number {
  if (amount.currency !== "KRW") throw new Error(`Toss settles in KRW, not ${amount.currency}`);
  return Number(amount.minor);
}

/**
 * Toss's status → PGB's, exhaustively. A payment cancelled before any money moved (a virtual
 * account withdrawn before the deposit) is a failure, not a refund: nothing was paid back.
 */
export function mapStatus(payment: Pick<TossPayment, "status" | "approvedAt" | "virtualAccount">): PgPaymentStatus {
  const status: TossPaymentStatus = payment.status;
  switch (status) {
    case "READY":
    case "IN_PROGRESS":
      return "PENDING";
    case "WAITING_FOR_DEPOSIT":
      // Whether Toss moves an unpaid, lapsed account to EXPIRED or leaves it here flagged is not
      // documented; the flag decides either way.
      return payment.virtualAccount?.expired === true ? "EXPIRED" : "WAITING_FOR_DEPOSIT";
    case "DONE":
      return "PAID";
    case "CANCELED":
      if (wasPaid(payment)) return "REFUNDED";
      return payment.virtualAccount?.expired === true ? "EXPIRED" : "FAILED";
    case "PARTIAL_CANCELED":
      return "PARTIALLY_REFUNDED";
    case "ABORTED":
      return "FAILED";
    case "EXPIRED":
      return "EXPIRED";
    default:
      return assertUnreachable(status);
  }
}

/** approvedAt is set when money was captured (for a virtual account: on deposit). */
function wasPaid(payment: Pick<TossPayment, "approvedAt" | "virtualAccount">): boolean {
  return payment.approvedAt !== null && payment.approvedAt !== undefined && payment.approvedAt !== "";
}

/** Facts kept with the payment (PgPayment.details) so later calls can address it at Toss. */
export interface TossDetails {
  paymentKey: string;
  tossOrderId: string;
  method?: TossMethod;
  /** Virtual accounts: compare with every DEPOSIT_CALLBACK's `secret`. */
  secret?: string;
  bankCode?: string;
  lastTransactionKey?: string;
}

export function readDetails(details: Record<string, unknown> | undefined): Partial<TossDetails> {
  if (details === undefined || details === null) return {};
  const text = (key: string): string | undefined => (typeof details[key] === "string" && details[key] !== "" ? (details[key] as string) : undefined);
  const method = text("method");
  return {
    paymentKey: text("paymentKey"),
    tossOrderId: text("tossOrderId"),
    method: method === undefined ? undefined : normaliseMethod(method),
    secret: text("secret"),
    bankCode: text("bankCode"),
  };
}

export function toVirtualAccount(payment: TossPayment): VirtualAccount | undefined {
  const va = payment.virtualAccount;
  if (va === null || va === undefined) return undefined;
  return {
    bank: bankName(va.bankCode),
    accountNumber: va.accountNumber,
    holderName: va.customerName ?? "",
    dueDate: va.dueDate,
  };
}

/**
 * The payment's method. Real answers sometimes carry `method` as "" or null; the method's own object
 * (virtualAccount) is there whatever `method` says, and it decides how a refund must be sent.
 */
export function methodOf(payment: Pick<TossPayment, "method" | "virtualAccount">): TossMethod | undefined {
  if (payment.virtualAccount !== null && payment.virtualAccount !== undefined) return "VIRTUAL_ACCOUNT";
  return normaliseMethod(payment.method);
}

/** One Toss Payment → what PGB's core compares with its record. */
export function toPgPayment(payment: TossPayment, paymentReference: string): PgPayment {
  const status = mapStatus(payment);
  const method = methodOf(payment);
  const details: TossDetails = { paymentKey: payment.paymentKey, tossOrderId: payment.orderId };
  if (method !== undefined) details.method = method;
  if (payment.secret) details.secret = payment.secret;
  if (payment.virtualAccount) details.bankCode = payment.virtualAccount.bankCode;
  if (payment.lastTransactionKey) details.lastTransactionKey = payment.lastTransactionKey;

  const result: PgPayment = {
    pgTransactionId: brand<PgTransactionId>(payment.paymentKey),
    status,
    amount: wonToMoney(payment.totalAmount),
    paymentReference,
    details: { ...details },
  };
  const virtualAccount = toVirtualAccount(payment);
  if (virtualAccount !== undefined) result.virtualAccount = virtualAccount;
  if (status === "FAILED" || status === "EXPIRED") {
    result.failure = payment.failure
      ? { code: payment.failure.code, message: payment.failure.message }
      : { code: payment.status, message: failureMessageFor(payment.status) };
  }
  return result;
}

function failureMessageFor(status: TossPaymentStatus): string {
  switch (status) {
    case "CANCELED":
      return "Cancelled at Toss before any money was paid.";
    case "EXPIRED":
      return "Not completed in time.";
    case "WAITING_FOR_DEPOSIT":
      return "The virtual account's deposit window closed without a deposit.";
    default:
      return `Toss reports ${status}.`;
  }
}

/** What a success return carries, if it carries it all. */
export function successReturnParams(query: Record<string, string>): { paymentKey: string; orderId: string; amount: string } | undefined {
  const { paymentKey, orderId, amount } = query;
  if (!paymentKey || !orderId || amount === undefined || amount === "") return undefined;
  return { paymentKey, orderId, amount };
}

/** The return's `amount` must be exactly the stored won, written as Toss writes it (no sign, no decimals). */
export function returnAmountMatches(amount: string, expected: Money): boolean {
  return /^(0|[1-9][0-9]*)$/.test(amount) && expected.currency === "KRW" && BigInt(amount) === expected.minor;
}

/**
 * A cancel's answer is the whole Payment; the newest cancel in it is the one just made (an
 * idempotent replay answers the same Payment, so the same cancel).
 */
export function refundOutcomeOf(payment: TossPayment): RefundOutcome | undefined {
  const cancel = latestCancel(payment.cancels ?? []);
  if (cancel === undefined) return undefined;
  const status = cancel.cancelStatus ?? "DONE";
  // A deposited virtual account is refunded by a bank transfer Toss reports apart from the cancel:
  // the cancel is DONE while the transfer is PENDING, and the transfer can still fail.
  const transfer = payment.virtualAccount?.refundStatus;
  if (status === "DONE" && (transfer === "FAILED" || transfer === "PARTIAL_FAILED")) {
    return {
      status: "FAILED",
      pgRefundId: cancel.transactionKey,
      code: `REFUND_${transfer}`,
      message: `Toss reports the refund transfer to the customer's account ${transfer}.`,
    };
  }
  if (status === "DONE" && transfer === "PENDING") return { status: "PENDING", pgRefundId: cancel.transactionKey };
  if (status === "DONE") return { status: "SUCCEEDED", pgRefundId: cancel.transactionKey };
  if (status === "ABORTED" || status === "FAILED") {
    return { status: "FAILED", pgRefundId: cancel.transactionKey, code: `CANCEL_${status}`, message: `Toss reports the cancel as ${status}.` };
  }
  return { status: "PENDING", pgRefundId: cancel.transactionKey };
}

export function latestCancel(cancels: readonly TossCancel[]): TossCancel | undefined {
  let latest: TossCancel | undefined;
  for (const cancel of cancels) {
    if (latest === undefined || Date.parse(cancel.canceledAt) >= Date.parse(latest.canceledAt)) latest = cancel;
  }
  return latest;
}

/** Deterministic ids so a webhook Toss resends (or sends twice) dedupes in the core's intake. */
export function statusChangedEventId(event: TossPaymentStatusChanged): string {
  return `PAYMENT_STATUS_CHANGED:${event.data.paymentKey}:${event.data.status}:${event.createdAt}`;
}

export function depositCallbackEventId(callback: TossDepositCallback): string {
  return `DEPOSIT:${callback.orderId}:${callback.status}:${callback.transactionKey ?? ""}:${callback.createdAt}`;
}

/** Toss's Idempotency-Key may be at most 300 characters; longer keys are hashed, stably. */
export function idempotencyKey(key: string): string {
  return key.length <= 300 ? key : `h-${createHash("sha256").update(key).digest("hex")}`;
}

/** A retried confirm of the same return reuses the key, so Toss answers it without confirming twice. */
export function confirmIdempotencyKey(paymentReference: string, paymentKey: string): string {
  return `pgb-confirm-${createHash("sha256").update(`${paymentReference}\u0000${paymentKey}`).digest("hex")}`;
}

/** Korean won for people: "10,000원". */
export function formatWon(amount: Money): string {
  return `${amount.minor.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",")}원`;
}

/** Where a payment is addressed at Toss: the paymentKey once known, from whichever source has it. */
export function paymentKeyOf(
  ref: { pgTransactionId: string; paymentReference: string; details?: Record<string, unknown> },
  row: CheckoutRow | undefined,
): string | undefined {
  const fromDetails = readDetails(ref.details).paymentKey;
  if (fromDetails !== undefined) return fromDetails;
  if (ref.pgTransactionId !== "" && ref.pgTransactionId !== ref.paymentReference) return ref.pgTransactionId;
  return row?.paymentKey ?? undefined;
}

/** A paymentKey from a browser or a stale record must not let one order read or refund another. */
export function assertOurs(payment: TossPayment, tossOrderId: string): void {
  if (payment.orderId !== tossOrderId) {
    throw new ConnectorError("fatal", "Toss returned a payment of another order for this paymentKey", "ORDER_ID_MISMATCH");
  }
}
