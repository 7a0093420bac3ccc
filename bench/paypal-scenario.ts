/**
 * Scenario 2b: PayStart through the PayPal connector against the PayPal simulator (its own process),
 * beside scenario 2's Stripe. Each PayStart creates a PayPal order (one OAuth token, reused); the run
 * checks that every PayStart left a READY payment and an order at the simulator's address.
 */
import { benchDatabase, startServer, type LoadResult, type Server } from "./lib.ts";

export interface ScenarioContext {
  adminUrl: string;
  log(line: string): void;
  measure(url: string, path: string, body: () => string): Promise<LoadResult>;
  fmt(result: LoadResult): string;
  /** How this run compares with scenario 1's baseline and TEST-PG PayStart, when they ran. */
  compare(result: LoadResult): string;
  checkPayStarts(databaseUrl: string, expectedAtLeast: number, label: string): Promise<void>;
  row(row: { scenario: string; subject: string; figures: string; ratio?: string }): void;
  fail(message: string): void;
  connections: number;
  duration: number;
}

let orderSeq = 1;
function payPalPayStartBody(): string {
  return JSON.stringify({
    DBType: "BENCH",
    OrderId: orderSeq++,
    PayType: "PAYPAL",
    TotalPrice: "19.99",
    JoinerId: 1,
    OrderDescription: null,
    RedirectUrl: "https://shop.example.com/done",
    NationCode: "US",
  });
}

export async function scenarioPayPal(ctx: ScenarioContext): Promise<void> {
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
    ctx.log(`    PGB + PayPal simulator: ${ctx.fmt(mine)}`);
    const ratio = ctx.compare(mine);
    ctx.log(`    ${ratio} (the difference to the TEST PG is the cost of the PayPal hop: OAuth token, HTTP, the simulator)`);
    ctx.row({ scenario: "2b PayStart (PayPal simulator)", subject: "PGB", figures: ctx.fmt(mine), ratio });
    if (mine.non2xx > 0 || mine.errors > 0) ctx.fail(`PayPal PayStart: ${mine.non2xx} non-2xx, ${mine.errors} errors`);
    await ctx.checkPayStarts(db.url, mine.total - ctx.connections, "PayPal PayStart");
  } finally {
    await pgb?.stop();
    await simulator?.stop();
    await db.drop();
  }
}
