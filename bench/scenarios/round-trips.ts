/**
 * Scenario 7: database round trips and HTTP requests per operation, counted (not timed): PGB runs with
 * its database connections through a counting proxy (bench/pg-round-trips.ts) while the benchmark
 * drives a few operations one at a time. Deterministic, so it holds on a busy machine where timings do not.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Webhook } from "standardwebhooks";
import { openCheckout, submitCheckoutForm } from "../../test/support/checkout.ts";
import type { BenchContext } from "../context.ts";
import { startFakeHost } from "../fake-host.ts";
import { benchDatabase, payStartBodyFor, startServer, type Server } from "../lib.ts";
import { countRoundTrips } from "../pg-round-trips.ts";
import { BENCH_TEST_PG_SECRET, postRaw, signedWebhook } from "../webhooks.ts";

export async function scenarioRoundTrips(ctx: BenchContext): Promise<void> {
  const n = ctx.smoke ? 3 : 40;
  ctx.log(`\n[7] Round trips per operation: PGB's PostgreSQL connections through a counting proxy, ${n} operations each, one at a time`);
  const db = await benchDatabase(ctx.adminUrl);
  const counter = await countRoundTrips(db.url);
  const host = await startFakeHost();
  let pgb: Server | undefined;
  try {
    pgb = await startServer(
      "src/main.ts",
      { DATABASE_URL: counter.url, PGB_CONFIG: "bench/bench-config.json", BENCH_NOTIFY_URL: `${host.url}/notify`, BENCH_TEST_PG_WEBHOOKS: "drop" },
      "/health/ready",
    );
    // Let start-up's queries and the workers' first rounds pass.
    await sleep(ctx.smoke ? 300 : 1500);
    const signer = new Webhook(BENCH_TEST_PG_SECRET);
    const idle = async (ms: number) => {
      counter.reset();
      await sleep(ms);
      return counter.total() / (ms / 1000);
    };
    const background = await idle(ctx.smoke ? 500 : 2000);
    const pass = async (label: string, work: () => Promise<void>, settleMs = 300) => {
      counter.reset();
      const hostBefore = host.requests;
      const t0 = performance.now();
      await work();
      await sleep(settleMs);
      const seconds = (performance.now() - t0) / 1000;
      const trips = (counter.total() - background * seconds) / n;
      const commits = counter.commits() / n;
      const requests = (host.requests - hostBefore) / n;
      const top = [...counter.byStatement()].sort((a, b) => b[1] - a[1]).filter(([, count]) => count / n >= 0.5);
      ctx.log(`    ${label}: ${trips.toFixed(1)} round trips, ${commits.toFixed(1)} commits, ${requests.toFixed(1)} HTTP requests to the host per operation`);
      for (const [sql, count] of top) ctx.log(`        ${(count / n).toFixed(2).padStart(5)} × ${sql}`);
      ctx.row({
        scenario: "7 Round trips",
        subject: label,
        figures: `${trips.toFixed(1)} database round trips, ${commits.toFixed(1)} commits, ${requests.toFixed(1)} HTTP requests to the host per operation`,
      });
    };
    const payStarts: Array<{ orderId: number; paymentId: string; tp: string }> = [];
    await pass("PayStart (TEST PG)", async () => {
      for (let i = 0; i < n; i++) {
        const orderId = ctx.nextOrderId();
        const r = await fetch(`${pgb!.url}/PGB/PayStart`, { method: "POST", headers: ctx.headers, body: payStartBodyFor(orderId, 1_000_000) });
        const body = (await r.json()) as { PaymentId: string; RedirectUrl: string };
        payStarts.push({ orderId, paymentId: body.PaymentId, tp: body.RedirectUrl.split("/").pop()! });
      }
    });
    await pass("customer pays on the TEST PG's page (the PG's side; its webhook not sent)", async () => {
      for (const o of payStarts) {
        const form = await openCheckout(`${pgb!.url}/test-pg/checkout/${o.tp}`);
        const r = await submitCheckoutForm(`${pgb!.url}/test-pg/checkout/${o.tp}/pay`, "pay", form);
        await r.arrayBuffer();
      }
    });
    await pass(
      "webhook → host notified (intake, re-read, transition, delivery)",
      async () => {
        for (const o of payStarts) {
          const h = signedWebhook(signer, o.orderId, `evt_rt_${o.paymentId}`, { paymentId: o.tp, merchantReference: o.paymentId, status: "PAID" });
          const status = await postRaw(new URL(`${pgb!.url}/PGBReturn/test/webhook/BENCH`), h.body, h.headers);
          if (status !== 200) ctx.fail(`round trips: webhook answered ${status}`);
          const deadline = Date.now() + 5_000;
          while (!host.received.has(o.orderId) && Date.now() < deadline) await sleep(2);
        }
      },
      500,
    );
    await pass(
      "PartialCancel (refund at the TEST PG, notification delivered)",
      async () => {
        for (const o of payStarts) {
          const r = await fetch(`${pgb!.url}/PGB/PartialCancel`, {
            method: "POST",
            headers: ctx.headers,
            body: JSON.stringify({
              DBType: "BENCH",
              OrderId: o.orderId,
              RefundPrice: "100",
              CurrentTotalPrice: "1000000",
              ModifedTotalPrice: "999900",
              JoinerId: 1,
              NationCode: "KR",
            }),
          });
          if (r.status !== 200) ctx.fail(`round trips: PartialCancel answered ${r.status}: ${await r.text()}`);
          else await r.arrayBuffer();
        }
      },
      800,
    );
    ctx.log(`    (background: ${background.toFixed(1)} round trips/s from the idle workers, subtracted)`);
  } finally {
    await pgb?.stop();
    await host.close();
    await counter.close();
    await db.drop();
  }
}
