import { z } from "zod";

/** How the customer pays. The host sends one of these (case-insensitively) as PayType. */
export const PAY_TYPES = ["CARD", "VIRTUAL_ACCOUNT", "TRANSFER", "MOBILE_PHONE", "EASY_PAY", "PAYPAL"] as const;
export const PayTypeSchema = z.enum(PAY_TYPES);
export type PayType = z.infer<typeof PayTypeSchema>;

export function parsePayType(value: string): PayType | undefined {
  const upper = value.toUpperCase();
  return (PAY_TYPES as readonly string[]).includes(upper) ? (upper as PayType) : undefined;
}
