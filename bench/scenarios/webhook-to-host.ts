/**
 * Scenario 3: webhook → host notified. Signed TEST-PG webhooks for paid orders at fixed rates, sent to
 * PGB and to the pipeline baseline (bench/pipeline-baseline-server.ts), alternated per rate, one fake
 * host receiving both. A rate is kept up when everything was notified within 1 s of the last webhook
 * and ≥ 90 % of the rate was sent; each subject goes up its ladder until it misses or its p99 reaches 100 ms.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { Webhook } from "standardwebhooks";
import { submitCheckoutForm } from "../../test/support/checkout.ts";
import { forNewOrders, openedCheckout, paymentStatesAndDoubles } from "../checkouts.ts";
import type { BenchContext } from "../context.ts";
import { summariseProfile } from "../cpu-profile.ts";
import { startFakeHost, type FakeHost } from "../fake-host.ts";
import { benchDatabase, cpuSplitMs, machineMark, machineSince, percentile, postgresCpu, postgresCpuSince, startServer, type Server } from "../lib.ts";
import { BENCH_NOTIFY_SECRET, BENCH_TEST_PG_SECRET, postRaw, signedWebhook, type SignedWebhook } from "../webhooks.ts";

/** PGB's paid-at-the-TEST-PG orders and the signed webhooks the TEST PG would send for them. */
function paidAtTestPg(ctx: BenchContext, pgb: Server, count: number, signer: Webhook): Promise<SignedWebhook[]> {
  return forNewOrders(ctx, count, 50, async (orderId) => {
    const { paymentId, checkoutUrl, page } = await openedCheckout(ctx, pgb, orderId, 15000);
    const paid = await submitCheckoutForm(`${checkoutUrl}/pay`, "pay", page);
    await paid.arrayBuffer();
    if (paid.status !== 303) ctx.fail(`paying order ${orderId} on the TEST page answered ${paid.status}`);
    const tp = checkoutUrl.split("/").pop()!;
    return signedWebhook(signer, orderId, `evt_bench_${paymentId}`, { paymentId: tp, merchantReference: paymentId, status: "PAID" });
  });
}

interface DriveResult {
  offered: number;
  sent: number;
  p50: number;
  p99: number;
  drainSeconds: number;
  missing: number;
  keptUp: boolean;
  /**
   * CPU (ms) per webhook from the first send to the last notification: the subject's server (and the
   * kernel's part of it, which says whether a difference is system calls or the server's own code),
   * and PostgreSQL's processes.
   */
  cpu: { server: number; serverKernel: number; postgres: number };
  /** This process's CPU per webhook (the load generator and the fake host) and how the machine spent the rung (machineSince). */
  machine: string;
  /** Write-ahead log per webhook (bytes, the whole server's): what the writes cost, steadier than CPU on a shared machine. */
  walBytes: number;
}

/** Sends the webhooks at `rate`/s and waits until the host has heard of every order (or 30 s). */
async function driveWebhooks(
  ctx: BenchContext,
  server: Server,
  path: string,
  hooks: SignedWebhook[],
  rate: number,
  host: FakeHost,
  label: string,
): Promise<DriveResult> {
  const url = new URL(path, server.url);
  const cpuBefore = { server: cpuSplitMs(server.process.pid), postgres: postgresCpu(), machine: machineMark() };
  const walBefore = await walPosition(ctx.adminUrl);
  // From the moment the webhook is sent: PGB may notify the host before its answer to the PG is back.
  const sentAt = new Map<number, number>();
  const accepted = new Set<number>();
  const started = performance.now();
  const sends: Array<Promise<void>> = [];
  for (let i = 0; i < hooks.length; i++) {
    const wait = started + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    const h = hooks[i]!;
    sentAt.set(h.orderId, performance.now());
    sends.push(
      postRaw(url, h.body, h.headers).then((status) => {
        if (status === 200) accepted.add(h.orderId);
        else ctx.fail(`${label}: webhook for order ${h.orderId} answered ${status}`);
      }),
    );
  }
  await Promise.all(sends);
  const sendSeconds = (performance.now() - started) / 1000;
  const deadline = Date.now() + 30_000;
  while (hooks.some((h) => !host.received.has(h.orderId)) && Date.now() < deadline) await sleep(20);
  const drainSeconds = (performance.now() - started) / 1000 - sendSeconds;
  const serverAfter = cpuSplitMs(server.process.pid);
  const cpu = {
    server: (serverAfter.total - cpuBefore.server.total) / hooks.length,
    serverKernel: (serverAfter.kernel - cpuBefore.server.kernel) / hooks.length,
    postgres: postgresCpuSince(cpuBefore.postgres) / hooks.length,
  };
  const machine = machineSince(cpuBefore.machine, hooks.length);
  const walBytes = (await walBefore.bytesSince()) / hooks.length;
  const latencies = hooks
    .filter((h) => host.received.has(h.orderId) && accepted.has(h.orderId))
    .map((h) => host.received.get(h.orderId)! - sentAt.get(h.orderId)!)
    .sort((a, b) => a - b);
  const missing = hooks.filter((h) => !host.received.has(h.orderId)).length;
  const sent = hooks.length / sendSeconds;
  return {
    offered: rate,
    sent,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    drainSeconds,
    missing,
    keptUp: missing === 0 && drainSeconds <= 1 && sent >= rate * 0.9,
    cpu,
    machine,
    walBytes,
  };
}

/** Marks the server's WAL position now; `bytesSince()` answers how many bytes of WAL were written after it. */
async function walPosition(adminUrl: string): Promise<{ bytesSince(this: void): Promise<number> }> {
  const query = async <T extends object>(text: string, values: unknown[] = []): Promise<T> => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows[0]!;
    } finally {
      await client.end();
    }
  };
  const { lsn } = await query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn");
  return {
    bytesSince: async () => Number((await query<{ bytes: string }>("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::text AS bytes", [lsn])).bytes),
  };
}

type Subject = "pgb" | "baseline";

/**
 * The rates each subject tries. Steps of 100/s from 500 to 1,000/s for PGB, where its edge has been
 * (on a coarser ladder it swung between 500 and 700/s from run to run); 1,750/s for the baseline, whose
 * edge has been between 1,500 and 2,000/s. A rung above a subject's edge is never run, so a finer ladder
 * there costs one or two rungs per run.
 */
const LADDERS: Record<Subject, number[]> = {
  pgb: [200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000, 3000],
  baseline: [200, 300, 400, 500, 700, 850, 1000, 1500, 1750, 2000, 3000],
};

function fmtDrive(r: DriveResult, count: number): string {
  return `${r.offered}/s offered (${r.sent.toFixed(0)}/s sent): ${count} webhooks, notified p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms after the webhook was sent; backlog drained ${r.drainSeconds.toFixed(1)} s after the last webhook; CPU per webhook: server ${r.cpu.server.toFixed(2)} ms (kernel ${r.cpu.serverKernel.toFixed(2)} ms), PostgreSQL ${r.cpu.postgres.toFixed(2)} ms, ${r.machine}; WAL ${(r.walBytes / 1024).toFixed(1)} KiB${r.missing ? `; ${r.missing} NOT NOTIFIED` : ""}${r.keptUp ? "" : " — did not keep up"}`;
}

export async function scenarioWebhookToHost(ctx: BenchContext): Promise<void> {
  const ladders: Record<Subject, number[]> = ctx.smoke ? { pgb: [100], baseline: [100] } : LADDERS;
  const rates = [...new Set([...ladders.pgb, ...ladders.baseline])].sort((a, b) => a - b);
  const seconds = ctx.smoke ? 1 : Number(process.env.BENCH_PIPELINE_SECONDS ?? 4);
  ctx.log(
    `\n[3] Webhook → host notified: signed TEST-PG webhooks at fixed rates (PGB ${ladders.pgb.join(", ")}/s; pipeline baseline ${ladders.baseline.join(", ")}/s; ${seconds} s each), PGB and the pipeline baseline alternated per rate, one fake host`,
  );
  const db = await benchDatabase(ctx.adminUrl);
  const baseDb = await benchDatabase(ctx.adminUrl);
  const host = await startFakeHost();
  let pgb: Server | undefined;
  let baseline: Server | undefined;
  try {
    const profileDir = ctx.profile ? join("bench", "results", "profiles-pipeline") : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    pgb = await startServer(
      "src/main.ts",
      { DATABASE_URL: db.url, PGB_CONFIG: "bench/bench-config.json", BENCH_NOTIFY_URL: `${host.url}/notify`, BENCH_TEST_PG_WEBHOOKS: "drop" },
      "/health/ready",
      profileDir ? { cpuProf: profileDir } : {},
    );
    baseline = await startServer(
      "bench/pipeline-baseline-server.ts",
      { DATABASE_URL: baseDb.url, NOTIFY_URL: `${host.url}/notify`, WEBHOOK_SECRET: BENCH_TEST_PG_SECRET, NOTIFY_SECRET: BENCH_NOTIFY_SECRET },
      null,
    );
    const signer = new Webhook(BENCH_TEST_PG_SECRET);
    const [pgbServer, baselineServer] = [pgb, baseline];
    /** Sends `count` signed webhooks for paid orders at `rate`/s to one subject. */
    const drive = async (subject: Subject, rate: number, count: number): Promise<DriveResult> => {
      if (subject === "pgb") {
        const hooks = await paidAtTestPg(ctx, pgbServer, count, signer);
        await sleep(300);
        return driveWebhooks(ctx, pgbServer, "/PGBReturn/test/webhook/BENCH", hooks, rate, host, "PGB webhook");
      } else {
        const first = ctx.reserveOrderIds(count);
        const seeded = await fetch(`${baselineServer.url}/seed`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ first, count }),
        });
        if (!seeded.ok) throw new Error(`baseline seed answered ${seeded.status}`);
        const hooks = Array.from({ length: count }, (_, i) =>
          signedWebhook(signer, first + i, `evt_base_${first + i}`, { paymentId: `tp_${first + i}`, merchantReference: String(first + i), status: "PAID" }),
        );
        return driveWebhooks(ctx, baselineServer, "/webhook", hooks, rate, host, "baseline webhook");
      }
    };
    // Warm-up, not reported: the first rung would otherwise carry each server's JIT warm-up and first
    // connections (a p99 of 180 ms at 200/s, against 47 ms at 300/s, was seen).
    if (!ctx.smoke) for (const subject of ["baseline", "pgb"] as const) await drive(subject, 200, 600);
    const sustained = { pgb: 0, baseline: 0 };
    /** The highest rate that kept up with notified p99 under 100 ms. */
    const fast = { pgb: 0, baseline: 0 };
    const going = { pgb: true, baseline: true };
    const stillFast = { pgb: true, baseline: true };
    /** Rates on both ladders so far: which subject goes first alternates over these. */
    let shared = 0;
    for (const rate of rates) {
      if (!going.pgb && !going.baseline) break;
      const count = Math.round(rate * seconds);
      const subjects = shared % 2 === 0 ? (["baseline", "pgb"] as const) : (["pgb", "baseline"] as const);
      if (ladders.pgb.includes(rate) && ladders.baseline.includes(rate)) shared++;
      for (const subject of subjects) {
        if (!going[subject] || !ladders[subject].includes(rate)) continue;
        const result = await drive(subject, rate, count);
        const line = fmtDrive(result, count);
        ctx.log(`    ${subject === "pgb" ? "PGB:     " : "baseline:"} ${line}`);
        ctx.row({
          scenario: "3 Webhook → host notified",
          subject: `${subject === "pgb" ? "PGB" : "pipeline baseline"} ${rate}/s`,
          figures: line,
          ...(subject === "pgb" && (rate === 500 || rate === 1000) ? { ratio: `p99 ${result.p99.toFixed(1)} ms (target < 100 ms at 1,000/s)` } : {}),
        });
        if (subject === "pgb" && result.missing > 0) ctx.fail(`webhook → host: ${result.missing} of ${count} paid orders never notified at ${rate}/s`);
        // The ladder goes on while the backlog does not grow (the sustained rate); a p99 over 100 ms
        // ends only the run of rates that meet the latency target, so one spike does not cut it short.
        if (result.keptUp) sustained[subject] = rate;
        else going[subject] = false;
        if (stillFast[subject] && result.keptUp && result.p99 < 100) fast[subject] = rate;
        else stillFast[subject] = false;
      }
    }
    // Correctness: every webhooked payment is PAID once, notified once per event (duplicates by webhook-id only).
    const { states, doubles } = await paymentStatesAndDoubles(db.url);
    const notPaid = states.filter((s) => s.status !== "PAID");
    if (notPaid.length > 0) ctx.fail(`webhook → host: payments not PAID: ${JSON.stringify(notPaid)}`);
    if (doubles > 0) ctx.fail(`webhook → host: ${doubles} payments with more than one notification`);
    if (host.duplicates > 0) ctx.note(`the fake host saw ${host.duplicates} redelivered notifications (at-least-once; deduplicated by webhook-id)`);
    const ratio = sustained.baseline > 0 ? sustained.pgb / sustained.baseline : NaN;
    const capped = (subject: Subject, s: number) =>
      s === ladders[subject].at(-1) ? `≥ ${s}/s (the highest rate tried)` : s > 0 ? `${s}/s` : "below the lowest rate tried";
    ctx.log(
      `    highest rate with no growing backlog: PGB ${capped("pgb", sustained.pgb)}, pipeline baseline ${capped("baseline", sustained.baseline)} → PGB ${ratio.toFixed(2)}× the baseline (target ≥ 0.5×); all payments PAID and notified once: ${notPaid.length === 0 && doubles === 0 ? "yes" : "NO"}`,
    );
    if (profileDir) {
      await pgb.stop();
      summariseProfile(profileDir, ctx.log);
    }
    ctx.log(
      `    highest rate with notified p99 < 100 ms: PGB ${capped("pgb", fast.pgb)}, pipeline baseline ${capped("baseline", fast.baseline)} (target: 1,000/s)`,
    );
    ctx.row({
      scenario: "3 Webhook → host notified",
      subject: "highest rate with p99 < 100 ms",
      figures: `PGB ${capped("pgb", fast.pgb)}, pipeline baseline ${capped("baseline", fast.baseline)}`,
      ratio: "target 1,000/s",
    });
    ctx.row({
      scenario: "3 Webhook → host notified",
      subject: "sustained rate",
      figures: `PGB ${capped("pgb", sustained.pgb)}, pipeline baseline ${capped("baseline", sustained.baseline)}`,
      ratio: `${ratio.toFixed(2)}× pipeline baseline (target ≥ 0.5×)`,
    });
  } finally {
    await pgb?.stop();
    await baseline?.stop();
    await host.close();
    await db.drop();
    await baseDb.drop();
  }
}
