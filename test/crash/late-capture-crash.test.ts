/**
 * Crash test, late-capture variant (PostgreSQL only): three PGB processes share one database while
 * customers pay a checkout at the very moment the host re-runs PayStart with a new amount, so the PG
 * captures money on superseded attempts and PGB must refund each of them. One process is killed with
 * SIGKILL at random moments (often in the middle of such a refund) and restarted. Afterwards every
 * late capture must be refunded at the PG exactly once and notified once, and PGB's books must equal
 * the PG's, order by order.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import type pg from "pg";
import { DEMO_KEY, HOST_ORIGIN } from "../support/pgb.ts";
import { fastWorkers, ProcessBed, type PgbProcesses } from "../support/pgb-processes.ts";
import { openCheckout, submitCheckoutForm } from "../support/checkout.ts";
import { FakeHost } from "../workers/support.ts";

const adminUrl = process.env.TEST_DATABASE_URL;
const PROCESSES = 3;
const TRAFFIC_MS = 15_000;
const CUSTOMERS = 6;

describe(
  "late captures refunded while PGB processes are killed at random",
  { skip: adminUrl === undefined ? "set TEST_DATABASE_URL to run the crash test" : false },
  () => {
    const host = new FakeHost();
    let bed: ProcessBed | undefined;
    let procs: PgbProcesses;
    let db: pg.Pool;

    before(async () => {
      bed = await ProcessBed.start({
        adminUrl: adminUrl!,
        name: "pgb_late_crash",
        count: PROCESSES,
        host,
        workers: fastWorkers({ reconciler: { refundAfterMs: 2_000 } }),
      });
      ({ procs, db } = bed);
    });

    after(async () => {
      await bed?.close();
    });

    const live = () => procs.live();

    async function payStart(orderId: number, total: string): Promise<{ status: number; body: Record<string, unknown> } | undefined> {
      const body = {
        DBType: "DEMO",
        OrderId: orderId,
        PayType: "CARD",
        TotalPrice: total,
        JoinerId: 7,
        OrderDescription: null,
        RedirectUrl: `${HOST_ORIGIN}/order/${orderId}`,
        NationCode: "KR",
      };
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          const response = await fetch(`${live().url}/PGB/PayStart`, {
            method: "POST",
            headers: { authorization: `Bearer ${DEMO_KEY}`, "content-type": "application/json; charset=utf-8" },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(10_000),
          });
          return { status: response.status, body: (await response.json()) as Record<string, unknown> };
        } catch {
          await sleep(100);
        }
      }
      return undefined;
    }

    /** The customer's checkout page, opened through whichever process is up (they all serve it). */
    async function open(checkoutUrl: string): Promise<{ path: string; form: { cookie: string; token: string } } | undefined> {
      const path = new URL(checkoutUrl).pathname;
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          return { path, form: await openCheckout(`${live().url}${path}`) };
        } catch {
          await sleep(100);
        }
      }
      return undefined;
    }

    /** Presses Pay on an opened page; the browser comes back to PGB too. */
    async function pay(page: { path: string; form: { cookie: string; token: string } } | undefined): Promise<void> {
      if (page === undefined) return;
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          const response = await submitCheckoutForm(`${live().url}${page.path}/pay`, "pay", page.form, AbortSignal.timeout(10_000));
          if (response.status === 303) {
            const back = new URL(response.headers.get("location")!);
            await fetch(`${live().url}${back.pathname}${back.search}`, { redirect: "manual", signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
          }
          return;
        } catch {
          await sleep(100);
        }
      }
    }

    it("refunds every late capture exactly once, notifies each once, and keeps PGB's books equal to the PG's", { timeout: 330_000 }, async () => {
      let nextOrder = 700_000;
      let stopTraffic = false;
      const orders: number[] = [];

      const customer = async () => {
        while (!stopTraffic) {
          const orderId = nextOrder++;
          const first = await payStart(orderId, "5000");
          if (first?.status !== 200) continue;
          orders.push(orderId);
          const page = await open(String(first.body.RedirectUrl));
          const [, second] = await Promise.all([pay(page), payStart(orderId, "6000")]);
          if (second?.status === 200) await pay(await open(String(second.body.RedirectUrl)));
        }
      };

      const chaos = async () => {
        while (!stopTraffic) {
          await sleep(700 + Math.random() * 1_300);
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
      await sleep(TRAFFIC_MS);
      // On a busy machine restarts are slow: go on until a few kills have happened (bounded).
      for (let waited = 0; procs.kills < 3 && waited < 120_000; waited += 100) await sleep(100);
      stopTraffic = true;
      await Promise.all([traffic, chaosDone]);
      for (const p of procs.all) if (!p.alive) await procs.start(p);

      // Converge: every capture on a closed attempt refunded, nothing open, everything delivered.
      let pending: Record<string, number> = {};
      for (let i = 0; i < 900; i++) {
        const r = await db.query<Record<string, string>>(`
        SELECT
          (SELECT count(*) FROM payments p JOIN test_pg_payments t ON t.merchant_reference = p.id
            WHERE t.status = 'PAID' AND p.status NOT IN ('PAID','PARTIALLY_CANCELLED','CANCELLED') AND t.refunded < t.amount)::text AS late_unrefunded,
          (SELECT count(*) FROM payments p JOIN test_pg_payments t ON t.merchant_reference = p.id
            WHERE p.status IN ('READY','WAITING_FOR_DEPOSIT') AND t.status = 'PAID')::text AS live_paid,
          (SELECT count(*) FROM money_movements WHERE kind = 'REFUND' AND status IN ('PENDING','UNKNOWN'))::text AS open_refunds,
          (SELECT count(*) FROM notifications WHERE status <> 'DELIVERED')::text AS undelivered,
          (SELECT count(*) FROM pg_webhooks WHERE status IN ('RECEIVED','FAILED'))::text AS unprocessed`);
        pending = Object.fromEntries(Object.entries(r.rows[0]!).map(([k, v]) => [k, Number(v)]));
        if (Object.values(pending).every((n) => n === 0)) break;
        await sleep(100);
      }
      assert.deepEqual(pending, { late_unrefunded: 0, live_paid: 0, open_refunds: 0, undelivered: 0, unprocessed: 0 }, "converged");

      // Every late capture: recorded, refunded once at the PG and in PGB, notified once.
      const late = await db.query<{
        id: string;
        amount: string;
        refunded: string;
        tp_refunds: string;
        pgb_captured: string;
        pgb_refunded: string;
        pgb_refund_rows: string;
        notices: string;
        by_reconciler: string;
      }>(`
      SELECT p.id, t.amount::text, t.refunded::text,
             (SELECT count(*) FROM test_pg_refunds r WHERE r.payment_id = t.id)::text AS tp_refunds,
             coalesce((SELECT sum(amount) FROM money_movements m WHERE m.payment_id = p.id AND m.kind = 'CAPTURE'), 0)::text AS pgb_captured,
             coalesce((SELECT sum(amount) FROM money_movements m WHERE m.payment_id = p.id AND m.kind = 'REFUND' AND m.status = 'SUCCEEDED'), 0)::text AS pgb_refunded,
             (SELECT count(*) FROM money_movements m WHERE m.payment_id = p.id AND m.kind = 'REFUND')::text AS pgb_refund_rows,
             (SELECT count(*) FROM notifications n WHERE n.payment_id = p.id AND n.type = 'LATE_PAYMENT_REFUNDED')::text AS notices,
             (SELECT count(*) FROM payment_events e WHERE e.payment_id = p.id AND e.event = 'LATE_PAYMENT_REFUNDED' AND e.source = 'RECONCILER')::text AS by_reconciler
      FROM payments p JOIN test_pg_payments t ON t.merchant_reference = p.id
      WHERE t.status = 'PAID' AND p.status NOT IN ('PAID','PARTIALLY_CANCELLED','CANCELLED')`);
      for (const row of late.rows) {
        assert.equal(row.refunded, row.amount, `${row.id}: refunded in full at the PG`);
        assert.equal(row.tp_refunds, "1", `${row.id}: refunded once at the PG`);
        assert.equal(row.pgb_captured, row.amount, `${row.id}: the capture is in PGB's books`);
        assert.equal(row.pgb_refunded, row.amount, `${row.id}: the refund is in PGB's books`);
        assert.equal(row.pgb_refund_rows, "1", `${row.id}: one refund row`);
        assert.equal(row.notices, "1", `${row.id}: the host is told once`);
      }
      const accepted = host.accepted();
      for (const row of late.rows) {
        assert.ok(
          [...accepted.values()].some((n) => n.type === "LATE_PAYMENT_REFUNDED" && n.payload.PaymentId === row.id),
          `${row.id}: LATE_PAYMENT_REFUNDED delivered`,
        );
      }

      // Order by order, PGB's captured and refunded sums equal the PG's.
      const books = await db.query<{ order_id: number; pg_captured: string; pg_refunded: string; pgb_captured: string; pgb_refunded: string }>(`
      SELECT p.order_id,
             coalesce(sum(CASE WHEN t.status = 'PAID' THEN t.amount ELSE 0 END), 0)::text AS pg_captured,
             coalesce(sum(t.refunded), 0)::text AS pg_refunded,
             coalesce((SELECT sum(m.amount) FROM money_movements m JOIN payments q ON q.id = m.payment_id WHERE q.order_id = p.order_id AND m.kind = 'CAPTURE' AND m.status = 'SUCCEEDED'), 0)::text AS pgb_captured,
             coalesce((SELECT sum(m.amount) FROM money_movements m JOIN payments q ON q.id = m.payment_id WHERE q.order_id = p.order_id AND m.kind = 'REFUND' AND m.status = 'SUCCEEDED'), 0)::text AS pgb_refunded
      FROM payments p LEFT JOIN test_pg_payments t ON t.merchant_reference = p.id
      GROUP BY p.order_id`);
      for (const row of books.rows) {
        assert.equal(row.pgb_captured, row.pg_captured, `order ${row.order_id}: captured`);
        assert.equal(row.pgb_refunded, row.pg_refunded, `order ${row.order_id}: refunded`);
      }

      const counts = {
        orders: orders.length,
        kills: procs.kills,
        lateCaptures: late.rows.length,
        lateRefundsFinishedByReconciler: late.rows.filter((r) => r.by_reconciler !== "0").length,
      };
      console.log(`late-capture crash test counts: ${JSON.stringify(counts)}`);
      assert.ok(counts.kills >= 3, "processes were killed");
      assert.ok(counts.lateCaptures >= 10, "enough late captures to mean something");
    });
  },
);
