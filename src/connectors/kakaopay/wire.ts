/**
 * KakaoPay online single-payment wire shapes (open-api host, JSON), as zod schemas with the types
 * inferred. Lenient about fields PGB does not read (KakaoPay adds fields over time) and strict
 * about the ones it decides on: tid, aid, status, amounts, partner ids.
 */
import { z } from "zod";

export const KAKAOPAY_ORDER_STATUSES = [
  "READY",
  "SEND_TMS",
  "OPEN_PAYMENT",
  "SELECT_METHOD",
  "ARS_WAITING",
  "AUTH_PASSWORD",
  "ISSUED_SID",
  "SUCCESS_PAYMENT",
  "PART_CANCEL_PAYMENT",
  "CANCEL_PAYMENT",
  "FAIL_AUTH_PASSWORD",
  "QUIT_PAYMENT",
  "FAIL_PAYMENT",
] as const;
export const KakaoPayOrderStatusSchema = z.enum(KAKAOPAY_ORDER_STATUSES);
export type KakaoPayOrderStatus = z.infer<typeof KakaoPayOrderStatusSchema>;

/** Won are whole numbers on the wire. */
const won = z.number().int().nonnegative();
/** KakaoPay's datetimes are Korea local time without a zone ("2023-07-15T21:18:22"). */
const kstDateTime = z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);

export const KakaoPayAmountSchema = z.object({
  total: won,
  tax_free: won,
  vat: won.nullish(),
  point: won.nullish(),
  discount: won.nullish(),
  green_deposit: won.nullish(),
});
export type KakaoPayAmount = z.infer<typeof KakaoPayAmountSchema>;

export const KakaoPayReadyResponseSchema = z.object({
  tid: z.string().min(1).max(20),
  next_redirect_pc_url: z.url(),
  next_redirect_mobile_url: z.url(),
  next_redirect_app_url: z.string().nullish(),
  android_app_scheme: z.string().nullish(),
  ios_app_scheme: z.string().nullish(),
  created_at: kstDateTime,
});
export type KakaoPayReadyResponse = z.infer<typeof KakaoPayReadyResponseSchema>;

export const KakaoPayMethodTypeSchema = z.enum(["CARD", "MONEY"]);

export const KakaoPayApproveResponseSchema = z.object({
  aid: z.string().min(1),
  tid: z.string().min(1),
  cid: z.string(),
  partner_order_id: z.string(),
  partner_user_id: z.string(),
  payment_method_type: KakaoPayMethodTypeSchema,
  amount: KakaoPayAmountSchema,
  item_name: z.string().nullish(),
  quantity: z.number().int().nullish(),
  created_at: kstDateTime.nullish(),
  approved_at: kstDateTime,
  payload: z.string().nullish(),
});
export type KakaoPayApproveResponse = z.infer<typeof KakaoPayApproveResponseSchema>;

export const KakaoPayActionSchema = z.object({
  aid: z.string().min(1),
  approved_at: kstDateTime.nullish(),
  amount: won,
  point_amount: won.nullish(),
  discount_amount: won.nullish(),
  green_deposit: won.nullish(),
  /** PAYMENT, CANCEL, or ISSUED_SID (subscriptions). Kept open: an unknown type is ignored, not fatal. */
  payment_action_type: z.string(),
  payload: z.string().nullish(),
});
export type KakaoPayAction = z.infer<typeof KakaoPayActionSchema>;

export const KakaoPayOrderResponseSchema = z.object({
  tid: z.string().min(1),
  cid: z.string(),
  status: KakaoPayOrderStatusSchema,
  partner_order_id: z.string(),
  partner_user_id: z.string(),
  /** Null until the buyer picked a method. */
  payment_method_type: KakaoPayMethodTypeSchema.nullish(),
  amount: KakaoPayAmountSchema,
  canceled_amount: KakaoPayAmountSchema.nullish(),
  cancel_available_amount: KakaoPayAmountSchema.nullish(),
  item_name: z.string().nullish(),
  created_at: kstDateTime,
  approved_at: kstDateTime.nullish(),
  canceled_at: kstDateTime.nullish(),
  payment_action_details: z.array(KakaoPayActionSchema).nullish(),
});
export type KakaoPayOrderResponse = z.infer<typeof KakaoPayOrderResponseSchema>;

export const KakaoPayCancelResponseSchema = z.object({
  aid: z.string().min(1),
  tid: z.string().min(1),
  cid: z.string(),
  status: KakaoPayOrderStatusSchema,
  partner_order_id: z.string(),
  partner_user_id: z.string(),
  payment_method_type: KakaoPayMethodTypeSchema.nullish(),
  amount: KakaoPayAmountSchema,
  /** What this call cancelled. */
  approved_cancel_amount: KakaoPayAmountSchema,
  /** Cancelled so far, this call included. */
  canceled_amount: KakaoPayAmountSchema,
  cancel_available_amount: KakaoPayAmountSchema,
  canceled_at: kstDateTime.nullish(),
  payload: z.string().nullish(),
});
export type KakaoPayCancelResponse = z.infer<typeof KakaoPayCancelResponseSchema>;

export const KakaoPayErrorSchema = z.object({
  error_code: z.number().int(),
  error_message: z.string(),
  extras: z
    .object({
      method_result_code: z.string().nullish(),
      method_result_message: z.string().nullish(),
    })
    .nullish(),
});
export type KakaoPayError = z.infer<typeof KakaoPayErrorSchema>;
