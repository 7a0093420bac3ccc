/**
 * The host's request bodies (README, "Host API"), exactly as the .NET host serializes them: PascalCase,
 * prices as decimal strings (FullCancel's CurrentTotalPrice as an int), JSON null for absent strings.
 */
import { z } from "zod";

const INT32_MAX = 2_147_483_647;
const int32 = (min: number) =>
  z
    .number({ error: (i) => (i.input === undefined ? "is required" : "must be an integer number") })
    .int("must be an integer")
    .min(min, `must be at least ${min}`)
    .max(INT32_MAX, "is larger than a 32-bit int");
const requiredString = (max: number) =>
  z
    .string({ error: (i) => (i.input === undefined || i.input === null ? "is required" : "must be a string") })
    .trim()
    .min(1, "must not be empty")
    .max(max, `must be at most ${max} characters`);
const priceString = z
  .string({ error: (i) => (i.input === undefined || i.input === null ? "is required" : 'must be a decimal string such as "10000" or "19.99"') })
  .max(40, "is too long");
const optionalString = (max: number) => z.string().max(max, `must be at most ${max} characters`).nullish();

export const PayStartBodySchema = z.object({
  DBType: requiredString(64),
  OrderId: int32(1),
  PayType: requiredString(32),
  TotalPrice: priceString,
  JoinerId: int32(0),
  OrderDescription: optionalString(500),
  RedirectUrl: requiredString(2048),
  NationCode: requiredString(8),
});
export const PAY_START_FIELDS = Object.keys(PayStartBodySchema.shape);

export const RefundAccountSchema = z.object({ Bank: requiredString(32), AccountNumber: requiredString(32), HolderName: requiredString(64) }).nullish();

export const PartialCancelBodySchema = z.object({
  DBType: requiredString(64),
  OrderId: int32(1),
  RefundPrice: priceString,
  CurrentTotalPrice: priceString,
  ModifiedTotalPrice: priceString,
  JoinerId: int32(0),
  NationCode: requiredString(8),
  /** PGB extension for deposited virtual accounts (design choice, see README). */
  RefundAccount: RefundAccountSchema,
});
export const PARTIAL_CANCEL_FIELDS = Object.keys(PartialCancelBodySchema.shape);
export const PARTIAL_CANCEL_ALIASES = { ModifedTotalPrice: "ModifiedTotalPrice" } as const;

export const FullCancelBodySchema = z.object({
  DBType: requiredString(64),
  OrderId: int32(1),
  PGType: requiredString(32),
  PayType: requiredString(32),
  /** An int in the host's class: whole major units. A decimal string is also taken, for currencies with cents. */
  CurrentTotalPrice: z.union([int32(0), priceString], { error: "must be an integer (or a decimal string)" }),
  JoinerId: int32(0),
  NationCode: requiredString(8),
  RefundAccount: RefundAccountSchema,
  /** Optional: the attempt to refund, for a late capture PGB reported as LATE_PAYMENT (lateCapture "notify"). */
  PaymentId: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,64}$/, "must be a PaymentId PGB gave")
    .nullish(),
});
export const FULL_CANCEL_FIELDS = Object.keys(FullCancelBodySchema.shape);

export const PaymentQuerySchema = z.object({
  DBType: requiredString(64),
  OrderId: z
    .string()
    .regex(/^[1-9][0-9]{0,9}$/, "must be a positive integer")
    .transform(Number)
    .pipe(int32(1)),
});

export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return "invalid request";
  const field = issue.path.join(".");
  return field ? `${field} ${issue.message}` : issue.message;
}
