import { z } from "zod";
import type { PgPaymentStatus } from "../../core/ports/connector.ts";
import { assertUnreachable } from "../../core/errors.ts";
import type { TestPgStatus } from "./records.ts";

/** The TEST PG's webhook body. It only names the payment; PGB re-reads the payment before acting. */
export const WebhookEventSchema = z.object({
  id: z.string().min(1),
  type: z.enum(["payment.updated", "refund.updated"]),
  created: z.string(),
  data: z.object({ paymentId: z.string().min(1), merchantReference: z.string().min(1), status: z.string(), refundId: z.string().min(1).optional() }),
});

export function toPgStatus(status: TestPgStatus, refunded: bigint, amount: bigint): PgPaymentStatus {
  switch (status) {
    case "OPEN":
      return "PENDING";
    case "WAITING_FOR_DEPOSIT":
      return "WAITING_FOR_DEPOSIT";
    case "PAID":
      return refunded === 0n ? "PAID" : refunded < amount ? "PARTIALLY_REFUNDED" : "REFUNDED";
    case "FAILED":
    case "CANCELLED_BY_CUSTOMER":
      return "FAILED";
    case "EXPIRED":
      return "EXPIRED";
    default:
      return assertUnreachable(status);
  }
}
