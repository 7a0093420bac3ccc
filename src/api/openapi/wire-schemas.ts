/**
 * What the OpenAPI document says the host sends and receives. Request bodies reuse the very field
 * schemas that validate requests (host-schemas.ts), under the property names the .NET host's classes
 * use (FullCancel's `DbType`, PartialCancel's `ModifedTotalPrice`). Responses and notification bodies
 * are described here; test/api/openapi.test.ts checks real answers and notifications against them.
 */
import { z } from "zod";
import { ERROR_CATALOGUE, type ErrorCode } from "../../core/errors.ts";
import type { MoneyNotificationType } from "../../core/money-notifications.ts";
import { NOTIFICATION_TYPES, PAYMENT_STATUSES } from "../../core/payment-state.ts";
import { PAY_TYPES } from "../../core/pay-type.ts";
import { FullCancelBodySchema, PartialCancelBodySchema, PayStartBodySchema } from "../host-schemas.ts";

/**
 * The validating schema's fields under the host's spelling. Binding is case-insensitive (as .NET's
 * is) and `aliases` lists other accepted names; both go into the document as `x-pgb-binding`.
 */
function hostSpelling<T extends z.ZodRawShape>(
  schema: z.ZodObject<T>,
  rename: Record<string, string>,
  meta: { id: string; description: string; example: Record<string, unknown> },
) {
  const shape = Object.fromEntries(Object.entries(schema.shape).map(([name, field]) => [rename[name] ?? name, field]));
  return z.object(shape).meta({ id: meta.id, description: meta.description, examples: [meta.example] });
}

const BINDING = "Property names are bound case-insensitively, as .NET binds them; unknown properties are ignored.";

export const PayStartWire = hostSpelling(
  PayStartBodySchema,
  {},
  {
    id: "PayStartRequest",
    description: `The host's PayStartRequest. ${BINDING} TotalPrice is a decimal string in the currency's major unit.`,
    example: {
      DBType: "SHOP",
      OrderId: 1001,
      PayType: "CARD",
      TotalPrice: "15000",
      JoinerId: 7,
      OrderDescription: null,
      RedirectUrl: "https://shop.example.com/order/complete",
      NationCode: "KR",
    },
  },
);

export const PartialCancelWire = hostSpelling(
  PartialCancelBodySchema,
  { ModifiedTotalPrice: "ModifedTotalPrice" },
  {
    id: "PartialCancelRequest",
    description: `The host's PartialCancelRequest. ${BINDING} \`ModifedTotalPrice\` is the host's spelling; \`ModifiedTotalPrice\` is accepted too. All prices are decimal strings.`,
    example: { DBType: "SHOP", OrderId: 1001, RefundPrice: "5000", CurrentTotalPrice: "15000", ModifedTotalPrice: "10000", JoinerId: 7, NationCode: "KR" },
  },
);

export const FullCancelWire = hostSpelling(
  FullCancelBodySchema,
  { DBType: "DbType" },
  {
    id: "FullCancelRequest",
    description: `The host's FullCancelRequest. ${BINDING} \`DbType\` is the host's casing (\`DBType\` is the same property). CurrentTotalPrice is an int in major units; a decimal string is accepted for balances with cents.`,
    example: { DbType: "SHOP", OrderId: 1001, PGType: "TEST", PayType: "CARD", CurrentTotalPrice: 10000, JoinerId: 7, NationCode: "KR" },
  },
);

/** Accepted spellings per body, for the document's `x-pgb-binding` and the contract replay test. */
export const BODY_ALIASES = {
  PayStartRequest: {},
  PartialCancelRequest: { ModifiedTotalPrice: "ModifedTotalPrice" },
  FullCancelRequest: {},
} as const;

export const IdempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/)
    .optional()
    .describe("Optional. A retried cancel with the same key returns the original result and refunds nothing."),
});

const ALL_CODES = Object.keys(ERROR_CATALOGUE) as [ErrorCode, ...ErrorCode[]];
const codesWithStatus = (status: number) => ALL_CODES.filter((c) => ERROR_CATALOGUE[c].status === status) as [ErrorCode, ...ErrorCode[]];
const ERROR_STATUSES = [...new Set(ALL_CODES.map((c) => ERROR_CATALOGUE[c].status))].filter((s) => s !== 200).sort();

const result = <T extends z.ZodRawShape>(codes: [ErrorCode, ...ErrorCode[]], fields: T) =>
  z.object({ IsSuccess: z.boolean(), ErrorCode: z.enum(codes), ErrorMessage: z.string().nullable(), ...fields });

const price = z.string().describe("decimal string in the currency's major unit");
const iso = z.string().describe("ISO 8601 time");
const VirtualAccount = z.object({ Bank: z.string(), AccountNumber: z.string(), HolderName: z.string(), DueDate: z.string() }).meta({ id: "VirtualAccount" });

export const PayStartResult = result(["OK"], { RedirectUrl: z.string(), Type: z.string(), PaymentId: z.string() }).meta({
  id: "PayStartResult",
  examples: [
    {
      IsSuccess: true,
      ErrorCode: "OK",
      ErrorMessage: null,
      RedirectUrl: "https://pgb.example.com/test-pg/checkout/tp_…",
      Type: "TEST",
      PaymentId: "pay_01jd…",
    },
  ],
});

export const CancelResult = result(["OK"], {
  OrderId: z.number().int(),
  PaymentId: z.string(),
  RefundId: z.string(),
  Currency: z.string(),
  RefundPrice: price,
  CurrentTotalPrice: price.describe("the balance before this cancel"),
  ModifiedTotalPrice: price.describe("the balance after this cancel"),
  RemainingPrice: price,
  PaidPrice: price,
  RefundStatus: z.enum(["SUCCEEDED", "PENDING"]),
  Replayed: z.boolean().describe("true when this answers a retry of a cancel that already succeeded"),
}).meta({
  id: "CancelResult",
  examples: [
    {
      IsSuccess: true,
      ErrorCode: "OK",
      ErrorMessage: null,
      OrderId: 1001,
      PaymentId: "pay_01jd…",
      RefundId: "ref_01jd…",
      Currency: "KRW",
      RefundPrice: "5000",
      CurrentTotalPrice: "15000",
      ModifiedTotalPrice: "10000",
      RemainingPrice: "10000",
      PaidPrice: "15000",
      RefundStatus: "SUCCEEDED",
      Replayed: false,
    },
  ],
});

const status = z.enum(PAYMENT_STATUSES);
export const PaymentView = result(["OK"], {
  DBType: z.string(),
  OrderId: z.number().int(),
  PaymentId: z.string(),
  Status: status,
  PGType: z.string(),
  PayType: z.enum(PAY_TYPES),
  NationCode: z.string(),
  Currency: z.string(),
  TotalPrice: price,
  PaidPrice: price,
  CancelledPrice: price,
  RemainingPrice: price,
  PGTransactionId: z.string().nullable(),
  CheckoutUrl: z.string().nullable(),
  VirtualAccount: VirtualAccount.nullable(),
  FailureCode: z.string().nullable(),
  FailureMessage: z.string().nullable(),
  PaidAt: iso.nullable(),
  Attempts: z.array(
    z.object({
      PaymentId: z.string(),
      Status: status,
      PGType: z.string(),
      PayType: z.string(),
      TotalPrice: price,
      CapturedPrice: price.describe("this attempt's own capture (a late capture shows here, never in PaidPrice)"),
      RefundedPrice: price,
      PGTransactionId: z.string().nullable(),
      CreatedAt: iso,
    }),
  ),
  Refunds: z.array(
    z.object({
      RefundId: z.string(),
      PaymentId: z.string(),
      Status: z.string(),
      RefundPrice: price,
      BalanceBefore: price.nullable(),
      BalanceAfter: price.nullable(),
      FailureCode: z.string().nullable(),
      CreatedAt: iso,
    }),
  ),
  History: z.array(
    z.object({
      At: iso,
      PaymentId: z.string(),
      From: status.nullable(),
      To: status,
      Event: z.string(),
      Source: z.enum(["HOST_API", "WEBHOOK", "BROWSER_RETURN", "RECONCILER", "OPERATOR"]),
    }),
  ),
}).meta({ id: "PaymentView" });

export const SyncResult = PaymentView.extend({
  Checks: z.array(z.object({ Subject: z.string(), Kind: z.string(), Result: z.string(), Detail: z.string().nullable() })),
}).meta({ id: "SyncResult" });

export const NotificationsResult = result(["OK"], {
  DBType: z.string(),
  OrderId: z.number().int(),
  Notifications: z.array(
    z.looseObject({
      NotificationId: z.string(),
      Type: z.enum(NOTIFICATION_TYPES),
      Status: z.string(),
      Attempts: z.number().int(),
      AttemptLog: z.array(z.looseObject({})),
    }),
  ),
}).meta({ id: "NotificationsResult" });

export const ReplayResult = result(["OK"], { Replayed: z.array(z.string()) }).meta({ id: "ReplayResult" });

/** Every non-OK HTTP status with its ErrorCodes: one response per status, shared by every route. */
export const ERROR_RESPONSES = Object.fromEntries(
  ERROR_STATUSES.map((httpStatus) => {
    const codes = codesWithStatus(httpStatus);
    // Failures carry the route's other fields as null (and RemainingPrice on STALE_CURRENT_PRICE).
    const schema = z
      .looseObject({ IsSuccess: z.literal(false), ErrorCode: z.enum(codes), ErrorMessage: z.string() })
      .describe(codes.map((c) => `\`${c}\`: ${ERROR_CATALOGUE[c].description}`).join("\n"));
    return [httpStatus, schema];
  }),
);

/** Money that moved outside the order's usual path (README, "Payment state"). */
const MONEY_NOTIFICATION_TYPES = ["LATE_PAYMENT", "LATE_PAYMENT_REFUNDED", "REFUND_FAILED"] as const satisfies readonly MoneyNotificationType[];
const orderAmount = (what: string) => price.optional().describe(`${what}; absent on a late capture's notifications (that attempt is not the order's payment)`);

export const NotificationBody = z
  .object({
    Type: z.enum([...NOTIFICATION_TYPES, ...MONEY_NOTIFICATION_TYPES]),
    NotificationId: z.string().describe("also the webhook-id header; deduplicate on it"),
    DBType: z.string(),
    OrderId: z.number().int(),
    JoinerId: z.number().int(),
    PaymentId: z.string(),
    PGType: z.string(),
    PayType: z.enum(PAY_TYPES),
    NationCode: z.string(),
    Currency: z.string(),
    PGTransactionId: z.string().nullable(),
    Status: status,
    TotalPrice: orderAmount("the order's price"),
    PaidPrice: orderAmount("captured on the order's payment"),
    CancelledPrice: orderAmount("refunded (or being refunded)"),
    RemainingPrice: orderAmount("what can still be refunded"),
    RefundPrice: price.optional().describe("cancels, LATE_PAYMENT_REFUNDED, REFUND_FAILED"),
    RefundId: z.string().optional().describe("cancels, LATE_PAYMENT_REFUNDED, REFUND_FAILED"),
    RefundOrigin: z.literal("PG").optional().describe("a refund made in the PG's dashboard, not through PGB"),
    CapturedPrice: price.optional().describe("LATE_PAYMENT, LATE_PAYMENT_REFUNDED"),
    PGCode: z.string().optional().describe("REFUND_FAILED"),
    FailureCode: z.string().nullable().optional().describe("PAYMENT_FAILED"),
    FailureMessage: z.string().nullable().optional().describe("PAYMENT_FAILED, REFUND_FAILED"),
    LateCapture: z.boolean().optional().describe("REFUND_FAILED: true for a late capture's refund"),
    VirtualAccount: VirtualAccount.optional().describe("DEPOSIT_WAITING only"),
    OccurredAt: iso,
  })
  .meta({
    id: "Notification",
    description:
      "POSTed to the tenant's notifyUrl, signed with Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature). Answer 2xx fast; delivery is at least once.",
    examples: [
      {
        Type: "PAYMENT_COMPLETED",
        NotificationId: "msg_01jd…",
        DBType: "SHOP",
        OrderId: 1001,
        JoinerId: 7,
        PaymentId: "pay_01jd…",
        PGType: "TEST",
        PayType: "CARD",
        NationCode: "KR",
        Currency: "KRW",
        PGTransactionId: "tp_tx_…",
        Status: "PAID",
        TotalPrice: "15000",
        PaidPrice: "15000",
        CancelledPrice: "0",
        RemainingPrice: "15000",
        OccurredAt: "2026-11-29T12:00:00.000Z",
      },
    ],
  });
