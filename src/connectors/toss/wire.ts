/**
 * Toss Payments v1 wire shapes (API version 2022-11-16), as zod schemas with the types inferred.
 * Parsing is lenient about fields PGB does not read (Toss adds fields over time) and strict about
 * the ones it decides on: status, amounts, keys.
 */
import { z } from "zod";

export const TOSS_PAYMENT_STATUSES = ["READY", "IN_PROGRESS", "WAITING_FOR_DEPOSIT", "DONE", "CANCELED", "PARTIAL_CANCELED", "ABORTED", "EXPIRED"] as const;
export const TossPaymentStatusSchema = z.enum(TOSS_PAYMENT_STATUSES);
export type TossPaymentStatus = z.infer<typeof TossPaymentStatusSchema>;

/** Won are whole numbers on the wire. */
const won = z.number().int().nonnegative();

export const TossFailureSchema = z.object({ code: z.string(), message: z.string() });

export const TossCancelSchema = z.object({
  transactionKey: z.string(),
  cancelReason: z.string().nullish(),
  cancelAmount: won,
  canceledAt: z.string(),
  refundableAmount: won.nullish(),
  taxFreeAmount: won.nullish(),
  /** DONE for a finished cancel; anything else is still moving or failed. */
  cancelStatus: z.string().nullish(),
  cancelRequestId: z.string().nullish(),
  receiptKey: z.string().nullish(),
});
export type TossCancel = z.infer<typeof TossCancelSchema>;

export const TossRefundReceiveAccountSchema = z.object({
  bankCode: z.string().nullish(),
  accountNumber: z.string().nullish(),
  holderName: z.string().nullish(),
});

export const TossVirtualAccountSchema = z.object({
  accountType: z.string().nullish(),
  accountNumber: z.string(),
  bankCode: z.string(),
  customerName: z.string().nullish(),
  dueDate: z.string(),
  /** True once the deposit window closed without a deposit. */
  expired: z.boolean().nullish(),
  settlementStatus: z.string().nullish(),
  refundStatus: z.string().nullish(),
  refundReceiveAccount: TossRefundReceiveAccountSchema.nullish(),
  depositorName: z.string().nullish(),
});
export type TossVirtualAccount = z.infer<typeof TossVirtualAccountSchema>;

export const TossPaymentSchema = z.object({
  mId: z.string().nullish(),
  version: z.string().nullish(),
  paymentKey: z.string().min(1),
  orderId: z.string().min(1),
  orderName: z.string().nullish(),
  type: z.string().nullish(),
  status: TossPaymentStatusSchema,
  /** Localised: "카드" / "가상계좌" in Korean-locale answers, "CARD" / "VIRTUAL_ACCOUNT" otherwise. */
  method: z.string().nullish(),
  currency: z.string().default("KRW"),
  totalAmount: won,
  balanceAmount: won,
  suppliedAmount: won.nullish(),
  vat: won.nullish(),
  taxFreeAmount: won.nullish(),
  requestedAt: z.string().nullish(),
  approvedAt: z.string().nullish(),
  lastTransactionKey: z.string().nullish(),
  isPartialCancelable: z.boolean().nullish(),
  cancels: z.array(TossCancelSchema).nullish(),
  card: z.record(z.string(), z.unknown()).nullish(),
  virtualAccount: TossVirtualAccountSchema.nullish(),
  easyPay: z.record(z.string(), z.unknown()).nullish(),
  /** Virtual accounts: echoed in every DEPOSIT_CALLBACK, so a callback can be matched to the issuance. */
  secret: z.string().nullish(),
  failure: TossFailureSchema.nullish(),
  receipt: z.object({ url: z.string().nullish() }).nullish(),
  checkout: z.object({ url: z.string().nullish() }).nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});
export type TossPayment = z.infer<typeof TossPaymentSchema>;

/** Toss answers every failed call with this; a few gateways in front of it wrap it in `error`. */
export const TossErrorSchema = z.union([
  z.object({ code: z.string().min(1), message: z.string().default("") }),
  z.object({ error: z.object({ code: z.string().min(1), message: z.string().default("") }) }).transform((e) => e.error),
]);
export type TossError = z.infer<typeof TossErrorSchema>;

export interface TossConfirmRequest {
  paymentKey: string;
  orderId: string;
  amount: number;
}

export interface TossRefundReceiveAccount {
  /** Toss accepts the bank's code ("88") or its Korean name. */
  bank: string;
  accountNumber: string;
  holderName: string;
}

export interface TossCancelRequest {
  cancelReason: string;
  cancelAmount?: number;
  refundReceiveAccount?: TossRefundReceiveAccount;
}

/** `createdAt` is Toss's local time without a zone (yyyy-MM-dd'T'HH:mm:ss.SSSSSS). */
export const TossPaymentStatusChangedSchema = z.object({
  eventType: z.literal("PAYMENT_STATUS_CHANGED"),
  createdAt: z.string(),
  data: TossPaymentSchema,
});
export type TossPaymentStatusChanged = z.infer<typeof TossPaymentStatusChangedSchema>;

export const TossDepositCallbackFieldsSchema = z.object({
  createdAt: z.string(),
  secret: z.string().min(1),
  status: TossPaymentStatusSchema,
  transactionKey: z.string().nullish(),
  orderId: z.string().min(1),
});
export type TossDepositCallback = z.infer<typeof TossDepositCallbackFieldsSchema>;

/** The docs put the fields at the top level; some integrations see them under `data`. Both parse. */
export const TossDepositCallbackSchema = z.union([
  TossDepositCallbackFieldsSchema,
  z.object({ eventType: z.string().optional(), data: TossDepositCallbackFieldsSchema }).transform((body) => body.data),
]);

/** Just enough to tell the event types apart before parsing one. */
export const TossWebhookEnvelopeSchema = z.object({ eventType: z.string().optional(), createdAt: z.string().optional() });
