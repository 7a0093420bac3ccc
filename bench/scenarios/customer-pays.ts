/**
 * Scenario 3c: customer pays → host notified, end to end on PostgreSQL. Checkouts are opened first
 * (PayStart, and the TEST PG's page fetched as a browser would); then, at a fixed rate, each customer
 * presses Pay. From that POST on everything is PGB's pipeline: the TEST PG records the payment and
 * sends its signed webhook, PGB stores it, re-reads the payment from the PG, moves it to PAID with its
 * history and outbox rows, and delivers the notification to the fake host. The latency is from the
 * Pay POST to the host receiving PAYMENT_COMPLETED; the answer is the highest rate whose p99 stays
 * under 100 ms with no growing backlog.
 */
import { mkdirSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { forNewOrders, openedCheckout, paymentStatesAndDoubles } from "../checkouts.ts";
import type { BenchContext } from "../context.ts";
import { startFakeHost } from "../fake-host.ts";
import { benchDatabase, machineMark, machineSince, percentile, startServer, type Server } from "../lib.ts";

interface OpenCheckout {
  orderId: number;
  payUrl: URL;
  cookie: string;
  token: string;
}

const TARGET_P99_MS = 100;
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** POSTs the Pay button's form as a browser without JavaScript would; resolves with the status. */
function pressPay(checkout: OpenCheckout): Promise<number> {
  const body = `_csrf=${encodeURIComponent(checkout.token)}&go=pay`;
  return new Promise((resolve) => {
    const req = httpRequest(
      {
        host: checkout.payUrl.hostname,
        port: checkout.payUrl.port,
        path: checkout.payUrl.pathname,
        method: "POST",
        agent,
        headers: { "content-type": "application/x-www-form-urlencoded", cookie: checkout.cookie, "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", () => resolve(0));
    req.end(body);
  });
}

/** PayStart and the checkout page for `count` orders, 50 at a time. */
function openCheckouts(ctx: BenchContext, pgb: Server, count: number): Promise<OpenCheckout[]> {
  return forNewOrders(ctx, count, 50, async (orderId) => {
    const { checkoutUrl, page } = await openedCheckout(ctx, pgb, orderId, 15000);
    const action = /action="([^"]+\/pay)"/.exec(page.html)?.[1];
    if (action === undefined) throw new Error(`no Pay button on ${checkoutUrl}`);
    return { orderId, payUrl: new URL(action, checkoutUrl), cookie: page.cookie, token: page.token };
  });
}

export async function scenarioCustomerPays(ctx: BenchContext): Promise<void> {
  const rates = ctx.smoke ? [50] : [100, 200, 300, 400, 500];
  const seconds = ctx.smoke ? 1 : Number(process.env.BENCH_PIPELINE_SECONDS ?? 4);
  ctx.log(`\n[3c] Customer pays → host notified: Pay pressed on the TEST PG's page at fixed rates (${rates.join(", ")}/s, ${seconds} s each), PostgreSQL`);
  const db = await benchDatabase(ctx.adminUrl);
  const host = await startFakeHost();
  let pgb: Server | undefined;
  let best = 0;
  // With --profile: where PGB's CPU profile goes.
  const profileDir = ctx.profile ? join("bench", "results", "profiles-customer-pays") : undefined;
  try {
    pgb = await startServer(
      "src/main.ts",
      { DATABASE_URL: db.url, PGB_CONFIG: "bench/bench-config.json", BENCH_NOTIFY_URL: `${host.url}/notify` },
      "/health/ready",
      profileDir ? { cpuProf: profileDir } : {},
    );
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    for (const rate of rates) {
      const checkouts = await openCheckouts(ctx, pgb, Math.round(rate * seconds));
      await sleep(300);
      const pressedAt = new Map<number, number>();
      const mark = machineMark();
      const started = performance.now();
      const presses: Array<Promise<void>> = [];
      for (const [i, checkout] of checkouts.entries()) {
        const wait = started + (i * 1000) / rate - performance.now();
        if (wait > 1) await sleep(wait);
        pressedAt.set(checkout.orderId, performance.now());
        presses.push(
          pressPay(checkout).then((status) => {
            if (status !== 303) ctx.fail(`customer pays: Pay for order ${checkout.orderId} answered ${status}`);
          }),
        );
      }
      await Promise.all(presses);
      const sendSeconds = (performance.now() - started) / 1000;
      const deadline = Date.now() + 30_000;
      while (checkouts.some((c) => !host.received.has(c.orderId)) && Date.now() < deadline) await sleep(20);
      const drainSeconds = (performance.now() - started) / 1000 - sendSeconds;
      const machine = machineSince(mark, checkouts.length);
      const latencies = checkouts
        .filter((c) => host.received.has(c.orderId))
        .map((c) => host.received.get(c.orderId)! - pressedAt.get(c.orderId)!)
        .sort((a, b) => a - b);
      const missing = checkouts.length - latencies.length;
      const sent = checkouts.length / sendSeconds;
      const keptUp = missing === 0 && drainSeconds <= 1 && sent >= rate * 0.9;
      const p50 = percentile(latencies, 0.5);
      const p99 = percentile(latencies, 0.99);
      const line = `${rate}/s offered (${sent.toFixed(0)}/s pressed): ${checkouts.length} payments, host notified p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms after Pay; backlog drained ${drainSeconds.toFixed(1)} s after the last Pay; per payment ${machine}${missing ? `; ${missing} NOT NOTIFIED` : ""}${keptUp ? "" : " — did not keep up"}`;
      ctx.log(`    PGB: ${line}`);
      ctx.row({ scenario: "3c Customer pays → host notified", subject: `PGB ${rate}/s`, figures: line });
      if (missing > 0) ctx.fail(`customer pays: ${missing} of ${checkouts.length} paid orders never notified at ${rate}/s`);
      if (!keptUp) break;
      if (p99 < TARGET_P99_MS) best = rate;
    }
    // Every order paid once and notified once.
    const { states, doubles } = await paymentStatesAndDoubles(db.url);
    const notPaid = states.filter((s) => s.status !== "PAID" && s.status !== "READY");
    if (notPaid.length > 0) ctx.fail(`customer pays: payments neither PAID nor READY: ${JSON.stringify(notPaid)}`);
    if (doubles > 0) ctx.fail(`customer pays: ${doubles} payments with more than one notification`);
    const figure = best > 0 ? `${best}/s` : `below ${rates[0]}/s`;
    ctx.log(`    highest rate with host notified p99 < ${TARGET_P99_MS} ms and no growing backlog: ${figure} (target: 500/s)`);
    ctx.row({
      scenario: "3c Customer pays → host notified",
      subject: `highest rate with p99 < ${TARGET_P99_MS} ms`,
      figures: figure,
      ratio: "target 500/s (on this 2-core machine the benchmark's browsers, the fake host, PGB and PostgreSQL share the cores)",
    });
  } finally {
    await pgb?.stop();
    await host.close();
    await db.drop();
  }
}
