/**
 * A retry is sent when its backoff ends, not at the next poll, even when the dispatcher's last round
 * claimed other notifications (a busy round sleeps until the next poll unless something wakes it).
 * The poll interval is a minute and the backoff 4 to 8 s (room for the other order to be paid first), so
 * the margin is wide on a slow machine.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { backends } from "../support/backends.ts";
import { paidOrder } from "../support/checkout.ts";
import { eventually, startRig, type DeliveryRig } from "./support.ts";

const POLL_MS = 60_000;
const BACKOFF_MS = 8_000;

for (const backend of backends()) {
  describe(`a retry on ${backend} while the dispatcher delivers other notifications`, () => {
    let rig: DeliveryRig;
    before(async () => {
      rig = await startRig(backend, { workers: { pollIntervalMs: POLL_MS, notifications: { backoffMs: BACKOFF_MS, maxBackoffMs: BACKOFF_MS } } });
    });
    after(async () => rig.close());

    const outbox = (orderId: number) => rig.pgb.database.db.selectFrom("notifications").selectAll().where("order_id", "=", orderId).orderBy("seq").execute();
    const attemptsOf = (id: string) =>
      rig.pgb.database.db.selectFrom("notification_attempts").selectAll().where("notification_id", "=", id).orderBy("id").execute();

    it("is sent when its backoff ends, long before the next poll", async () => {
      rig.host.mode = "fail";
      const retried = await paidOrder(rig.pgb);
      const [notification] = await outbox(retried.orderId);
      const failed = await eventually("the first attempt failed", async () => (await attemptsOf(notification!.id)).find((a) => a.outcome === "RETRY"));
      const dueAt = new Date(failed.next_attempt_at!).getTime();
      rig.host.mode = "ok";

      // Another order's notification is claimed and delivered while the retry waits out its backoff.
      const other = await paidOrder(rig.pgb);
      const otherAccepted = await eventually("the other order's notification delivered", async () => rig.host.acceptedFor(other.orderId)[0]);
      assert.ok(otherAccepted.at < dueAt, "the other notification was delivered while the retry waited (else this test shows nothing)");

      // The host holds it before the dispatcher has recorded the attempt: wait for the record.
      const retry = await eventually(
        "the retry delivered and recorded",
        async () => (await attemptsOf(notification!.id)).find((a) => a.outcome === "DELIVERED"),
        POLL_MS / 2,
      );
      const lateMs = new Date(retry.started_at).getTime() - dueAt;
      assert.ok(lateMs < POLL_MS / 4, `sent ${lateMs} ms after it fell due; the poll interval is ${POLL_MS} ms`);
    });
  });
}
