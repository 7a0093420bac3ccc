import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { backends } from "../support/backends.ts";
import { paidOrder, waitForOrder } from "../support/checkout.ts";
import { hostGet, hostPost, OTHER_KEY } from "../support/pgb.ts";
import { eventually, startRig, type DeliveryRig } from "./support.ts";

function partial(orderId: number, current: string, refund: string, modified: string) {
  return { DBType: "DEMO", OrderId: orderId, RefundPrice: refund, CurrentTotalPrice: current, ModifedTotalPrice: modified, JoinerId: 42, NationCode: "KR" };
}
function full(orderId: number, current: number) {
  return { DbType: "DEMO", OrderId: orderId, PGType: "TEST", PayType: "CARD", CurrentTotalPrice: current, JoinerId: 42, NationCode: "KR" };
}

async function outbox(rig: DeliveryRig, orderId: number) {
  return rig.pgb.database.db.selectFrom("notifications").selectAll().where("order_id", "=", orderId).orderBy("seq").execute();
}

async function allDelivered(rig: DeliveryRig, orderId: number, count: number) {
  const rows = await outbox(rig, orderId);
  return rows.length === count && rows.every((r) => r.status === "DELIVERED") ? rows : undefined;
}

for (const backend of backends()) {
  describe(`notification delivery on ${backend}`, () => {
    describe("with a healthy host", () => {
      let rig: DeliveryRig;
      before(async () => {
        // A one-minute poll: anything delivered quickly was woken by the database, not found by polling.
        rig = await startRig(backend, { workers: { pollIntervalMs: 60_000 } });
      });
      after(async () => rig.close());

      it("delivers every notification of an order signed with Standard Webhooks, under its stable id, in the order the events happened", async (t) => {
        const { orderId } = await paidOrder(rig.pgb, { TotalPrice: "15000" });
        const p = await hostPost(rig.pgb, "/PGB/PartialCancel", partial(orderId, "15000", "5000", "10000"));
        assert.equal(p.status, 200, JSON.stringify(p.body));
        const f = await hostPost(rig.pgb, "/PGB/FullCancel", full(orderId, 10000));
        assert.equal(f.status, 200, JSON.stringify(f.body));

        const rows = await eventually("three notifications delivered", () => allDelivered(rig, orderId, 3));
        assert.equal(rig.host.badSignatures, 0, "every notification verifies with the tenant's secret");
        const got = rig.host.acceptedFor(orderId);
        assert.deepEqual(
          got.map((r) => r.type),
          ["PAYMENT_COMPLETED", "PAYMENT_PARTIALLY_CANCELLED", "PAYMENT_CANCELLED"],
        );
        assert.deepEqual(
          got.map((r) => r.id),
          rows.map((r) => r.id),
          "webhook-id is the notification id",
        );
        for (const r of got) {
          assert.equal(r.payload.NotificationId, r.id);
          assert.equal(r.payload.DBType, "DEMO");
          assert.equal(r.payload.OrderId, orderId);
        }
        assert.equal(got[1]!.payload.RefundPrice, "5000");
        assert.equal(got[2]!.payload.RemainingPrice, "0");
        const attempts = await rig.pgb.database.db
          .selectFrom("notification_attempts" as never)
          .select(["notification_id", "status_code", "outcome"] as never[])
          .where("notification_id" as never, "in", rows.map((r) => r.id) as never)
          .execute();
        assert.equal(attempts.length, 3, "one attempt each, recorded");
        // Informational: the poll is a minute long, so these were picked up by the database's wake-up.
        const latencies = got.map((r, i) => r.at - new Date(rows[i]!.created_at).getTime());
        t.diagnostic(`outbox → host latency (ms): ${latencies.join(", ")}`);
      });

      it("lists an order's notifications with their attempts to the tenant's key only", async () => {
        const { orderId } = await paidOrder(rig.pgb, { TotalPrice: "1000" });
        await eventually("delivered", () => allDelivered(rig, orderId, 1));
        const list = await hostGet(rig.pgb, `/PGB/Notifications?DBType=DEMO&OrderId=${orderId}`);
        assert.equal(list.status, 200, JSON.stringify(list.body));
        const notifications = list.body.Notifications as Array<Record<string, unknown>>;
        assert.equal(notifications.length, 1);
        assert.equal(notifications[0]!.Type, "PAYMENT_COMPLETED");
        assert.equal(notifications[0]!.Status, "DELIVERED");
        const log = notifications[0]!.AttemptLog as Array<Record<string, unknown>>;
        assert.equal(log.length, 1);
        assert.equal(log[0]!.StatusCode, 204);
        assert.equal(log[0]!.Outcome, "DELIVERED");
        assert.equal(log[0]!.NextAttemptAt, null);

        const foreign = await hostGet(rig.pgb, `/PGB/Notifications?DBType=DEMO&OrderId=${orderId}`, OTHER_KEY);
        assert.equal(foreign.status, 401, "OTHER is not a tenant of this PGB");
        const unknown = await hostGet(rig.pgb, `/PGB/Notifications?DBType=DEMO&OrderId=99999999`);
        assert.equal(unknown.status, 404);
        assert.equal(unknown.body.ErrorCode, "ORDER_NOT_FOUND");
      });

      it("exports notification and webhook queue sizes and process metrics at /metrics", async () => {
        const response = await fetch(`${rig.pgb.url}/metrics`);
        assert.equal(response.status, 200);
        const text = await response.text();
        assert.match(text, /^pgb_notifications\{state="pending"\} \d+$/m);
        assert.match(text, /^pgb_notifications\{state="retrying"\} \d+$/m);
        assert.match(text, /^pgb_notifications\{state="dead"\} \d+$/m);
        assert.match(text, /^pgb_webhook_processing_lag_seconds \d/m);
        assert.match(text, /^pgb_notification_attempts_total\{outcome="delivered"\} [1-9]/m);
        assert.match(text, /^pgb_process_cpu_user_seconds_total /m);
      });
    });

    describe("with a host that fails, goes down and comes back", () => {
      let rig: DeliveryRig;
      before(async () => {
        rig = await startRig(backend, { workers: { notifications: { backoffMs: 30, maxBackoffMs: 300, maxAttempts: 100 } } });
      });
      after(async () => rig.close());

      it("loses nothing while the host answers 500 and then refuses connections, retries with growing delays, and delivers once it recovers", async () => {
        rig.host.mode = "fail";
        const { orderId } = await paidOrder(rig.pgb, { TotalPrice: "2000" });
        await eventually("three failed attempts", async () => rig.host.requests.filter((r) => r.orderId === orderId).length >= 3);
        await rig.host.down();
        const [row] = await outbox(rig, orderId);
        await eventually("attempts against a closed port", async () => {
          const attempts = await attemptsOf(rig, row!.id);
          return attempts.some((a) => a.status_code === null) && attempts.filter((a) => a.status_code === null).length >= 2;
        });
        rig.host.mode = "ok";
        await rig.host.up();
        await eventually("delivered after recovery", () => allDelivered(rig, orderId, 1));

        assert.equal(rig.host.acceptedFor(orderId).length, 1);
        const attempts = await attemptsOf(rig, row!.id);
        assert.ok(
          attempts.some((a) => a.status_code === 500 && a.outcome === "RETRY"),
          "500s recorded",
        );
        assert.ok(
          attempts.some((a) => a.status_code === null && /fetch failed|ECONNREFUSED/.test(a.error ?? "")),
          "refused connections recorded",
        );
        assert.equal(attempts.at(-1)!.outcome, "DELIVERED");
        // Backoff: the n-th retry waits at least half of 30·2^(n−1) ms (capped at 300).
        for (const a of attempts.filter((x) => x.outcome === "RETRY")) {
          const wait = new Date(a.next_attempt_at!).getTime() - new Date(a.started_at).getTime() - a.duration_ms;
          const ceiling = Math.min(300, 30 * 2 ** (a.attempt - 1));
          assert.ok(wait >= ceiling / 2 - 5, `attempt ${a.attempt} waited ${wait} ms, expected ≥ ${ceiling / 2}`);
        }
        assert.ok(
          attempts.slice(1).every((a, i) => a.attempt === attempts[i]!.attempt + 1),
          "attempts numbered in sequence",
        );
      });

      it("never lets PAYMENT_CANCELLED overtake PAYMENT_COMPLETED of the same order while the host fails at random", async () => {
        rig.host.flakiness = 0.5;
        const orders = await Promise.all(Array.from({ length: 6 }, () => paidOrder(rig.pgb, { TotalPrice: "3000" })));
        for (const { orderId } of orders) {
          const r = await hostPost(rig.pgb, "/PGB/FullCancel", full(orderId, 3000));
          assert.equal(r.status, 200, JSON.stringify(r.body));
        }
        for (const { orderId } of orders) {
          await eventually(`order ${orderId} delivered`, () => allDelivered(rig, orderId, 2)).catch(async (error: Error) => {
            const rows = await outbox(rig, orderId);
            throw new Error(
              `${error.message}; outbox: ${JSON.stringify(rows.map((r) => [r.type, r.status, r.attempts, r.next_attempt_at, (r as { claim_token?: unknown }).claim_token]))} now ${new Date().toISOString()}`,
            );
          });
        }
        rig.host.flakiness = 0;
        for (const { orderId } of orders) {
          const requests = rig.host.requests.filter((r) => r.orderId === orderId);
          const firstCancelled = requests.findIndex((r) => r.type === "PAYMENT_CANCELLED");
          const completedAccepted = requests.findIndex((r) => r.type === "PAYMENT_COMPLETED" && r.status < 300);
          assert.ok(
            completedAccepted >= 0 && completedAccepted < firstCancelled,
            `order ${orderId}: ${requests.map((r) => `${r.type}:${r.status}`).join(", ")}`,
          );
        }
      });
    });

    describe("with a host that never recovers", () => {
      let rig: DeliveryRig;
      before(async () => {
        rig = await startRig(backend, { workers: { notifications: { backoffMs: 10, maxBackoffMs: 40, maxAttempts: 3 } } });
      });
      after(async () => rig.close());

      it("parks the notification as DEAD after the attempt limit, holds back the order's later ones, and a replay delivers them in order", async () => {
        rig.host.mode = "fail";
        const { orderId } = await paidOrder(rig.pgb, { TotalPrice: "4000" });
        const cancel = await hostPost(rig.pgb, "/PGB/FullCancel", full(orderId, 4000));
        assert.equal(cancel.status, 200);
        const [completed, cancelled] = await eventually("the first one dead", async () => {
          const rows = await outbox(rig, orderId);
          return rows.length === 2 && rows[0]!.status === "DEAD" ? rows : undefined;
        });
        assert.equal(completed!.attempts, 3);
        assert.equal(cancelled!.status, "PENDING");
        assert.equal(cancelled!.attempts, 0, "never sent while the earlier one of its order is undelivered");
        assert.ok(rig.host.requests.every((r) => r.type !== "PAYMENT_CANCELLED"));
        const metrics = await (await fetch(`${rig.pgb.url}/metrics`)).text();
        assert.match(metrics, /^pgb_notifications\{state="dead"\} 1$/m);

        const list = await hostGet(rig.pgb, `/PGB/Notifications?DBType=DEMO&OrderId=${orderId}`);
        const first = (list.body.Notifications as Array<Record<string, unknown>>)[0]!;
        assert.equal(first.Status, "DEAD");
        assert.deepEqual(
          (first.AttemptLog as Array<Record<string, unknown>>).map((a) => [a.Attempt, a.StatusCode, a.Outcome]),
          [
            [1, 500, "RETRY"],
            [2, 500, "RETRY"],
            [3, 500, "DEAD"],
          ],
        );

        rig.host.mode = "ok";
        const notDead = await hostPost(rig.pgb, "/PGB/Notifications/Replay", { DBType: "DEMO", NotificationId: cancelled!.id });
        assert.equal(notDead.status, 200);
        assert.deepEqual(notDead.body.Replayed, []);
        const replay = await hostPost(rig.pgb, "/PGB/Notifications/Replay", { DBType: "DEMO", NotificationId: completed!.id });
        assert.equal(replay.status, 200, JSON.stringify(replay.body));
        assert.deepEqual(replay.body.Replayed, [completed!.id]);
        await eventually("both delivered after the replay", () => allDelivered(rig, orderId, 2));
        assert.deepEqual(
          rig.host.acceptedFor(orderId).map((r) => r.type),
          ["PAYMENT_COMPLETED", "PAYMENT_CANCELLED"],
        );

        const unknown = await hostPost(rig.pgb, "/PGB/Notifications/Replay", { DBType: "DEMO", NotificationId: "msg_doesnotexist" });
        assert.equal(unknown.status, 404);
        const bad = await hostPost(rig.pgb, "/PGB/Notifications/Replay", { DBType: "DEMO" });
        assert.equal(bad.status, 400);
      });

      it("replays every dead notification of an order at once", async () => {
        rig.host.mode = "fail";
        const { orderId } = await paidOrder(rig.pgb, { TotalPrice: "4000" });
        await eventually("dead", async () => (await outbox(rig, orderId))[0]?.status === "DEAD");
        rig.host.mode = "ok";
        const replay = await hostPost(rig.pgb, "/PGB/Notifications/Replay", { DBType: "DEMO", OrderId: orderId });
        assert.equal((replay.body.Replayed as string[]).length, 1);
        await eventually("delivered", () => allDelivered(rig, orderId, 1));
        const view = await waitForOrder(rig.pgb, orderId, (b) => b.Status === "PAID");
        assert.equal(view.Status, "PAID");
      });
    });
  });
}

async function attemptsOf(rig: DeliveryRig, notificationId: string) {
  const rows = await rig.pgb.database.db
    .selectFrom("notification_attempts" as never)
    .selectAll()
    .where("notification_id" as never, "=", notificationId as never)
    .orderBy("id" as never)
    .execute();
  return rows as unknown as Array<{
    attempt: number;
    started_at: Date;
    duration_ms: number;
    status_code: number | null;
    error: string | null;
    outcome: string;
    next_attempt_at: Date | null;
  }>;
}
