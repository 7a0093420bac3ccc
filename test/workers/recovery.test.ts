/**
 * Recovery in seconds (README "Several instances" and "Delivery to the host"): work held by a process
 * that died — a refund waiting for the PG, a stored webhook — is taken over once that process's lease
 * has run out and not before; the host's retry of a lost cancel continues that refund and answers its
 * real outcome; a tenant's notifications held back by a host outage are sent as soon as the host
 * answers again, while a notification the host refuses on its own keeps its backoff.
 *
 * A dead process is stood in for by a lease token with no live lease (or one that runs out): the
 * real SIGKILLs are in the soak test (npm run soak).
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { ConnectorError } from "../../src/core/ports/connector.ts";
import { Reconciler } from "../../src/workers/reconciler.ts";
import { backends } from "../support/backends.ts";
import { paidOrder, pressButton, waitForOrder } from "../support/checkout.ts";
import { Faults, faultyTestConnector } from "../support/faulty-connector.ts";
import { DEMO_KEY, hostPost, payStartBody, type TestPgb } from "../support/pgb.ts";
import { testPgLedger } from "../support/test-pg-ledger.ts";
import { eventually, refundFaultConnector, startRig, type DeliveryRig, type RefundFault } from "./support.ts";
import { brand, type PaymentId, type RefundId } from "../../src/core/ids.ts";

type History = Array<{ Event: string; Source: string }>;

const partial = (orderId: number) => ({
  DBType: "DEMO",
  OrderId: orderId,
  RefundPrice: "1000",
  CurrentTotalPrice: "10000",
  ModifedTotalPrice: "9000",
  JoinerId: 1,
  NationCode: "KR",
});

async function refundRow(pgb: TestPgb, paymentId: string) {
  return pgb.database.db.selectFrom("money_movements").selectAll().where("payment_id", "=", paymentId).where("kind", "=", "REFUND").executeTakeFirst();
}

/** Sends a cancel whose refund call stays held at the PG; the client gives up on it. Answers when the PG call is under way. */
async function lostCancel(pgb: TestPgb, faults: Faults, orderId: number, key: string): Promise<() => void> {
  const release = faults.holdNext("refund");
  const before = faults.calls.refund;
  const abort = new AbortController();
  void fetch(`${pgb.url}/PGB/PartialCancel`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${DEMO_KEY}`, "idempotency-key": key },
    body: JSON.stringify(partial(orderId)),
    signal: abort.signal,
  }).catch(() => undefined);
  await eventually("the refund call under way", async () => faults.calls.refund > before);
  abort.abort();
  return release;
}

/** The process that held this refund dies: its lease token names no live lease from now on. */
async function orphan(pgb: TestPgb, refundId: string, leaseLeftMs = 0): Promise<void> {
  const ghost = `ghost-${refundId}`;
  await sql`INSERT INTO process_leases (token, pid, expires_at) VALUES (${ghost}, 0, now() + ${leaseLeftMs} * interval '1 millisecond')`.execute(
    pgb.database.db,
  );
  await sql`UPDATE money_movements SET lease_token = ${ghost} WHERE id = ${refundId}`.execute(pgb.database.db);
}

for (const backend of backends()) {
  describe(`recovery after a crash on ${backend}`, () => {
    describe("a refund whose process died while the PG call was under way", () => {
      const faults = new Faults();
      let rig: DeliveryRig;
      before(async () => {
        rig = await startRig(backend, { factories: [faultyTestConnector(faults, { withLookup: true })], workers: { disable: ["reconciler"] } });
      });
      after(async () => rig.close());

      it("is left alone while the lease lives, then taken over: sent once under its idempotency key, completed and notified", async () => {
        const { orderId, paymentId } = await paidOrder(rig.pgb, { TotalPrice: "10000" });
        // Keep this process's own call from reaching the PG until after the take-over.
        const release = await lostCancel(rig.pgb, faults, orderId, `lost-${orderId}`);
        const reserved = (await refundRow(rig.pgb, paymentId))!;
        assert.equal(reserved.status, "PENDING");
        await orphan(rig.pgb, reserved.id, 800);

        await sleep(300);
        assert.equal((await refundRow(rig.pgb, paymentId))!.status, "PENDING", "not taken over while its lease lives");
        assert.equal(await testPgLedger(rig.pgb.database.db).refunded(paymentId), 0n);

        const view = await waitForOrder(rig.pgb, orderId, (b) => b.Status === "PARTIALLY_CANCELLED");
        assert.equal((view.History as History).find((h) => h.Event === "REFUNDED")?.Source, "RECONCILER", "completed by the take-over");
        assert.equal(view.RemainingPrice, "9000");
        assert.equal(await testPgLedger(rig.pgb.database.db).refunded(paymentId), 1000n);

        release(); // the dead process's call "arrives" after all: same idempotency key, nothing moves twice
        await sleep(200);
        assert.equal(await testPgLedger(rig.pgb.database.db).refunded(paymentId), 1000n, "refunded exactly once");
        const row = (await refundRow(rig.pgb, paymentId))!;
        assert.equal(row.status, "SUCCEEDED");
        await eventually("PAYMENT_PARTIALLY_CANCELLED at the host", async () =>
          rig.host.acceptedFor(orderId).find((r) => r.type === "PAYMENT_PARTIALLY_CANCELLED"),
        );
      });
    });

    describe("the host's retry of a cancel whose refund was lost", () => {
      const faults = new Faults();
      let rig: DeliveryRig;
      before(async () => {
        rig = await startRig(backend, { factories: [faultyTestConnector(faults, { withLookup: true })], workers: { disable: ["reconciler", "takeover"] } });
      });
      after(async () => rig.close());

      it("answers CANCEL_IN_PROGRESS while the first attempt's process lives, then continues that refund and answers its real outcome", async () => {
        const { orderId, paymentId } = await paidOrder(rig.pgb, { TotalPrice: "10000" });
        const key = `retry-${orderId}`;
        const release = await lostCancel(rig.pgb, faults, orderId, key);
        const retry = () => hostPost(rig.pgb, "/PGB/PartialCancel", partial(orderId), { headers: { "idempotency-key": key } });

        const early = await retry();
        assert.equal(early.body.ErrorCode, "CANCEL_IN_PROGRESS", "the first attempt's process is alive and still waiting for the PG");

        const reserved = (await refundRow(rig.pgb, paymentId))!;
        await orphan(rig.pgb, reserved.id);
        const answer = await retry();
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.equal(answer.body.IsSuccess, true);
        assert.equal(answer.body.RefundId, reserved.id, "the same refund, not a new one");
        assert.equal(answer.body.RefundStatus, "SUCCEEDED");
        assert.equal(answer.body.RemainingPrice, "9000");
        assert.equal(await testPgLedger(rig.pgb.database.db).refunded(paymentId), 1000n);

        release();
        await sleep(200);
        const again = await retry();
        assert.equal(again.status, 200);
        assert.equal(again.body.Replayed, true);
        assert.equal(await testPgLedger(rig.pgb.database.db).refunded(paymentId), 1000n, "refunded exactly once");
      });
    });

    describe("the reconciler and a refund reserved but never answered by the PG (refundAfterMs shorter than the lease)", () => {
      const faults = new Faults();
      let rig: DeliveryRig;
      let reconciler: Reconciler;
      before(async () => {
        // No timers: the test runs the reconciler's passes itself, so the race is staged, not timed.
        rig = await startRig(backend, { factories: [faultyTestConnector(faults, { withLookup: true })], workers: { disable: ["reconciler", "takeover"] } });
        reconciler = new Reconciler(rig.pgb.deps, rig.pgb.database, rig.pgb.metrics, {
          intervalMs: 60_000,
          paymentAfterMs: 60_000,
          refundAfterMs: 0,
          maxCheckIntervalMs: 1,
          batchSize: 100,
        });
      });
      after(async () => rig.close());

      it("leaves it to its live process, then sends it under its key once the process is gone; the host's retry answers the real outcome", async () => {
        const { orderId, paymentId } = await paidOrder(rig.pgb, { TotalPrice: "10000" });
        const key = `reconciled-${orderId}`;
        const release = await lostCancel(rig.pgb, faults, orderId, key);
        const reserved = (await refundRow(rig.pgb, paymentId))!;
        const retry = () => hostPost(rig.pgb, "/PGB/PartialCancel", partial(orderId), { headers: { "idempotency-key": key } });

        // Its process (this one) is alive and its call is at the PG, which has no record of it yet.
        const first = (await reconciler.runPass()).find((r) => r.subject === reserved.id);
        assert.equal(first?.result, "busy", JSON.stringify(first));
        assert.equal((await refundRow(rig.pgb, paymentId))!.status, "PENDING", "not failed while its process waits for the PG");
        assert.equal((await retry()).body.ErrorCode, "CANCEL_IN_PROGRESS");

        // The process dies before its call reaches the PG.
        await orphan(rig.pgb, reserved.id);
        const second = await reconciler.checkRefund(brand<RefundId>(reserved.id));
        assert.equal(second.result, "refund_succeeded", JSON.stringify(second));
        assert.equal(await testPgLedger(rig.pgb.database.db).refunded(paymentId), 1000n, "sent under its idempotency key");
        const row = (await refundRow(rig.pgb, paymentId))!;
        assert.equal(row.status, "SUCCEEDED");
        assert.equal(row.failure_code, null, "never marked NOT_RECEIVED");

        const answer = await retry();
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.equal(answer.body.RefundId, reserved.id);
        assert.equal(answer.body.RefundStatus, "SUCCEEDED");
        assert.equal(answer.body.RemainingPrice, "9000");

        release(); // the dead process's call arrives after all: the same key moves nothing twice
        await sleep(200);
        assert.equal(await testPgLedger(rig.pgb.database.db).refunded(paymentId), 1000n, "refunded exactly once");
        const history = (await waitForOrder(rig.pgb, orderId, (b) => b.Status === "PARTIALLY_CANCELLED")).History as History;
        assert.equal(history.filter((h) => h.Event === "REFUND_FAILED").length, 0);
        await eventually("PAYMENT_PARTIALLY_CANCELLED at the host", async () =>
          rig.host.acceptedFor(orderId).find((r) => r.type === "PAYMENT_PARTIALLY_CANCELLED"),
        );
        assert.equal(rig.host.acceptedFor(orderId).filter((r) => r.type === "REFUND_FAILED").length, 0, "the host is never told of a refusal nobody made");
      });

      it("the reconciler and the host's retry taking over the same lost refund at once: one sends it, the other answers its outcome or CANCEL_IN_PROGRESS", async () => {
        const { orderId, paymentId } = await paidOrder(rig.pgb, { TotalPrice: "10000" });
        const key = `both-${orderId}`;
        const release = await lostCancel(rig.pgb, faults, orderId, key);
        const reserved = (await refundRow(rig.pgb, paymentId))!;
        await orphan(rig.pgb, reserved.id);
        const [report, answer] = await Promise.all([
          reconciler.checkRefund(brand<RefundId>(reserved.id)),
          hostPost(rig.pgb, "/PGB/PartialCancel", partial(orderId), { headers: { "idempotency-key": key } }),
        ]);
        assert.ok(["refund_succeeded", "busy"].includes(report.result), JSON.stringify(report));
        assert.ok(answer.body.IsSuccess === true || answer.body.ErrorCode === "CANCEL_IN_PROGRESS", JSON.stringify(answer.body));
        release();
        const view = await waitForOrder(rig.pgb, orderId, (b) => b.Status === "PARTIALLY_CANCELLED");
        assert.equal(view.RemainingPrice, "9000");
        assert.equal(await testPgLedger(rig.pgb.database.db).refunded(paymentId), 1000n, "refunded exactly once");
        const again = await hostPost(rig.pgb, "/PGB/PartialCancel", partial(orderId), { headers: { "idempotency-key": key } });
        assert.equal(again.body.IsSuccess, true, JSON.stringify(again.body));
        assert.equal(again.body.RefundId, reserved.id);
      });

      it("takes over a check claimed by a process that died, without waiting for the claim to run out", async () => {
        const { paymentId } = await paidOrder(rig.pgb, { TotalPrice: "10000" });
        await sql`INSERT INTO process_leases (token, pid, expires_at) VALUES ('ghost-alive', 0, now() + interval '1 hour'), ('ghost-dead', 0, now() - interval '1 second')
                  ON CONFLICT (token) DO NOTHING`.execute(rig.pgb.database.db);
        const claimBy = (token: string) =>
          sql`INSERT INTO reconcile_checks (subject, kind, checks, last_checked_at, next_check_at, claimed_until, claim_token)
              VALUES (${paymentId}, 'PAYMENT', 0, now(), now(), now() + interval '2 minutes', ${token})
              ON CONFLICT (subject) DO UPDATE SET claimed_until = EXCLUDED.claimed_until, claim_token = EXCLUDED.claim_token`.execute(rig.pgb.database.db);
        await claimBy("ghost-alive");
        assert.equal((await reconciler.checkPayment(brand<PaymentId>(paymentId))).result, "busy", "a live process's claim is respected");
        await claimBy("ghost-dead");
        assert.notEqual((await reconciler.checkPayment(brand<PaymentId>(paymentId))).result, "busy", "a dead process's claim is taken over at once");
      });
    });

    describe("a refund whose call timed out (UNKNOWN)", () => {
      const state: { fault: RefundFault; refundCalls: number } = { fault: "none", refundCalls: 0 };
      let rig: DeliveryRig;
      before(async () => {
        // The reconciler's timer and refundAfterMs are far beyond the test: only the prompt path can settle it.
        rig = await startRig(backend, {
          factories: [refundFaultConnector(state, { withLookup: true })],
          workers: { reconciler: { intervalMs: 600_000, refundAfterMs: 600_000, maxCheckIntervalMs: 600_000 } },
        });
      });
      after(async () => rig.close());

      it("is looked up at the PG within seconds, not after refundAfterMs, and completed", async () => {
        const { orderId, paymentId } = await paidOrder(rig.pgb, { TotalPrice: "10000" });
        state.fault = "timeout-after-sending";
        const cancel = await hostPost(rig.pgb, "/PGB/PartialCancel", partial(orderId));
        assert.equal(cancel.body.ErrorCode, "PG_RESULT_UNKNOWN");
        const view = await waitForOrder(rig.pgb, orderId, (b) => b.Status === "PARTIALLY_CANCELLED");
        assert.equal((view.History as History).find((h) => h.Event === "REFUNDED")?.Source, "RECONCILER");
        assert.equal(state.refundCalls, 1, "looked up, not sent again");
        assert.equal(await testPgLedger(rig.pgb.database.db).refunded(paymentId), 1000n);
      });
    });

    describe("a PG webhook stored by a process that died before acting on it", () => {
      const faults = new Faults();
      let rig: DeliveryRig;
      before(async () => {
        rig = await startRig(backend, { factories: [faultyTestConnector(faults)], workers: { disable: ["reconciler"], webhooks: { staleAfterMs: 600_000 } } });
      });
      after(async () => rig.close());

      it("is acted on by another process once the lease is gone, long before staleAfterMs", async () => {
        const body = payStartBody({ TotalPrice: "7000" });
        const started = await hostPost(rig.pgb, "/PGB/PayStart", body);
        const orderId = Number(body.OrderId);
        // The webhook's own processing hangs at the PG read: the process "dies" there.
        const release = faults.holdNext("fetchPayment");
        await pressButton(String(started.body.RedirectUrl), "pay"); // no browser return: only the webhook tells PGB
        const stored = await eventually("the webhook stored", async () =>
          sql<{ id: string }>`SELECT id::text AS id FROM pg_webhooks WHERE status = 'RECEIVED'`.execute(rig.pgb.database.db).then((r) => r.rows[0]),
        );
        await sql`UPDATE pg_webhooks SET claim_token = 'ghost-webhook' WHERE id = ${stored.id}`.execute(rig.pgb.database.db);

        const view = await waitForOrder(rig.pgb, orderId, (b) => b.Status === "PAID");
        assert.equal((view.History as History).find((h) => h.Event === "PAID" || h.Source === "WEBHOOK")?.Source, "WEBHOOK");
        const row = await sql<{ status: string }>`SELECT status FROM pg_webhooks WHERE id = ${stored.id}`.execute(rig.pgb.database.db);
        assert.equal(row.rows[0]?.status, "PROCESSED");
        release();
        await eventually("PAYMENT_COMPLETED at the host", async () => rig.host.acceptedFor(orderId).find((r) => r.type === "PAYMENT_COMPLETED"));
      });
    });

    describe("a superseded checkout PayStart could not close", () => {
      const faults = new Faults();
      let rig: DeliveryRig;
      before(async () => {
        rig = await startRig(backend, { factories: [faultyTestConnector(faults)], workers: { disable: ["reconciler"] } });
      });
      after(async () => rig.close());

      it("is recorded as work in the superseding transaction and closed at the PG by the take-over worker", async () => {
        const first = payStartBody({ TotalPrice: "1000" });
        const opened = await hostPost(rig.pgb, "/PGB/PayStart", first);
        faults.throwNext("expireCheckout", new ConnectorError("retryable", "PG unavailable"));
        const second = await hostPost(rig.pgb, "/PGB/PayStart", { ...first, TotalPrice: "2000" });
        assert.equal(second.status, 200, JSON.stringify(second.body));
        const oldId = String(opened.body.PaymentId);
        await eventually("the old checkout closed at the PG", async () => {
          const record = await testPgLedger(rig.pgb.database.db).payment(oldId);
          // The TEST PG writes its record when the customer first acts; an untouched checkout is closed by its token.
          return record === undefined ? faults.calls.expireCheckout >= 2 : record.status === "EXPIRED";
        });
        assert.ok(faults.calls.expireCheckout >= 2, "PayStart's failed close, then the worker's");
        await eventually(
          "the close work done",
          async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM checkout_closes`.execute(rig.pgb.database.db)).rows[0]!.n === 0,
        );
        await assert.rejects(pressButton(String(opened.body.RedirectUrl), "pay"), /no pay button|404|expired/i);
      });
    });

    describe("a host outage", () => {
      let rig: DeliveryRig;
      before(async () => {
        rig = await startRig(backend, {
          workers: {
            disable: ["reconciler"],
            // A long backoff: only the release on recovery can deliver within the test.
            notifications: { backoffMs: 120_000, maxBackoffMs: 3_600_000, outageThreshold: 2, probeIntervalMs: 200 },
          },
        });
      });
      after(async () => rig.close());

      it("probes the down host instead of hammering it, and sends the held-back notifications as soon as it answers again", async () => {
        await rig.host.down();
        const orders = [];
        for (let i = 0; i < 4; i++) orders.push((await paidOrder(rig.pgb, { TotalPrice: "3000" })).orderId);
        const db = rig.pgb.database.db;
        await eventually(
          "the endpoint marked down",
          async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM notify_endpoints WHERE down_since IS NOT NULL`.execute(db)).rows[0]?.n === 1,
        );
        const attemptsAtDown = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM notification_attempts`.execute(db)).rows[0]!.n;
        await sleep(1_000);
        const attemptsDuringOutage = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM notification_attempts`.execute(db)).rows[0]!.n - attemptsAtDown;
        assert.ok(
          attemptsDuringOutage <= 1_000 / 200 + 2,
          `one probe per interval while down, not a retry per notification (${attemptsDuringOutage} attempts in 1 s)`,
        );
        const held = await sql<{
          n: number;
        }>`SELECT count(*)::int AS n FROM notifications WHERE status = 'PENDING' AND next_attempt_at > now() + interval '30 seconds'`.execute(db);
        assert.ok(held.rows[0]!.n >= 1, "some notifications wait in a long backoff");

        await rig.host.up();
        for (const orderId of orders) {
          await eventually(
            `order ${orderId} notified after the host came back`,
            async () => rig.host.acceptedFor(orderId).find((r) => r.type === "PAYMENT_COMPLETED"),
            10_000,
          );
        }
        await eventually(
          "the outbox drained",
          async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM notifications WHERE status <> 'DELIVERED'`.execute(db)).rows[0]!.n === 0,
          10_000,
        );
        const dead = await sql<{ n: number }>`SELECT count(*)::int AS n FROM notifications WHERE status = 'DEAD'`.execute(db);
        assert.equal(dead.rows[0]!.n, 0, "nothing given up during the outage");
      });

      it("keeps the backoff of a notification the host refuses on its own (a 4xx is not an outage)", async () => {
        const refused = await paidOrder(rig.pgb, { TotalPrice: "3100" });
        rig.host.refuseOrders.add(refused.orderId);
        // paidOrder notifies at once; make sure the refusal is what the host answered.
        const db = rig.pgb.database.db;
        await eventually(
          "the refused notification tried",
          async () =>
            rig.host.requests.find((r) => r.orderId === refused.orderId && r.status === 400) ??
            (rig.host.refuseOrders.size > 0 && rig.host.acceptedFor(refused.orderId).length > 0 ? "accepted-before-refusal" : undefined),
        );
        if (rig.host.acceptedFor(refused.orderId).length > 0) return; // delivered before the refusal took effect: nothing to check here
        const others = [];
        for (let i = 0; i < 3; i++) others.push((await paidOrder(rig.pgb, { TotalPrice: "3200" })).orderId);
        for (const orderId of others) await eventually(`order ${orderId} notified`, async () => rig.host.acceptedFor(orderId).length > 0);
        const row = await sql<{ attempts: number; later: boolean; hold: boolean }>`
          SELECT attempts, next_attempt_at > now() + interval '30 seconds' AS later, outage_hold AS hold FROM notifications WHERE order_id = ${refused.orderId}`.execute(
          db,
        );
        assert.deepEqual(row.rows[0], { attempts: 1, later: true, hold: false }, "still in its long backoff after other notifications went through");
        const down = await sql<{ n: number }>`SELECT count(*)::int AS n FROM notify_endpoints WHERE down_since IS NOT NULL`.execute(db);
        assert.equal(down.rows[0]!.n, 0, "the endpoint is not marked down");
      });
    });
  });
}
