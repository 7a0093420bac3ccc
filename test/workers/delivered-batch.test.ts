/**
 * The dispatcher's one-statement record of a batch the hosts all accepted (recordDeliveredAttempts)
 * does what the transaction it replaces did: attempts numbered, DELIVERED only under the claim, and
 * a down endpoint cleared with its held-back notifications released, once. And a claim says whether
 * the order's next notification waits behind the claimed one. No workers run: the rows are set by hand.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { recordEndpointAnswered } from "../../src/storage/endpoint-repository.ts";
import { claimDueNotifications, recordDeliveredAttempts, type AttemptRecord } from "../../src/storage/notification-repository.ts";
import { backends } from "../support/backends.ts";
import { paidOrder } from "../support/checkout.ts";
import { hostPost, partialCancelBody, startPgb, type TestPgb } from "../support/pgb.ts";
import { tenantsNotifying } from "./support.ts";

function delivered(notificationId: string, worker: string): AttemptRecord {
  return { notificationId, startedAt: new Date(), durationMs: 3, statusCode: 204, error: null, outcome: "DELIVERED", nextAttemptAt: null, worker };
}

for (const backend of backends()) {
  describe(`recording delivered batches on ${backend}`, () => {
    let pgb: TestPgb;
    before(async () => {
      pgb = await startPgb(backend, { tenants: tenantsNotifying("http://127.0.0.1:9/notify") });
    });
    after(async () => pgb.close());

    const outbox = (orderId: number) => pgb.database.db.selectFrom("notifications").selectAll().where("order_id", "=", orderId).orderBy("seq").execute();

    it("claims an order's first notification saying a later one waits behind it", async () => {
      const { orderId } = await paidOrder(pgb, { TotalPrice: "15000" });
      const cancel = await hostPost(pgb, "/PGB/PartialCancel", partialCancelBody(orderId, 5000, 15000));
      assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
      const [first, second] = await outbox(orderId);
      const claimed = await claimDueNotifications(pgb.database.db, "claimer", 60_000, 100);
      const mine = claimed.filter((c) => c.id === first!.id || c.id === second!.id);
      assert.deepEqual(
        mine.map((c) => [c.id, c.later_pending]),
        [[first!.id, true]],
        "the second is not claimable before the first is delivered",
      );
      await recordDeliveredAttempts(pgb.database.db, [delivered(first!.id, "claimer")], "claimer");
      const next = await claimDueNotifications(pgb.database.db, "claimer", 60_000, 100);
      assert.deepEqual(
        next.filter((c) => c.id === second!.id).map((c) => c.later_pending),
        [false],
      );
      await recordDeliveredAttempts(pgb.database.db, [delivered(second!.id, "claimer")], "claimer");
    });

    it("marks DELIVERED under the claim only, numbers the attempts, and clears a down endpoint releasing what it held back, once", async () => {
      const db = pgb.database.db;
      const a = await paidOrder(pgb);
      const b = await paidOrder(pgb);
      const [sent] = await outbox(a.orderId);
      const [held] = await outbox(b.orderId);
      // The endpoint is down; one notification was claimed (as a probe or just before), another is held back.
      await sql`INSERT INTO notify_endpoints (tenant, failures, down_since, next_probe_at) VALUES ('DEMO', 3, now(), now() + interval '1 hour')
                ON CONFLICT (tenant) DO UPDATE SET failures = 3, down_since = now(), next_probe_at = now() + interval '1 hour'`.execute(db);
      await db.updateTable("notifications").set({ claim_token: "mine", attempts: 2 }).where("id", "=", sent!.id).execute();
      await db
        .updateTable("notifications")
        .set({ claim_token: null, outage_hold: true, next_attempt_at: sql<Date>`now() + interval '1 hour'` })
        .where("id", "=", held!.id)
        .execute();
      await db
        .insertInto("notification_attempts")
        .values({ notification_id: sent!.id, attempt: 1, started_at: new Date(), duration_ms: 1, outcome: "RETRY", worker: "mine" } as never)
        .execute();

      // Another process's token does not decide for this claim; its attempt is still recorded.
      const elsewhere = await recordDeliveredAttempts(db, [delivered(sent!.id, "theirs")], "theirs");
      assert.equal((await outbox(a.orderId))[0]!.status, "PENDING");

      const released = await recordDeliveredAttempts(db, [delivered(sent!.id, "mine")], "mine");
      // The first call found the endpoint down and cleared it; only one caller releases.
      const releases = [...elsewhere.entries(), ...released.entries()];
      assert.deepEqual(releases, [["DEMO", 1]], "the held notification released once");
      const after = (await outbox(a.orderId))[0]!;
      assert.equal(after.status, "DELIVERED");
      assert.equal(after.claim_token, null);
      const heldAfter = (await outbox(b.orderId))[0]!;
      assert.equal(heldAfter.outage_hold, false);
      assert.ok(new Date(heldAfter.next_attempt_at).getTime() <= Date.now() + 1_000, "due now");
      const endpoint = await db.selectFrom("notify_endpoints").selectAll().where("tenant", "=", "DEMO").executeTakeFirstOrThrow();
      assert.deepEqual([endpoint.failures, endpoint.down_since, endpoint.next_probe_at], [0, null, null]);
      const attempts = await db
        .selectFrom("notification_attempts")
        .select(["attempt", "outcome", "worker"])
        .where("notification_id", "=", sent!.id)
        .orderBy("id")
        .execute();
      assert.deepEqual(
        attempts.map((x) => [x.attempt, x.outcome, x.worker]),
        [
          [1, "RETRY", "mine"],
          [2, "DELIVERED", "theirs"],
          [3, "DELIVERED", "mine"],
        ],
      );
      // A healthy endpoint is not touched.
      assert.equal((await recordDeliveredAttempts(db, [delivered(held!.id, "nobody")], "nobody")).size, 0);
    });

    it("records a batch of several as given: each attempt's own time, duration, status and worker, DELIVERED only where the claim is the batch's", async () => {
      const db = pgb.database.db;
      const orders = [await paidOrder(pgb), await paidOrder(pgb), await paidOrder(pgb)];
      const ids = [];
      for (const { orderId } of orders) ids.push((await outbox(orderId))[0]!.id);
      await db.updateTable("notifications").set({ claim_token: "batch" }).where("id", "in", ids.slice(0, 2)).execute();
      await db.updateTable("notifications").set({ claim_token: "someone-else" }).where("id", "=", ids[2]!).execute();
      const startedAt = [new Date("2026-03-01T10:00:00.123Z"), new Date("2026-03-01T10:00:01.456Z"), new Date("2026-03-01T10:00:02.789Z")];
      const batch: AttemptRecord[] = ids.map((id, i) => ({
        ...delivered(id, `worker-${i}`),
        startedAt: startedAt[i]!,
        durationMs: 10 + i,
        statusCode: 200 + i,
      }));
      assert.equal((await recordDeliveredAttempts(db, batch, "batch")).size, 0);

      const rows = await db.selectFrom("notifications").select(["id", "status", "claim_token"]).where("id", "in", ids).execute();
      const byId = new Map(rows.map((r) => [r.id, [r.status, r.claim_token]]));
      assert.deepEqual(
        ids.map((id) => byId.get(id)),
        [
          ["DELIVERED", null],
          ["DELIVERED", null],
          ["PENDING", "someone-else"],
        ],
      );
      const attempts = await db
        .selectFrom("notification_attempts")
        .select(["notification_id", "attempt", "started_at", "duration_ms", "status_code", "error", "outcome", "next_attempt_at", "worker"])
        .where("notification_id", "in", ids)
        .orderBy("id")
        .execute();
      assert.deepEqual(
        attempts.map((a) => [
          a.notification_id,
          a.attempt,
          new Date(a.started_at).toISOString(),
          a.duration_ms,
          a.status_code,
          a.error,
          a.outcome,
          a.next_attempt_at,
          a.worker,
        ]),
        ids.map((id, i) => [id, 1, startedAt[i]!.toISOString(), 10 + i, 200 + i, null, "DELIVERED", null, `worker-${i}`]),
      );
      await db.updateTable("notifications").set({ status: "DELIVERED", claim_token: null }).where("id", "=", ids[2]!).execute();
    });

    it("records an answer outside a delivered batch (a probe, a 4xx) with the same endpoint clear: failures reset, a down endpoint's held notifications released, once", async () => {
      const db = pgb.database.db;
      const { orderId } = await paidOrder(pgb);
      const [held] = await outbox(orderId);
      const endpoint = () => db.selectFrom("notify_endpoints").selectAll().where("tenant", "=", "DEMO").executeTakeFirstOrThrow();

      // Failures below the threshold: cleared, nothing to release.
      await sql`INSERT INTO notify_endpoints (tenant, failures) VALUES ('DEMO', 2)
                ON CONFLICT (tenant) DO UPDATE SET failures = 2, down_since = NULL, next_probe_at = NULL`.execute(db);
      assert.equal(await recordEndpointAnswered(db, "DEMO"), 0);
      assert.equal((await endpoint()).failures, 0);

      await sql`UPDATE notify_endpoints SET failures = 3, down_since = now(), next_probe_at = now() + interval '1 hour' WHERE tenant = 'DEMO'`.execute(db);
      await db
        .updateTable("notifications")
        .set({ claim_token: null, outage_hold: true, next_attempt_at: sql<Date>`now() + interval '1 hour'` })
        .where("id", "=", held!.id)
        .execute();
      const answers = await Promise.all([recordEndpointAnswered(db, "DEMO"), recordEndpointAnswered(db, "DEMO")]);
      assert.deepEqual(answers.sort(), [0, 1], "of two callers, one sees it down and releases");
      const heldAfter = (await outbox(orderId))[0]!;
      assert.equal(heldAfter.outage_hold, false);
      assert.ok(new Date(heldAfter.next_attempt_at).getTime() <= Date.now() + 1_000, "due now");
      const cleared = await endpoint();
      assert.deepEqual([cleared.failures, cleared.down_since, cleared.next_probe_at], [0, null, null]);
      await db.updateTable("notifications").set({ status: "DELIVERED" }).where("id", "=", held!.id).execute();
    });
  });
}
