/** Payments written straight into storage, for the tests of storage and of the state tables that need no PGB around them. */
import type { PaymentStatus } from "../../src/core/payment-state.ts";
import { insertPayment, type Executor } from "../../src/storage/payment-repository.ts";
import type { NewPayment } from "../../src/storage/schema.ts";

export type CheckoutColumns = { id: string; order_id: number; status?: PaymentStatus } & Partial<Omit<NewPayment, "status">>;

/** A checkout as PayStart writes it, with its CHECKOUT_CREATED history row: a 1000 KRW card payment of DEMO at the TEST PG unless `columns` say otherwise. */
export async function insertCheckout(db: Executor, columns: CheckoutColumns): Promise<void> {
  const status = columns.status ?? "READY";
  await insertPayment(
    db,
    {
      tenant: "DEMO",
      joiner_id: 1,
      pay_type: "CARD",
      nation_code: "KR",
      currency: "KRW",
      amount: 1000n,
      description: "test checkout",
      host_redirect_url: "https://shop.example.com/done",
      request_fingerprint: "f",
      pg: "TEST",
      pg_transaction_id: null,
      checkout_url: null,
      expires_at: new Date(Date.now() + 60_000),
      ...columns,
      status,
    },
    { to: status, event: "CHECKOUT_CREATED", source: "HOST_API", detail: {} },
  );
}
