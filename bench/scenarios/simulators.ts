/**
 * Scenarios 2 and 2b: PayStart through a real connector against its PG's simulator (each in its own
 * process): Stripe (2) and PayPal (2b: one OAuth token, reused, and an order per PayStart). Each run
 * checks that every PayStart left a READY payment, and compares with scenario 1 when it ran.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { BenchContext } from "../context.ts";
import { benchDatabase, fmt, startServer, type LoadResult, type Server } from "../lib.ts";

/** How a run compares with scenario 1's baseline and TEST-PG PayStart, when they ran. */
function compare(ctx: BenchContext, r: LoadResult): string {
  const { baseline, testPg } = ctx.payStartReference;
  return [
    baseline && `${(r.requestsPerSecond / baseline.requestsPerSecond).toFixed(2)}× baseline`,
    testPg && `${(r.requestsPerSecond / testPg.requestsPerSecond).toFixed(2)}× PGB with TEST PG`,
  ]
    .filter(Boolean)
    .join(", ");
}

export async function scenarioStripe(ctx: BenchContext): Promise<void> {
  ctx.log(`\n[2] PayStart with the Stripe connector against the Stripe simulator (PostgreSQL, ${ctx.connections} connections, ${ctx.duration} s)`);
  const db = await benchDatabase(ctx.adminUrl);
  let simulator: Server | undefined;
  let pgb: Server | undefined;
  try {
    simulator = await startServer("bench/stripe-simulator-process.ts", {}, null);
    pgb = await startServer(
      "src/main.ts",
      { DATABASE_URL: db.url, PGB_CONFIG: "bench/bench-config.json", BENCH_PG: "STRIPE", BENCH_STRIPE_API_BASE: simulator.url },
      "/health/ready",
    );
    const mine = await ctx.measure(pgb.url, "/PGB/PayStart", () => ctx.payStartBody());
    ctx.log(`    PGB + Stripe simulator: ${fmt(mine)}`);
    const ratio = compare(ctx, mine);
    ctx.log(`    ${ratio} (the difference to the TEST PG is the cost of the Stripe hop: SDK, HTTP, the simulator)`);
    ctx.row({ scenario: "2 PayStart (Stripe simulator)", subject: "PGB", figures: fmt(mine), ratio });
    if (mine.non2xx > 0 || mine.errors > 0) ctx.fail(`Stripe PayStart: ${mine.non2xx} non-2xx, ${mine.errors} errors`);
    await sleep(500);
    await ctx.checkPayStarts(db.url, mine.total - ctx.connections, "Stripe PayStart");
  } finally {
    await pgb?.stop();
    await simulator?.stop();
    await db.drop();
  }
}

/** PayPal orders are in US dollars; the order ids are their own sequence (the scenario has its own database). */
let payPalOrderSeq = 1;
function payPalPayStartBody(): string {
  return JSON.stringify({
    DBType: "BENCH",
    OrderId: payPalOrderSeq++,
    PayType: "PAYPAL",
    TotalPrice: "19.99",
    JoinerId: 1,
    OrderDescription: null,
    RedirectUrl: "https://shop.example.com/done",
    NationCode: "US",
  });
}

export async function scenarioPayPal(ctx: BenchContext): Promise<void> {
  ctx.log(`\n[2b] PayStart with the PayPal connector against the PayPal simulator (PostgreSQL, ${ctx.connections} connections, ${ctx.duration} s)`);
  const db = await benchDatabase(ctx.adminUrl);
  let simulator: Server | undefined;
  let pgb: Server | undefined;
  try {
    simulator = await startServer("bench/paypal-simulator-process.ts", {}, null);
    pgb = await startServer(
      "src/main.ts",
      { DATABASE_URL: db.url, PGB_CONFIG: "bench/paypal-bench-config.json", BENCH_PAYPAL_API_BASE: simulator.url },
      "/health/ready",
    );
    const mine = await ctx.measure(pgb.url, "/PGB/PayStart", payPalPayStartBody);
    ctx.log(`    PGB + PayPal simulator: ${fmt(mine)}`);
    const ratio = compare(ctx, mine);
    ctx.log(`    ${ratio} (the difference to the TEST PG is the cost of the PayPal hop: OAuth token, HTTP, the simulator)`);
    ctx.row({ scenario: "2b PayStart (PayPal simulator)", subject: "PGB", figures: fmt(mine), ratio });
    if (mine.non2xx > 0 || mine.errors > 0) ctx.fail(`PayPal PayStart: ${mine.non2xx} non-2xx, ${mine.errors} errors`);
    await ctx.checkPayStarts(db.url, mine.total - ctx.connections, "PayPal PayStart");
  } finally {
    await pgb?.stop();
    await simulator?.stop();
    await db.drop();
  }
}
