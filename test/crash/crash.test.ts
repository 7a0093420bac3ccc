/**
 * Crash test (PostgreSQL only): three PGB processes — the real entry point, src/main.ts — share one
 * database and take a stream of PayStarts, TEST-PG payments and cancels while one of them is killed
 * with SIGKILL at random moments and restarted. Afterwards the PG, PGB's database and the host's
 * deduplicated view of the notifications must all agree. Bounded: about 20 s of traffic, loopback
 * only; nothing fails on a clock except the overall time-out.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import type pg from "pg";
import { DEMO_KEY, HOST_ORIGIN } from "../support/pgb.ts";
import { fastWorkers, ProcessBed, type PgbProcesses } from "../support/pgb-processes.ts";
import { FakeHost } from "../workers/support.ts";
import { openCheckout, submitCheckoutForm } from "../support/checkout.ts";

const adminUrl = process.env.TEST_DATABASE_URL;
const PROCESSES = 3;
const TRAFFIC_MS = 20_000;
const CUSTOMERS = 8;

describe("PGB processes killed at random on one PostgreSQL", { skip: adminUrl === undefined ? "set TEST_DATABASE_URL to run the crash test" : false }, () => {
  const host = new FakeHost();
  let bed: ProcessBed | undefined;
  let procs: PgbProcesses;
  let db: pg.Pool;

  before(async () => {
    host.flakiness = 0.1;
    // The first process migrates the fresh database alone; the others start against a migrated one.
    bed = await ProcessBed.start({ adminUrl: adminUrl!, name: "pgb_crash", count: PROCESSES, host, workers: fastWorkers() });
    ({ procs, db } = bed);
  });

  after(async () => {
    await bed?.close();
  });

  const live = () => procs.live();

  /** One HTTP call to a random live process; a network error is a dead process: retry elsewhere. */
  async function call(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown> } | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const target = live();
      try {
        const response = await fetch(`${target.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${DEMO_KEY}`, ...(body === undefined ? {} : { "content-type": "application/json; charset=utf-8" }), ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(10_000),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      } catch {
        await sleep(100);
      }
    }
    return undefined;
  }

  /** The customer on the TEST PG's page, through whichever PGB process is up (they all serve it). */
  async function pay(checkoutUrl: string, followReturn: boolean): Promise<void> {
    const path = new URL(checkoutUrl).pathname;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const form = await openCheckout(`${live().url}${path}`);
        const response = await submitCheckoutForm(`${live().url}${path}/pay`, "pay", form, AbortSignal.timeout(10_000));
        if (response.status === 409) return; // already paid by an earlier try whose answer was lost
        if (response.status !== 303) throw new Error(`pay answered ${response.status}`);
        if (followReturn) {
          const back = new URL(response.headers.get("location")!);
          await fetch(`${live().url}${back.pathname}`, { redirect: "manual", signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
        }
        return;
      } catch {
        await sleep(100);
      }
    }
  }

  async function cancel(path: string, body: Record<string, unknown>, key: string, stats: Stats): Promise<boolean> {
    for (let attempt = 0; attempt < 30; attempt++) {
      const r = await call("POST", path, body, { "idempotency-key": key });
      if (r === undefined) continue;
      if (r.status === 200) return true;
      if (r.body.ErrorCode === "PG_RESULT_UNKNOWN") {
        stats.unknownRefunds++;
        return false; // the reconciler settles it and notifies
      }
      if (r.status >= 500 || r.body.ErrorCode === "CANCEL_IN_PROGRESS") {
        await sleep(300);
        continue;
      }
      stats.cancelRefused.push(String(r.body.ErrorCode));
      return false;
    }
    return false;
  }

  interface Stats {
    payStarts: number;
    payStartFailed: number;
    paid: number;
    partialCancels: number;
    fullCancels: number;
    unknownRefunds: number;
    /** ErrorCodes of cancels PGB refused (a retry after a lost answer may meet a changed balance). */
    cancelRefused: string[];
  }

  it(
    "keeps every paid payment PAID and notified, completes none twice, refunds none twice, and the host's view equals PGB's database",
    { timeout: 300_000 },
    async () => {
      const stats: Stats = { payStarts: 0, payStartFailed: 0, paid: 0, partialCancels: 0, fullCancels: 0, unknownRefunds: 0, cancelRefused: [] };
      const startedAt = Date.now();
      let nextOrder = 500_000;
      let stopTraffic = false;

      const customer = async () => {
        while (!stopTraffic) {
          const orderId = nextOrder++;
          stats.payStarts++;
          const started = await call("POST", "/PGB/PayStart", {
            DBType: "DEMO",
            OrderId: orderId,
            PayType: "CARD",
            TotalPrice: "5000",
            JoinerId: 7,
            OrderDescription: null,
            RedirectUrl: `${HOST_ORIGIN}/order/${orderId}`,
            NationCode: "KR",
          });
          if (started?.status !== 200) {
            stats.payStartFailed++;
            continue;
          }
          const choice = Math.random();
          if (choice < 0.15) continue; // the customer walks away
          await pay(String(started.body.RedirectUrl), Math.random() < 0.5);
          stats.paid++;
          if (choice < 0.45) continue;
          let isPaid = false;
          for (let i = 0; i < 60 && !isPaid; i++) {
            const view = await call("GET", `/PGB/Payment?DBType=DEMO&OrderId=${orderId}`);
            isPaid = view?.body.Status === "PAID";
            if (!isPaid) await sleep(100);
          }
          if (!isPaid) continue;
          if (choice < 0.75) {
            stats.partialCancels++;
            const ok = await cancel(
              "/PGB/PartialCancel",
              { DBType: "DEMO", OrderId: orderId, RefundPrice: "1000", CurrentTotalPrice: "5000", ModifedTotalPrice: "4000", JoinerId: 7, NationCode: "KR" },
              `part-${orderId}`,
              stats,
            );
            if (!ok || Math.random() < 0.5) continue;
            stats.fullCancels++;
            await cancel(
              "/PGB/FullCancel",
              { DbType: "DEMO", OrderId: orderId, PGType: "TEST", PayType: "CARD", CurrentTotalPrice: 4000, JoinerId: 7, NationCode: "KR" },
              `full-${orderId}`,
              stats,
            );
          } else {
            stats.fullCancels++;
            await cancel(
              "/PGB/FullCancel",
              { DbType: "DEMO", OrderId: orderId, PGType: "TEST", PayType: "CARD", CurrentTotalPrice: 5000, JoinerId: 7, NationCode: "KR" },
              `full-${orderId}`,
              stats,
            );
          }
        }
      };

      const chaos = async () => {
        while (!stopTraffic) {
          await sleep(1_000 + Math.random() * 2_000);
          if (stopTraffic) break;
          const victim = procs.all[Math.floor(Math.random() * procs.all.length)]!;
          if (!victim.alive) continue;
          await procs.stop(victim, "SIGKILL");
          await sleep(200 + Math.random() * 600);
          await procs.start(victim);
        }
      };

      const traffic = Promise.all(Array.from({ length: CUSTOMERS }, () => customer()));
      const chaosDone = chaos();
      // Traffic runs its time and until three processes were killed: on a busy machine a restart takes
      // seconds, and a run with fewer kills would prove less (bounded, so a stuck restart still ends it).
      await sleep(TRAFFIC_MS);
      for (let waited = 0; procs.kills < 3 && waited < 6 * TRAFFIC_MS; waited += 250) await sleep(250);
      stopTraffic = true;
      await Promise.all([traffic, chaosDone]);
      for (const p of procs.all) if (!p.alive) await procs.start(p);
      const trafficEndedAt = Date.now();

      // Let the survivors converge: lost webhooks reconciled, unknown refunds settled, every
      // notification delivered (a notification whose sender was killed waits for its lease to run out).
      host.flakiness = 0;
      let pending: Record<string, number> = {};
      for (let i = 0; i < 600; i++) {
        const r = await db.query<{ live_paid: string; open_refunds: string; undelivered: string; unprocessed: string }>(`
        SELECT
          (SELECT count(*) FROM payments p JOIN test_pg_payments t ON t.merchant_reference = p.id
            WHERE p.status IN ('READY','WAITING_FOR_DEPOSIT') AND t.status = 'PAID')::text AS live_paid,
          (SELECT count(*) FROM money_movements WHERE kind = 'REFUND' AND status IN ('PENDING','UNKNOWN'))::text AS open_refunds,
          (SELECT count(*) FROM notifications WHERE status <> 'DELIVERED')::text AS undelivered,
          (SELECT count(*) FROM pg_webhooks WHERE status IN ('RECEIVED','FAILED'))::text AS unprocessed`);
        pending = Object.fromEntries(Object.entries(r.rows[0]!).map(([k, v]) => [k, Number(v)]));
        if (Object.values(pending).every((n) => n === 0)) break;
        await sleep(100);
      }
      const convergedMs = Date.now() - trafficEndedAt;
      assert.deepEqual(pending, { live_paid: 0, open_refunds: 0, undelivered: 0, unprocessed: 0 }, "converged");

      // Graceful shutdown: SIGTERM, every process exits 0.
      const exits = await Promise.all(procs.all.map((p) => procs.stop(p, "SIGTERM")));
      assert.deepEqual(
        exits,
        procs.all.map(() => 0),
        "SIGTERM stops each process cleanly",
      );

      // 1. Every payment the PG took is PAID (or since refunded) in PGB, and the other way round.
      const pgPaid = await db.query<{
        id: string;
        status: string;
        tp_status: string;
        refunded: string;
        pgb_refunded: string;
        refund_rows: string;
        tp_refund_rows: string;
      }>(`
      SELECT p.id, p.status, t.status AS tp_status, t.refunded::text AS refunded,
             coalesce((SELECT sum(amount) FROM money_movements m WHERE m.payment_id = p.id AND m.kind = 'REFUND' AND m.status = 'SUCCEEDED'), 0)::text AS pgb_refunded,
             (SELECT count(*) FROM money_movements m WHERE m.payment_id = p.id AND m.kind = 'REFUND' AND m.status = 'SUCCEEDED')::text AS refund_rows,
             (SELECT count(*) FROM test_pg_refunds r WHERE r.payment_id = t.id)::text AS tp_refund_rows
      FROM payments p JOIN test_pg_payments t ON t.merchant_reference = p.id
      WHERE t.status = 'PAID' OR p.status IN ('PAID','PARTIALLY_CANCELLED','CANCELLED')`);
      for (const row of pgPaid.rows) {
        assert.equal(row.tp_status, "PAID", `${row.id}: captured in PGB only if the PG took the money`);
        assert.ok(["PAID", "PARTIALLY_CANCELLED", "CANCELLED"].includes(row.status), `${row.id} is ${row.status} although the PG took the money`);
        // 2. No refund issued twice, and PGB and the PG agree on every unit.
        assert.equal(row.refunded, row.pgb_refunded, `${row.id}: refunded at the PG ${row.refunded}, in PGB ${row.pgb_refunded}`);
        assert.equal(row.tp_refund_rows, row.refund_rows, `${row.id}: one PG refund per PGB refund`);
      }

      // 3. No payment completed twice.
      const twice = await db.query(`
      SELECT payment_id FROM payment_events WHERE to_status = 'PAID' AND from_status IS DISTINCT FROM 'PAID' GROUP BY payment_id HAVING count(*) > 1
      UNION ALL SELECT payment_id FROM notifications WHERE type = 'PAYMENT_COMPLETED' GROUP BY payment_id HAVING count(*) > 1
      UNION ALL SELECT payment_id FROM money_movements WHERE kind = 'CAPTURE' GROUP BY payment_id HAVING count(*) > 1`);
      assert.deepEqual(twice.rows, [], "completed exactly once");

      // 4. The host's deduplicated view equals PGB's outbox, payload for payload, and every paid
      //    payment was notified at least once.
      const outbox = await db.query<{ id: string; payment_id: string; order_id: number; type: string; payload: Record<string, unknown>; seq: string }>(
        "SELECT id, payment_id, order_id, type, payload, seq::text FROM notifications ORDER BY notifications.seq",
      );
      const accepted = host.accepted();
      assert.equal(host.badSignatures, 0);
      assert.deepEqual([...accepted.keys()].sort(), outbox.rows.map((r) => r.id).sort(), "the host accepted exactly the notifications PGB has");
      for (const row of outbox.rows) assert.deepEqual(accepted.get(row.id)!.payload, row.payload, `notification ${row.id} arrived as stored`);
      for (const row of pgPaid.rows) {
        assert.ok(
          outbox.rows.some((n) => n.payment_id === row.id && n.type === "PAYMENT_COMPLETED" && accepted.has(n.id)),
          `${row.id} notified PAYMENT_COMPLETED`,
        );
      }
      // 5. Per order, the host first accepted the notifications in the order the events happened.
      const byOrder = new Map<number, string[]>();
      for (const n of outbox.rows) byOrder.set(n.order_id, [...(byOrder.get(n.order_id) ?? []), n.id]);
      const firstAccepted = [...accepted.keys()];
      for (const [orderId, ids] of byOrder) {
        const positions = ids.map((id) => firstAccepted.indexOf(id));
        const explain = async () => {
          const rows = await db.query(
            "SELECT n.id, n.seq::text, n.type, n.created_at, n.attempts, (SELECT json_agg(json_build_object('a', a.attempt, 'at', a.started_at, 'code', a.status_code, 'o', a.outcome, 'w', a.worker) ORDER BY a.id) FROM notification_attempts a WHERE a.notification_id = n.id) AS log FROM notifications n WHERE n.order_id = $1 ORDER BY n.seq",
            [orderId],
          );
          const events = await db.query(
            "SELECT e.id, e.payment_id, e.from_status, e.to_status, e.event, e.source, e.created_at FROM payment_events e JOIN payments p ON p.id = e.payment_id WHERE p.order_id = $1 ORDER BY e.id",
            [orderId],
          );
          return JSON.stringify(
            {
              rows: rows.rows,
              events: events.rows,
              host: host.requests.filter((r) => r.orderId === orderId).map((r) => [r.id, r.type, r.status, new Date(r.at).toISOString()]),
            },
            null,
            1,
          );
        };
        if (positions.some((p, i) => i > 0 && p < positions[i - 1]!)) assert.fail(`order ${orderId}: notifications accepted out of order: ${await explain()}`);
      }

      const duplicates = host.requests.filter((r) => r.status < 300).length - accepted.size;
      const counts = {
        seconds: Math.round((Date.now() - startedAt) / 1000),
        convergedMs,
        kills: procs.kills,
        ...stats,
        paidAtPg: pgPaid.rows.length,
        cancelledInPgb: pgPaid.rows.filter((r) => r.status === "CANCELLED").length,
        partiallyCancelledInPgb: pgPaid.rows.filter((r) => r.status === "PARTIALLY_CANCELLED").length,
        refundsAtPg: pgPaid.rows.reduce((n, r) => n + Number(r.tp_refund_rows), 0),
        notifications: outbox.rows.length,
        hostRequests: host.requests.length,
        hostAnswered500: host.requests.filter((r) => r.status >= 500).length,
        duplicateDeliveries: duplicates,
        reconciledByReconciler: Number((await db.query("SELECT count(*)::text AS n FROM payment_events WHERE source = 'RECONCILER'")).rows[0].n),
        refundsFailed: (await db.query("SELECT failure_code, count(*)::int AS n FROM money_movements WHERE kind = 'REFUND' AND status = 'FAILED' GROUP BY 1"))
          .rows,
        webhooksRetried: Number((await db.query("SELECT count(*)::text AS n FROM pg_webhooks WHERE attempts > 1")).rows[0].n),
        // Reported, not asserted: from a taken-over refund's reservation to its completion (kill, lease, take-over).
        takenOverRefundMs: (
          await db.query<{ n: number; median: number | null; max: number | null }>(`
          SELECT count(*)::int AS n, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::int AS median, round(max(ms))::int AS max
          FROM (SELECT extract(epoch FROM e.created_at - m.created_at) * 1000 AS ms
                FROM payment_events e JOIN money_movements m ON m.id = e.detail->>'refundId'
                WHERE e.event = 'REFUNDED' AND e.source = 'RECONCILER') t`)
        ).rows[0],
      };
      console.log(`crash test counts: ${JSON.stringify(counts)}`);
      assert.ok(counts.kills >= 3, "processes were killed");
      assert.ok(counts.paidAtPg >= 20, "enough traffic to mean something");
    },
  );
});
