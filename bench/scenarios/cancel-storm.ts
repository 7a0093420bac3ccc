/**
 * Scenario 4: a cancel storm. Many orders are paid through the TEST PG's checkout page, then partial
 * cancels of 100 are spread over them from every connection; afterwards every unit must agree between
 * PGB's rows, its derived balance and the TEST PG.
 */
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { submitCheckoutForm } from "../../test/support/checkout.ts";
import { forNewOrders, openedCheckout } from "../checkouts.ts";
import type { BenchContext } from "../context.ts";
import { startFakeHost } from "../fake-host.ts";
import { benchDatabase, cpuMs, fmt, load, machineMark, machineSince, postgresCpu, postgresCpuOf, postgresCpuSince, startServer, type Server } from "../lib.ts";

/** Pays `count` orders through the TEST PG's checkout page, as customers would. */
function paidOrders(ctx: BenchContext, pgb: Server, count: number, price: number): Promise<number[]> {
  return forNewOrders(ctx, count, 16, async (orderId) => {
    const { checkoutUrl, page } = await openedCheckout(ctx, pgb, orderId, price);
    const pay = await submitCheckoutForm(`${checkoutUrl}/pay`, "pay", page);
    await fetch(new URL(pay.headers.get("location")!, pgb.url), { redirect: "manual" });
    return orderId;
  });
}

/** How long the money check waits for refunds left open (a PG call that timed out) to settle. */
const SETTLE_DEADLINE_MS = 60_000;

export async function scenarioCancelStorm(ctx: BenchContext): Promise<void> {
  const orders = ctx.smoke ? 40 : 600;
  ctx.log(`\n[4] Cancel storm: partial cancels spread over ${orders} paid orders (${ctx.connections} connections, ${ctx.duration} s)`);
  const db = await benchDatabase(ctx.adminUrl);
  // A host that takes the notifications, so the outbox drains as it would in production.
  const host = await startFakeHost();
  let pgb: Server | undefined;
  try {
    pgb = await startServer(
      "src/main.ts",
      { DATABASE_URL: db.url, PGB_CONFIG: "bench/bench-config.json", BENCH_NOTIFY_URL: `${host.url}/notify` },
      "/health/ready",
    );
    const price = 1_000_000;
    const ids = await paidOrders(ctx, pgb, orders, price);
    const balance = new Map(ids.map((id) => [id, price]));
    let next = 0;
    let succeeded = 0;
    const database = new URL(db.url).pathname.slice(1);
    const cpuBefore = { server: cpuMs(pgb.process.pid), postgres: postgresCpu(), backends: postgresCpuOf(database), machine: machineMark() };
    const result = await load({
      url: pgb.url,
      path: "/PGB/PartialCancel",
      connections: ctx.connections,
      durationSeconds: ctx.duration,
      headers: ctx.headers,
      body: () => {
        const orderId = ids[next++ % ids.length]!;
        const current = balance.get(orderId)!;
        return JSON.stringify({
          DBType: "BENCH",
          OrderId: orderId,
          RefundPrice: "100",
          CurrentTotalPrice: String(current),
          ModifedTotalPrice: String(current - 100),
          JoinerId: 1,
          NationCode: "KR",
        });
      },
      onResponse: (status, text) => {
        const body = JSON.parse(text) as { OrderId: number; RemainingPrice: string | null; Replayed?: boolean };
        if (status === 200 && !body.Replayed) succeeded++;
        if (body.RemainingPrice !== null && body.OrderId) balance.set(body.OrderId, Number(body.RemainingPrice));
      },
    });
    // The machine while the load ran (the driver's CPU per refund answered, the share left idle).
    const machine = machineSince(cpuBefore.machine, succeeded);
    // Requests still in flight when the load stopped finish on the server, and their notifications
    // reach the host: let them, then count the CPU and check the money.
    await sleep(1500);
    // CPU per completed cancel, from the first request to 1.5 s after the last: PGB's process (the
    // TEST PG's refund and the notifications to the host included) and PostgreSQL's processes: all of
    // them, and only this database's backends (which other work on a shared machine does not add to).
    // The refused cancels (409s) are in it too, divided over the refunds that went through.
    const cpu = {
      server: (cpuMs(pgb.process.pid) - cpuBefore.server) / succeeded,
      postgres: postgresCpuSince(cpuBefore.postgres) / succeeded,
      backends: postgresCpuSince(cpuBefore.backends, postgresCpuOf(database)) / succeeded,
    };
    const cpuLine = `CPU per completed cancel: PGB ${cpu.server.toFixed(2)} ms, PostgreSQL ${cpu.postgres.toFixed(2)} ms (this database's backends ${cpu.backends.toFixed(2)} ms), ${machine}`;
    ctx.log(`    PGB: ${fmt(result)} — ${succeeded} refunds answered (a 409 is a stale or in-progress cancel, refused by design); ${cpuLine}`);
    ctx.row({ scenario: "4 Cancel storm", subject: "PGB", figures: `${fmt(result)}; ${succeeded} refunds; ${cpuLine}` });

    // The money check: every unit agrees between PGB's rows, its derived balance and the TEST PG.
    // It applies to settled books: a refund whose PG call timed out under load is UNKNOWN until the
    // reconciler looks it up, so the check waits for that (bounded) and says how long it took.
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const settleStarted = performance.now();
    const open = async () =>
      Number(
        (await client.query<{ n: string }>("SELECT count(*)::text AS n FROM money_movements WHERE kind = 'REFUND' AND status IN ('PENDING','UNKNOWN')"))
          .rows[0]!.n,
      );
    for (let left = await open(); left > 0 && performance.now() - settleStarted < SETTLE_DEADLINE_MS; left = await open()) await sleep(200);
    const settleSeconds = (performance.now() - settleStarted) / 1000;
    if (settleSeconds >= 0.2)
      ctx.log(`    refunds open 1.5 s after the last request: waited ${settleSeconds.toFixed(1)} s for them to settle before the money check`);
    const { rows: bad } = await client.query(`
      SELECT p.id, p.status, cap.amount AS captured, coalesce(r.refunded, 0) AS refunded, t.refunded AS pg_refunded
      FROM payments p
      JOIN money_movements cap ON cap.payment_id = p.id AND cap.kind = 'CAPTURE'
      LEFT JOIN (SELECT payment_id, sum(amount) AS refunded FROM money_movements WHERE kind = 'REFUND' AND status = 'SUCCEEDED' GROUP BY payment_id) r ON r.payment_id = p.id
      JOIN test_pg_payments t ON t.id = p.pg_transaction_id
      WHERE coalesce(r.refunded, 0) <> t.refunded OR coalesce(r.refunded, 0) > cap.amount
         OR (coalesce(r.refunded, 0) > 0 AND p.status NOT IN ('PARTIALLY_CANCELLED', 'CANCELLED'))`);
    const { rows: totals } = await client.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM money_movements WHERE kind = 'REFUND' AND status = 'SUCCEEDED'",
    );
    const { rows: stuck } = await client.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM money_movements WHERE kind = 'REFUND' AND status <> 'SUCCEEDED'",
    );
    const { rows: paid } = await client.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM payments WHERE status IN ('PAID','PARTIALLY_CANCELLED','CANCELLED')",
    );
    await client.end();
    if (bad.length > 0) ctx.fail(`cancel storm: ${bad.length} orders whose money disagrees, e.g. ${JSON.stringify(bad[0])}`);
    const refundRows = Number(totals[0]!.n);
    // Each successful answer is one refund row; at most one request per connection was cut off unanswered.
    if (refundRows < succeeded || refundRows > succeeded + ctx.connections)
      ctx.fail(`cancel storm: ${succeeded} successful answers but ${refundRows} refund rows`);
    if (Number(stuck[0]!.n) !== 0) ctx.fail(`cancel storm: ${stuck[0]!.n} refunds not settled`);
    if (Number(paid[0]!.n) !== orders) ctx.fail(`cancel storm: ${paid[0]!.n} of ${orders} orders paid`);
    ctx.log(`    balances checked: ${orders} orders, ${totals[0]!.n} refunds, PGB and the TEST PG agree to the unit: ${bad.length === 0 ? "yes" : "NO"}`);
  } finally {
    await pgb?.stop();
    await host.close();
    await db.drop();
  }
}
