/**
 * Pure mappings between PGB's types and KakaoPay's wire objects. No I/O here, so every rule has a
 * unit test (test/connectors/kakaopay-transformers.test.ts).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { assertUnreachable } from "../../core/errors.ts";
import { MAX_MINOR_UNITS, money, type Money } from "../../core/money.ts";
import type { PgPayment, PgPaymentStatus, RefundLookup, RefundOutcome } from "../../core/ports/connector.ts";
import {
  type KakaoPayApproveResponse,
  type KakaoPayCancelResponse,
  type KakaoPayOrderResponse,
  type KakaoPayOrderStatus,
  type KakaoPayReadyResponse,
} from "./wire.ts";
import { brand, type PgTransactionId } from "../../core/ids.ts";

/** KakaoPay: a tid not approved within 15 minutes of the ready call is dead. */
export const KAKAOPAY_TID_LIFETIME_MS = 15 * 60_000;

// ---------------------------------------------------------------------------------------------
// Money

/** KakaoPay's integer won → Money. */
export function wonToMoney(won: number): Money {
  if (!Number.isSafeInteger(won) || won < 0) throw new Error(`KakaoPay amount ${won} is not a whole number of won`);
  return money(BigInt(won), "KRW");
}

/** Money → KakaoPay's integer won. KakaoPay settles KRW only; anything else is a routing bug. */
export function moneyToWon(amount: Money): number {
  if (amount.currency !== "KRW") throw new Error(`KakaoPay settles in KRW, not ${amount.currency}`);
  if (amount.minor <= 0n || amount.minor > MAX_MINOR_UNITS) throw new Error(`KakaoPay amount out of range: ${amount.minor}`);
  return Number(amount.minor);
}

/**
 * The amount fields of a ready call. PGB knows no tax-free part, so all of it is taxable and
 * KakaoPay derives the VAT ((total − tax free) / 11, its documented default).
 */
export function readyAmounts(amount: Money): { quantity: 1; total_amount: number; tax_free_amount: 0 } {
  return { quantity: 1, total_amount: moneyToWon(amount), tax_free_amount: 0 };
}

/**
 * The amount fields of a cancel call. `cancel_available_amount` is what PGB believes is left
 * *before* this cancel: KakaoPay refuses the cancel when it disagrees, so a cancel resent after a
 * lost answer (KakaoPay takes no idempotency key) cannot cancel twice.
 */
export function cancelAmounts(refund: Money, availableBefore: Money): { cancel_amount: number; cancel_tax_free_amount: 0; cancel_available_amount: number } {
  if (refund.minor > availableBefore.minor) throw new Error("refund above the cancellable balance");
  return { cancel_amount: moneyToWon(refund), cancel_tax_free_amount: 0, cancel_available_amount: moneyToWon(availableBefore) };
}

// ---------------------------------------------------------------------------------------------
// Status

/**
 * KakaoPay's order status → PGB's, exhaustively. Before approval everything is PENDING (the
 * reconciler's tid-age check decides EXPIRED, see isTidExpired). CANCEL_PAYMENT with no approval
 * behind it moved no money, so it is a failure, not a refund.
 */
export function mapOrderStatus(order: Pick<KakaoPayOrderResponse, "status" | "approved_at" | "created_at">, now?: Date): PgPaymentStatus {
  const status: KakaoPayOrderStatus = order.status;
  switch (status) {
    case "READY":
    case "SEND_TMS":
    case "OPEN_PAYMENT":
    case "SELECT_METHOD":
    case "ARS_WAITING":
    case "AUTH_PASSWORD":
      return now !== undefined && isTidExpired(order.created_at, now) ? "EXPIRED" : "PENDING";
    // A billing key for subscriptions; a single-payment CID never produces it. Ambiguous → PENDING.
    case "ISSUED_SID":
      return "PENDING";
    case "SUCCESS_PAYMENT":
      return "PAID";
    case "PART_CANCEL_PAYMENT":
      return "PARTIALLY_REFUNDED";
    case "CANCEL_PAYMENT":
      return order.approved_at ? "REFUNDED" : "FAILED";
    case "FAIL_AUTH_PASSWORD":
    case "QUIT_PAYMENT":
    case "FAIL_PAYMENT":
      return "FAILED";
    default:
      return assertUnreachable(status);
  }
}

/** KakaoPay's zone-less Korea time → an instant. */
export function kakaoTime(text: string): Date {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)/.exec(text);
  if (!m) throw new Error(`not a KakaoPay datetime: ${text}`);
  return new Date(`${m[1]}+09:00`);
}

export function isTidExpired(createdAt: string, now: Date): boolean {
  return now.getTime() - kakaoTime(createdAt).getTime() >= KAKAOPAY_TID_LIFETIME_MS;
}

const FAILURE_TEXT: Partial<Record<KakaoPayOrderStatus, string>> = {
  FAIL_AUTH_PASSWORD: "the buyer failed KakaoPay's password check",
  QUIT_PAYMENT: "the buyer left KakaoPay's payment (or the tid expired)",
  FAIL_PAYMENT: "KakaoPay could not approve the payment",
  CANCEL_PAYMENT: "cancelled before approval",
};

/** Order lookup → what the core compares with its record. */
export function orderToPgPayment(order: KakaoPayOrderResponse, paymentReference: string, now?: Date): PgPayment {
  const status = mapOrderStatus(order, now);
  return {
    pgTransactionId: brand<PgTransactionId>(order.tid),
    status,
    amount: wonToMoney(order.amount.total),
    paymentReference,
    ...(status === "FAILED" || status === "EXPIRED"
      ? { failure: { code: status === "EXPIRED" ? "TID_EXPIRED" : order.status, message: FAILURE_TEXT[order.status] ?? "the tid expired unapproved" } }
      : {}),
    details: { partnerOrderId: order.partner_order_id, method: order.payment_method_type ?? null },
  };
}

/** An approve answer is a paid payment by definition; the core still compares amount and reference. */
export function approveToPgPayment(approve: KakaoPayApproveResponse, paymentReference: string): PgPayment {
  return {
    pgTransactionId: brand<PgTransactionId>(approve.tid),
    status: "PAID",
    amount: wonToMoney(approve.amount.total),
    paymentReference,
    details: { aid: approve.aid, partnerOrderId: approve.partner_order_id, method: approve.payment_method_type },
  };
}

// ---------------------------------------------------------------------------------------------
// Refunds

/** A cancel KakaoPay answered is done: it refunds synchronously. The aid names this cancel. */
export function cancelToRefundOutcome(cancel: KakaoPayCancelResponse, expected: Money): RefundOutcome {
  if (cancel.approved_cancel_amount.total !== moneyToWon(expected)) {
    return {
      status: "FAILED",
      pgRefundId: cancel.aid,
      code: "AMOUNT_MISMATCH",
      message: `KakaoPay cancelled ${cancel.approved_cancel_amount.total}, PGB asked ${expected.minor}`,
    };
  }
  return { status: "SUCCEEDED", pgRefundId: cancel.aid };
}

/**
 * What order lookup says of a cancel whose answer was lost. The cancel carried PGB's refund id as
 * `payload`, which KakaoPay keeps in payment_action_details; the lookup is KakaoPay's whole
 * history for the tid, so no CANCEL entry with that payload means it never happened.
 */
export function findRefundInOrder(order: KakaoPayOrderResponse, refundPayload: string, expected: Money): RefundLookup {
  const action = (order.payment_action_details ?? []).find((a) => a.payment_action_type === "CANCEL" && a.payload === refundPayload);
  if (action === undefined) return { status: "NOT_FOUND" };
  if (action.amount !== moneyToWon(expected)) {
    return { status: "FAILED", pgRefundId: action.aid, code: "AMOUNT_MISMATCH", message: `KakaoPay cancelled ${action.amount}, PGB asked ${expected.minor}` };
  }
  return { status: "SUCCEEDED", pgRefundId: action.aid };
}

/** KakaoPay keeps at most 200 characters of payload. */
export function refundPayload(refundId: string): string {
  if (refundId.length === 0 || refundId.length > 200) throw new Error("refund id does not fit KakaoPay's 200-character payload");
  return refundId;
}

// ---------------------------------------------------------------------------------------------
// Partner ids

/**
 * partner_order_id for a PGB payment: its id plus an HMAC of it under the tenant's secret, so the
 * value KakaoPay echoes can be verified and cannot be derived from the host's OrderId. ≤ 100 chars.
 */
export function partnerOrderId(paymentId: string, secret: string): string {
  const value = `${paymentId}.${mac(secret, `order:${paymentId}`, 22)}`;
  if (value.length > 100) throw new Error("payment id too long for KakaoPay's partner_order_id");
  return value;
}

/** Answers the PGB payment id a partner_order_id names, or undefined if it is not one PGB made. */
export function verifyPartnerOrderId(value: string, secret: string): string | undefined {
  const dot = value.lastIndexOf(".");
  if (dot <= 0) return undefined;
  const paymentId = value.slice(0, dot);
  const expected = Buffer.from(partnerOrderId(paymentId, secret));
  const given = Buffer.from(value);
  return expected.length === given.length && timingSafeEqual(expected, given) ? paymentId : undefined;
}

/**
 * partner_user_id: KakaoPay forbids personal data here (names, phone numbers, e-mail, ids), so the
 * buyer is a keyed digest of tenant and JoinerId: stable per buyer, meaningless outside PGB.
 */
export function partnerUserId(tenant: string, joinerId: number, secret: string): string {
  return `u_${mac(secret, `user:${tenant}:${joinerId}`, 32)}`;
}

function mac(secret: string, message: string, length: number): string {
  if (secret.length === 0) throw new Error("a partner-id secret is required");
  return createHmac("sha256", secret).update(message).digest("base64url").slice(0, length);
}

// ---------------------------------------------------------------------------------------------
// Redirect

const MOBILE_UA = /Mobi|Android|iPhone|iPad|iPod|KAKAOTALK|Windows Phone|webOS|BlackBerry|Opera Mini/i;

/**
 * The ready answer's URL for the buyer's device: the mobile URL hands over to the KakaoTalk app,
 * the PC URL asks for a phone number or shows a QR code. No User-Agent → PC (it works anywhere).
 */
export function redirectUrlFor(ready: Pick<KakaoPayReadyResponse, "next_redirect_pc_url" | "next_redirect_mobile_url">, userAgent: string | undefined): string {
  return userAgent !== undefined && MOBILE_UA.test(userAgent) ? ready.next_redirect_mobile_url : ready.next_redirect_pc_url;
}
