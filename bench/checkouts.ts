/**
 * Orders the scenarios prepare before they measure: PayStart through PGB and the TEST PG's checkout
 * page opened as a browser would (cookie and CSRF token), for many new orders a batch at a time.
 */
import pg from "pg";
import { openCheckout } from "../test/support/checkout.ts";
import type { BenchContext } from "./context.ts";
import { payStartBodyFor, type Server } from "./lib.ts";

/** Runs `each` for `count` new order ids, `batch` at a time; the results in order. */
export async function forNewOrders<T>(ctx: BenchContext, count: number, batch: number, each: (orderId: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let start = 0; start < count; start += batch) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - start) }, () => each(ctx.nextOrderId())))));
  }
  return out;
}

export interface OpenedCheckout {
  paymentId: string;
  checkoutUrl: string;
  page: Awaited<ReturnType<typeof openCheckout>>;
}

/** PayStart for `orderId` at `price`, and its checkout page opened. */
export async function openedCheckout(ctx: BenchContext, pgb: Server, orderId: number, price: number): Promise<OpenedCheckout> {
  const started = await fetch(`${pgb.url}/PGB/PayStart`, { method: "POST", headers: ctx.headers, body: payStartBodyFor(orderId, price) });
  const { PaymentId, RedirectUrl } = (await started.json()) as { PaymentId: string; RedirectUrl: string };
  return { paymentId: PaymentId, checkoutUrl: RedirectUrl, page: await openCheckout(RedirectUrl) };
}

/** The payments' statuses (with counts) and how many payments had more than one notification: the books a pay scenario checks. */
export async function paymentStatesAndDoubles(databaseUrl: string): Promise<{ states: Array<{ status: string; n: string }>; doubles: number }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: states } = await client.query<{ status: string; n: string }>("SELECT status, count(*)::text AS n FROM payments GROUP BY status");
    const { rows: doubles } = await client.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM (SELECT payment_id FROM notifications GROUP BY payment_id HAVING count(*) > 1) d",
    );
    return { states, doubles: Number(doubles[0]!.n) };
  } finally {
    await client.end();
  }
}
