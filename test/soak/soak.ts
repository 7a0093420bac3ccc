/**
 * Soak test (`npm run soak`; not part of `npm test`): three PGB processes — the real entry point,
 * src/main.ts — on one PostgreSQL, mixed host traffic, and the faults of a bad day: a host that
 * answers 500 to 20 % of deliveries and is down for a while, a SIGKILL of one process every
 * SOAK_KILL_EVERY_S seconds and one SIGTERM. Then it checks and reports: every PG capture in PGB's
 * books, refunds equal to the PG's, the host's view equal to the outbox, per-order order kept, every
 * answer in the host's result shape, the system converged (outbox delivered, no refund or webhook
 * pending) within 30 s of the last request, and delivery latency outside the outage window.
 *
 * SOAK_SECONDS (default 300) of traffic; SOAK_OUTAGE_S (30), SOAK_KILL_EVERY_S (20), SOAK_CUSTOMERS
 * (10), SOAK_DATABASE_URL (else TEST_DATABASE_URL, else the local PostgreSQL). Logs of each process
 * are kept in the temporary folder it prints.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import type pg from "pg";
import { openCheckout, submitCheckoutForm } from "../support/checkout.ts";
import { DEMO_KEY, HOST_ORIGIN } from "../support/pgb.ts";
import { ProcessBed, type PgbProcesses } from "../support/pgb-processes.ts";
import { FakeHost } from "../workers/support.ts";

const adminUrl = process.env.SOAK_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const OUTAGE_S = Number(process.env.SOAK_OUTAGE_S ?? 30);
const KILL_EVERY_S = Number(process.env.SOAK_KILL_EVERY_S ?? 20);
const CUSTOMERS = Number(process.env.SOAK_CUSTOMERS ?? 10);
const PROCESSES = 3;
const PROBE_INTERVAL_MS = 2_000;
const CONVERGE_LIMIT_MS = 30_000;

interface Stats {
  orders: number;
  payStarts: number;
  rePayStarts: number;
  paid: number;
  deposits: number;
  failed: number;
  customerCancelled: number;
  partialCancels: number;
  fullCancels: number;
  concurrentCancelOrders: number;
  shuttingDownAnswers: number;
  /** Answers not in the host's result shape (a bug): kept for the report. */
  badShape: string[];
  cancelRefused: Record<string, number>;
  kills: number;
  restartMs: number[];
  sigtermExit: number | null;
  sigtermRestartMs: number | null;
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe(`soak: ${PROCESSES} PGB processes, ${SECONDS} s of traffic, host outage, SIGKILLs and a SIGTERM`, () => {
  const host = new FakeHost();
  let bed: ProcessBed | undefined;
  let procs: PgbProcesses;
  let db: pg.Pool;

  before(async () => {
    // PGB's defaults, except: the reconciler looks at unpaid checkouts after 10 s instead of 2 min,
    // because a killed process takes the TEST PG's pending webhook retries with it (the TEST PG runs
    // inside PGB), and the run must converge within 30 s.
    bed = await ProcessBed.start({
      adminUrl: adminUrl,
      name: "pgb_soak",
      count: PROCESSES,
      host,
      workers: { reconciler: { intervalMs: 5_000, paymentAfterMs: 10_000 }, notifications: { probeIntervalMs: PROBE_INTERVAL_MS } },
    });
    ({ procs, db } = bed);
    console.log(`soak: logs in ${bed.dir}`);
  });

  after(async () => {
    await bed?.close();
  });

  const live = () => procs.live();

  it(
    "keeps the books, the host's view and the order of notifications, converges within 30 s and delivers fast outside the outage",
    { timeout: (SECONDS + 600) * 1000 },
    async () => {
      const stats: Stats = {
        orders: 0,
        payStarts: 0,
        rePayStarts: 0,
        paid: 0,
        deposits: 0,
        failed: 0,
        customerCancelled: 0,
        partialCancels: 0,
        fullCancels: 0,
        concurrentCancelOrders: 0,
        shuttingDownAnswers: 0,
        badShape: [],
        cancelRefused: {},
        kills: 0,
        restartMs: [],
        sigtermExit: null,
        sigtermRestartMs: null,
      };
      let lastRequestAt = Date.now();

      /** One host API call to a random live process; a dead or stopping process: try another. */
      async function call(
        method: "GET" | "POST",
        path: string,
        body?: unknown,
        headers: Record<string, string> = {},
      ): Promise<{ status: number; body: Record<string, unknown> } | undefined> {
        for (let attempt = 0; attempt < 40; attempt++) {
          const target = live();
          let response: Response;
          try {
            lastRequestAt = Date.now();
            response = await fetch(`${target.url}${path}`, {
              method,
              headers: {
                authorization: `Bearer ${DEMO_KEY}`,
                ...(body === undefined ? {} : { "content-type": "application/json; charset=utf-8" }),
                ...headers,
              },
              ...(body === undefined ? {} : { body: JSON.stringify(body) }),
              signal: AbortSignal.timeout(20_000),
            });
          } catch {
            await sleep(100);
            continue;
          }
          const text = await response.text().catch(() => "");
          let parsed: Record<string, unknown> | undefined;
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            parsed = undefined;
          }
          if (parsed === undefined || typeof parsed.IsSuccess !== "boolean" || typeof parsed.ErrorCode !== "string") {
            stats.badShape.push(`${method} ${path.split("?")[0]} → ${response.status} ${text.slice(0, 120)}`);
            await sleep(100);
            continue;
          }
          if (parsed.ErrorCode === "SHUTTING_DOWN") {
            stats.shuttingDownAnswers++;
            if (response.headers.get("retry-after") === null) stats.badShape.push(`${path}: SHUTTING_DOWN without Retry-After`);
            await sleep(100);
            continue;
          }
          return { status: response.status, body: parsed };
        }
        return undefined;
      }

      /** The customer (or the bank) on the TEST PG's page, through whichever process is up. */
      async function act(checkoutUrl: string, action: "pay" | "fail" | "cancel" | "issue-account" | "deposit", followReturn: boolean): Promise<boolean> {
        const path = new URL(checkoutUrl).pathname;
        for (let attempt = 0; attempt < 30; attempt++) {
          try {
            lastRequestAt = Date.now();
            const form = await openCheckout(`${live().url}${path}`);
            const response = await submitCheckoutForm(`${live().url}${path}/${action}`, action, form, AbortSignal.timeout(20_000));
            if (response.status === 409) return true; // done by an earlier try whose answer was lost
            if (response.status !== 303) {
              await sleep(100);
              continue;
            }
            if (followReturn && action !== "deposit" && action !== "issue-account") {
              const back = new URL(response.headers.get("location")!);
              await fetch(`${live().url}${back.pathname}`, { redirect: "manual", signal: AbortSignal.timeout(20_000) }).catch(() => undefined);
            }
            return true;
          } catch {
            await sleep(100);
          }
        }
        return false;
      }

      async function cancel(path: string, body: Record<string, unknown>, key: string): Promise<boolean> {
        for (let attempt = 0; attempt < 60; attempt++) {
          const r = await call("POST", path, body, { "idempotency-key": key });
          if (r === undefined) continue;
          if (r.status === 200) return true;
          const code = String(r.body.ErrorCode);
          if (r.status >= 500 || code === "CANCEL_IN_PROGRESS") {
            await sleep(300);
            continue;
          }
          stats.cancelRefused[code] = (stats.cancelRefused[code] ?? 0) + 1;
          return false;
        }
        return false;
      }

      async function waitPaid(orderId: number): Promise<boolean> {
        for (let i = 0; i < 100; i++) {
          const view = await call("GET", `/PGB/Payment?DBType=DEMO&OrderId=${orderId}`);
          if (view?.body.Status === "PAID") return true;
          await sleep(150);
        }
        return false;
      }

      let nextOrder = 700_000;
      let stop = false;
      const customer = async () => {
        while (!stop) {
          const orderId = nextOrder++;
          stats.orders++;
          const us = Math.random() < 0.3;
          const virtualAccount = !us && Math.random() < 0.2;
          const base = us ? 4_000 : 50_000;
          const price = (minor: number) => (us ? (minor / 100).toFixed(2) : String(minor));
          let total = base;
          const payStart = (amount: number) =>
            call("POST", "/PGB/PayStart", {
              DBType: "DEMO",
              OrderId: orderId,
              PayType: virtualAccount ? "VIRTUAL_ACCOUNT" : "CARD",
              TotalPrice: price(amount),
              JoinerId: 7,
              OrderDescription: null,
              RedirectUrl: `${HOST_ORIGIN}/order/${orderId}`,
              NationCode: us ? "US" : "KR",
            });
          stats.payStarts++;
          let started = await payStart(total);
          if (started?.status === 200 && Math.random() < 0.15) {
            // The host changes the basket: a new PayStart supersedes the open checkout.
            total = base + (us ? 500 : 5_000);
            stats.rePayStarts++;
            started = await payStart(total);
          }
          if (started?.status !== 200) continue;
          const checkoutUrl = String(started.body.RedirectUrl);
          const choice = Math.random();
          if (choice < 0.1) continue; // walks away
          if (choice < 0.17) {
            stats.failed++;
            await act(checkoutUrl, "fail", true);
            continue;
          }
          if (choice < 0.22) {
            stats.customerCancelled++;
            await act(checkoutUrl, "cancel", true);
            continue;
          }
          if (virtualAccount) {
            if (!(await act(checkoutUrl, "issue-account", true))) continue;
            await sleep(200 + Math.random() * 800);
            stats.deposits++;
            if (!(await act(checkoutUrl, "deposit", false))) continue;
          } else if (!(await act(checkoutUrl, "pay", Math.random() < 0.5))) continue;
          stats.paid++;
          const next = Math.random();
          if (next < 0.35 || !(await waitPaid(orderId))) continue;
          const full = (current: number) => ({
            DbType: "DEMO",
            OrderId: orderId,
            PGType: "TEST",
            PayType: virtualAccount ? "VIRTUAL_ACCOUNT" : "CARD",
            CurrentTotalPrice: us ? price(current) : current,
            JoinerId: 7,
            NationCode: us ? "US" : "KR",
          });
          const part = total / 5;
          const partial = (current: number) => ({
            DBType: "DEMO",
            OrderId: orderId,
            RefundPrice: price(part),
            CurrentTotalPrice: price(current),
            ModifedTotalPrice: price(current - part),
            JoinerId: 7,
            NationCode: us ? "US" : "KR",
          });
          if (next < 0.6) {
            stats.partialCancels++;
            if (!(await cancel("/PGB/PartialCancel", partial(total), `part-${orderId}`)) || Math.random() < 0.5) continue;
            stats.fullCancels++;
            await cancel("/PGB/FullCancel", full(total - part), `full-${orderId}`);
          } else if (next < 0.85) {
            stats.fullCancels++;
            await cancel("/PGB/FullCancel", full(total), `full-${orderId}`);
          } else {
            // The host fires the same partial cancel three times at once with different keys: one refund.
            stats.concurrentCancelOrders++;
            await Promise.all([0, 1, 2].map((k) => cancel("/PGB/PartialCancel", partial(total), `race-${orderId}-${k}`)));
          }
        }
      };

      const startedAt = Date.now();
      const outageStart = startedAt + SECONDS * 400;
      const outageEnd = outageStart + OUTAGE_S * 1000;
      const sigtermAt = startedAt + SECONDS * 750;
      host.flakiness = 0.2;

      const outage = (async () => {
        await sleep(outageStart - Date.now());
        await host.down();
        await sleep(outageEnd - Date.now());
        await host.up();
      })();

      let sigtermDone = false;
      const kills = (async () => {
        while (!stop) {
          const wakeAt = Date.now() + KILL_EVERY_S * 1000 * (0.75 + Math.random() * 0.5);
          // A slow restart may pass sigtermAt: the SIGTERM then comes next, not one kill interval later.
          while (!stop && Date.now() < wakeAt && (sigtermDone || Date.now() < sigtermAt)) await sleep(100);
          if (stop) break;
          const victims = procs.all.filter((p) => p.alive);
          if (victims.length < 2) continue;
          const victim = victims[Math.floor(Math.random() * victims.length)]!;
          if (!sigtermDone && Date.now() >= sigtermAt) {
            // A graceful stop: the process stays in the rotation while it answers SHUTTING_DOWN.
            sigtermDone = true;
            stats.sigtermExit = await procs.stop(victim, "SIGTERM", { inRotation: true });
            stats.sigtermRestartMs = await procs.start(victim);
            continue;
          }
          stats.kills++;
          await procs.stop(victim, "SIGKILL");
          await sleep(300 + Math.random() * 700);
          stats.restartMs.push(await procs.start(victim));
        }
      })();

      const progress = setInterval(() => {
        const s = Math.round((Date.now() - startedAt) / 1000);
        console.log(
          `soak: ${s}/${SECONDS} s, ${stats.orders} orders, ${stats.paid} paid, ${stats.kills} kills, host ${Date.now() >= outageStart && Date.now() < outageEnd ? "DOWN" : "up"}`,
        );
      }, 15_000);
      const traffic = Promise.all(Array.from({ length: CUSTOMERS }, () => customer()));
      await sleep(SECONDS * 1000);
      // On a busy machine restarts are slow: traffic goes on until the SIGTERM has been tried (bounded).
      for (let waited = 0; !sigtermDone && waited < 120_000; waited += 250) await sleep(250);
      stop = true;
      await Promise.all([traffic, kills, outage]);
      clearInterval(progress);
      for (const p of procs.all) if (!p.alive) await procs.start(p);
      const trafficEndedAt = lastRequestAt;

      // Converged: no payment the PG took left unpaid in PGB, no refund or webhook open, the outbox delivered.
      let pending: Record<string, number> = {};
      const settledAfterMs: Record<string, number> = {};
      for (;;) {
        const r = await db.query<Record<string, string>>(`
        SELECT
          (SELECT count(*) FROM payments p JOIN test_pg_payments t ON t.merchant_reference = p.id
            WHERE p.status IN ('READY','WAITING_FOR_DEPOSIT') AND t.status = 'PAID')::text AS live_paid,
          (SELECT count(*) FROM money_movements WHERE kind = 'REFUND' AND status IN ('PENDING','UNKNOWN'))::text AS open_refunds,
          (SELECT count(*) FROM notifications WHERE status <> 'DELIVERED')::text AS undelivered,
          (SELECT count(*) FROM pg_webhooks WHERE status IN ('RECEIVED','FAILED'))::text AS unprocessed`);
        pending = Object.fromEntries(Object.entries(r.rows[0]!).map(([k, v]) => [k, Number(v)]));
        for (const [k, n] of Object.entries(pending))
          if (n === 0) settledAfterMs[k] ??= Date.now() - trafficEndedAt;
          else delete settledAfterMs[k];
        if (Object.values(pending).every((n) => n === 0) || Date.now() - trafficEndedAt > CONVERGE_LIMIT_MS + 120_000) break;
        await sleep(100);
      }
      const convergedMs = Date.now() - trafficEndedAt;

      const exits = await Promise.all(procs.all.map((p) => procs.stop(p, "SIGTERM")));

      // The books: every PG capture is PGB's, refunds agree to the unit and row for row.
      const books = await db.query<{
        id: string;
        status: string;
        tp_status: string;
        refunded: string;
        pgb_refunded: string;
        refund_rows: string;
        tp_refund_rows: string;
        captures: string;
      }>(`
      SELECT p.id, p.status, t.status AS tp_status, t.refunded::text AS refunded,
             coalesce((SELECT sum(amount) FROM money_movements m WHERE m.payment_id = p.id AND m.kind = 'REFUND' AND m.status = 'SUCCEEDED'), 0)::text AS pgb_refunded,
             (SELECT count(*) FROM money_movements m WHERE m.payment_id = p.id AND m.kind = 'REFUND' AND m.status = 'SUCCEEDED')::text AS refund_rows,
             (SELECT count(*) FROM test_pg_refunds r WHERE r.payment_id = t.id)::text AS tp_refund_rows,
             (SELECT count(*) FROM money_movements m WHERE m.payment_id = p.id AND m.kind = 'CAPTURE' AND m.status = 'SUCCEEDED')::text AS captures
      FROM payments p JOIN test_pg_payments t ON t.merchant_reference = p.id
      WHERE t.status = 'PAID' OR p.status IN ('PAID','PARTIALLY_CANCELLED','CANCELLED')`);
      const notInBooks = books.rows.filter(
        (r) => r.tp_status === "PAID" && (r.captures !== "1" || !["PAID", "PARTIALLY_CANCELLED", "CANCELLED"].includes(r.status)),
      );
      const capturedWithoutPg = books.rows.filter((r) => r.tp_status !== "PAID");
      const refundMismatch = books.rows.filter((r) => r.refunded !== r.pgb_refunded || r.tp_refund_rows !== r.refund_rows);

      // The host's view: exactly the outbox, payload for payload, first accepted in event order per order.
      const outbox = await db.query<{ id: string; order_id: number; payload: Record<string, unknown>; created_ms: string }>(
        "SELECT id, order_id, payload, (extract(epoch FROM created_at) * 1000)::bigint::text AS created_ms FROM notifications ORDER BY seq",
      );
      const accepted = host.accepted();
      const missingAtHost = outbox.rows.filter((n) => !accepted.has(n.id)).length;
      const unknownAtHost = [...accepted.keys()].filter((id) => !outbox.rows.some((n) => n.id === id)).length;
      const payloadDiffers = outbox.rows.filter((n) => accepted.has(n.id) && JSON.stringify(accepted.get(n.id)!.payload) !== JSON.stringify(n.payload)).length;
      const order = [...accepted.keys()];
      const position = new Map(order.map((id, i) => [id, i]));
      const byOrder = new Map<number, number[]>();
      for (const n of outbox.rows) byOrder.set(n.order_id, [...(byOrder.get(n.order_id) ?? []), position.get(n.id) ?? -1]);
      const outOfOrder = [...byOrder.values()].filter((ps) => ps.some((p, i) => i > 0 && p < ps[i - 1]!)).length;

      // Delivery latency: creation to first acceptance. "During the outage" = created, or waiting, while the
      // host was down or until the first probe after it came back.
      const windowEnd = outageEnd + PROBE_INTERVAL_MS;
      const outside: number[] = [];
      const during: number[] = [];
      for (const n of outbox.rows) {
        const got = accepted.get(n.id);
        if (got === undefined) continue;
        const created = Number(n.created_ms);
        const latency = Math.max(0, got.at - created);
        if (created < windowEnd && got.at > outageStart) during.push(latency);
        else outside.push(latency);
      }
      const deadCount = Number((await db.query("SELECT count(*)::text AS n FROM notifications WHERE status = 'DEAD'")).rows[0].n);
      const takenOver = (await db.query("SELECT event, count(*)::int AS n FROM payment_events WHERE source = 'RECONCILER' GROUP BY event ORDER BY event")).rows;
      const refundsFailed = (
        await db.query("SELECT failure_code, count(*)::int AS n FROM money_movements WHERE kind = 'REFUND' AND status = 'FAILED' GROUP BY 1")
      ).rows;

      const report = {
        seconds: SECONDS,
        outageSeconds: OUTAGE_S,
        ordersPerSecond: Math.round((stats.orders / SECONDS) * 10) / 10,
        ...stats,
        restartMs: { count: stats.restartMs.length, p50: percentile(stats.restartMs, 50), max: Math.max(0, ...stats.restartMs) },
        capturesAtPg: books.rows.filter((r) => r.tp_status === "PAID").length,
        refundRowsAtPg: books.rows.reduce((n, r) => n + Number(r.tp_refund_rows), 0),
        notifications: outbox.rows.length,
        hostRequests: host.requests.length,
        hostAnswered500: host.requests.filter((r) => r.status >= 500).length,
        duplicateDeliveries: host.requests.filter((r) => r.status < 300).length - accepted.size,
        convergedMs,
        pendingAtEnd: pending,
        settledAfterMs,
        deliveryOutsideOutageMs: { count: outside.length, p50: percentile(outside, 50), p99: percentile(outside, 99), max: percentile(outside, 100) },
        deliveryDuringOutageMs: { count: during.length, p50: percentile(during, 50), p99: percentile(during, 99), max: percentile(during, 100) },
        dead: deadCount,
        reconcilerAndTakeoverEvents: takenOver,
        refundsFailed,
        exits,
      };
      console.log(`soak report: ${JSON.stringify(report, null, 1)}`);

      assert.deepEqual(stats.badShape, [], "every answer in the host's result shape");
      assert.deepEqual(
        notInBooks.map((r) => r.id),
        [],
        "every PG capture in PGB's books",
      );
      assert.deepEqual(
        capturedWithoutPg.map((r) => r.id),
        [],
        "nothing captured in PGB that the PG did not take",
      );
      assert.deepEqual(
        refundMismatch.map((r) => `${r.id}: PG ${r.refunded} (${r.tp_refund_rows}) PGB ${r.pgb_refunded} (${r.refund_rows})`),
        [],
        "refunds equal",
      );
      assert.equal(host.badSignatures, 0);
      assert.deepEqual(
        { missingAtHost, unknownAtHost, payloadDiffers },
        { missingAtHost: 0, unknownAtHost: 0, payloadDiffers: 0 },
        "host view equals the outbox",
      );
      assert.equal(outOfOrder, 0, "per-order order kept");
      assert.deepEqual(pending, { live_paid: 0, open_refunds: 0, undelivered: 0, unprocessed: 0 }, "converged");
      // Time targets: printed always; failing only when asked (SOAK_TIMING=report keeps CI's verdict on
      // correctness, since a busy CI machine says nothing about PGB by a slow second).
      const timing = [
        { target: `converged within ${CONVERGE_LIMIT_MS} ms of the last request`, met: convergedMs <= CONVERGE_LIMIT_MS, figure: `${convergedMs} ms` },
        {
          target: "delivery p99 outside the outage under 5 s",
          met: report.deliveryOutsideOutageMs.p99 < 5_000,
          figure: `${report.deliveryOutsideOutageMs.p99} ms`,
        },
      ];
      for (const t of timing) console.log(`soak target ${t.met ? "met" : "MISSED"}: ${t.target} (${t.figure})`);
      if (process.env.SOAK_TIMING !== "report") for (const t of timing) assert.ok(t.met, `${t.target} (${t.figure})`);
      assert.equal(stats.sigtermExit, 0, "SIGTERM stops a process cleanly");
      assert.deepEqual(
        exits,
        procs.all.map(() => 0),
        "SIGTERM stops each process cleanly at the end",
      );
      assert.ok(stats.kills >= 1 && stats.paid >= 20, "the run did something");
    },
  );
});
