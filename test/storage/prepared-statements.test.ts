/**
 * PayStart's two statements (the order's attempts; the new payment with its history row) are named
 * prepared statements on PostgreSQL (storage/named-statements.ts). What that must not change: the read
 * returns the order's attempts of its own tenant only, in the order they were made; a plan built
 * before payments has statistics still probes an index; an instance keeps working when a later
 * release's migration adds a column while it runs. The dispatcher's record of a delivered batch
 * (recordDeliveredAttempts) is one prepared statement for every batch size, planned once and then
 * reused rather than planned again for each batch, its plan built on empty tables reaching each table
 * by a key.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql, type Kysely } from "kysely";
import { migrate, type DatabaseHandle } from "../../src/storage/database.ts";
import { recordDeliveredAttempts, type AttemptRecord } from "../../src/storage/notification-repository.ts";
import { paymentsOfOrder } from "../../src/storage/payment-repository.ts";
import type { Database } from "../../src/storage/schema.ts";
import { backends, openTestDatabase } from "../support/backends.ts";
import { insertCheckout } from "../support/payment-rows.ts";

let seq = 0;
async function attempt(db: Kysely<Database>, tenant: string, orderId: number, status: "READY" | "SUPERSEDED"): Promise<string> {
  const id = `pay_prep_${++seq}`;
  await insertCheckout(db, {
    id,
    tenant,
    order_id: orderId,
    status,
    description: "prepared",
    pg_transaction_id: `tp_prep_${seq}`,
    checkout_url: `https://pg.example/${seq}`,
  });
  return id;
}

for (const backend of backends()) {
  describe(`PayStart's statements on ${backend}`, () => {
    let handle: DatabaseHandle;
    before(async () => {
      handle = await openTestDatabase(backend);
      await migrate(handle.db);
    });
    after(async () => handle.close());

    it("reads the attempts of the order's own tenant only, oldest first", async () => {
      const older = await attempt(handle.db, "SHOP", 501, "SUPERSEDED");
      await attempt(handle.db, "OUTLET", 501, "READY");
      const newer = await attempt(handle.db, "SHOP", 501, "READY");
      // Run past the first five executions, after which PostgreSQL may switch to its generic plan.
      for (let run = 0; run < 8; run++) {
        const attempts = await paymentsOfOrder(handle.db, "SHOP", 501);
        assert.deepEqual(
          attempts.map((a) => [a.id, a.tenant, a.status]),
          [
            [older, "SHOP", "SUPERSEDED"],
            [newer, "SHOP", "READY"],
          ],
        );
      }
      assert.deepEqual(await paymentsOfOrder(handle.db, "SHOP", 502), []);
    });

    if (backend !== "postgres") return;

    it("prepares both statements once per connection, and the read runs on a generic plan", async () => {
      await handle.db.connection().execute(async (conn) => {
        await attempt(conn, "SHOP", 601, "READY");
        await attempt(conn, "SHOP", 602, "READY");
        for (let run = 0; run < 8; run++) await paymentsOfOrder(conn, "SHOP", 601);
        const { rows } = await sql<{ statement: string; generic_plans: string }>`
          SELECT statement, generic_plans::text FROM pg_prepared_statements WHERE NOT from_sql`.execute(conn);
        const read = rows.find((r) => /^select .* from "payments"/.test(r.statement));
        const insert = rows.find((r) => /^with "created" as \(insert into "payments"/.test(r.statement));
        assert.ok(read, `the read is not prepared: ${JSON.stringify(rows)}`);
        assert.ok(insert, `the insert is not prepared: ${JSON.stringify(rows)}`);
        assert.ok(Number(read.generic_plans) > 0, "the read never used a generic plan");
      });
    });

    it("plans the read as an index probe on a new, empty table without statistics", async () => {
      const fresh = await openTestDatabase("postgres");
      try {
        await migrate(fresh.db);
        await fresh.db.connection().execute(async (conn) => {
          await paymentsOfOrder(conn, "SHOP", 1);
          const { rows } = await sql<{ name: string }>`SELECT name FROM pg_prepared_statements WHERE statement LIKE 'select %from "payments"%'`.execute(conn);
          assert.equal(rows.length, 1);
          // The plan a connection would keep, built now while payments is empty and never analyzed.
          await sql`SET plan_cache_mode = force_generic_plan`.execute(conn);
          const plan = await sql<{ "QUERY PLAN": string }>`EXPLAIN EXECUTE ${sql.raw(rows[0]!.name)}(1, 'SHOP')`.execute(conn);
          const text = plan.rows.map((r) => r["QUERY PLAN"]).join("\n");
          assert.match(text, /Index Scan using payments_by_order_id/, text);
          assert.match(text, /Index Cond: \(order_id = \$1\)/, text);
          await sql`RESET plan_cache_mode`.execute(conn);
        });
      } finally {
        await fresh.close();
      }
    });

    it("records delivered batches of every size with one prepared statement", async () => {
      await handle.db.connection().execute(async (conn) => {
        const ids: string[] = [];
        for (let i = 0; i < 14; i++) {
          const paymentId = await attempt(conn, "SHOP", 801 + i, "READY");
          const id = `ntf_prep_${paymentId}`;
          await conn
            .insertInto("notifications")
            .values({
              id,
              tenant: "SHOP",
              payment_id: paymentId,
              order_id: 801 + i,
              type: "PAYMENT",
              payload: "{}",
              status: "PENDING",
              next_attempt_at: new Date(),
              claim_token: "batcher",
            } as never)
            .execute();
          ids.push(id);
        }
        const delivered = (id: string): AttemptRecord => ({
          notificationId: id,
          startedAt: new Date(),
          durationMs: 2,
          statusCode: 204,
          error: null,
          outcome: "DELIVERED",
          nextAttemptAt: null,
          worker: "batcher",
        });
        // Mostly one-row batches, as at a steady rate, past the first five runs that PostgreSQL plans
        // for their parameters before it weighs its generic plan.
        const batches = [...ids.slice(0, 8).map((id) => [id]), ids.slice(8, 11), [], ids.slice(11, 13), ids.slice(13)];
        for (const batch of batches) await recordDeliveredAttempts(conn, batch.map(delivered), "batcher");
        const { rows } = await sql<{
          statement: string;
          generic_plans: string;
          custom_plans: string;
        }>`SELECT statement, generic_plans::text, custom_plans::text FROM pg_prepared_statements WHERE NOT from_sql AND statement LIKE '%INSERT INTO notification_attempts%'`.execute(
          conn,
        );
        assert.equal(rows.length, 1, JSON.stringify(rows));
        // Planned once and then reused, not planned again for every batch.
        assert.equal(Number(rows[0]!.generic_plans), batches.length - 5, JSON.stringify(rows));
        const statuses = await conn.selectFrom("notifications").select("status").where("id", "in", ids).execute();
        assert.deepEqual(
          statuses.map((r) => r.status),
          ids.map(() => "DELIVERED"),
        );
      });
    });

    it("plans the delivered batch's record by keys only, on new, empty tables without statistics", async () => {
      const fresh = await openTestDatabase("postgres");
      try {
        await migrate(fresh.db);
        await fresh.db.connection().execute(async (conn) => {
          await recordDeliveredAttempts(conn, [], "batcher");
          const { rows } = await sql<{
            name: string;
          }>`SELECT name FROM pg_prepared_statements WHERE statement LIKE '%INSERT INTO notification_attempts%'`.execute(conn);
          assert.equal(rows.length, 1);
          await sql`SET plan_cache_mode = force_generic_plan`.execute(conn);
          const plan = await sql<{ "QUERY PLAN": string }>`EXPLAIN EXECUTE ${sql.raw(rows[0]!.name)}('{}', '{}', '{}', '{}', '{}', 'batcher')`.execute(conn);
          const text = plan.rows.map((r) => r["QUERY PLAN"]).join("\n");
          // The notifications marked, their tenants, the attempts counted, the endpoints cleared, and what an outage held back.
          assert.doesNotMatch(text, /Seq Scan/, text);
          assert.match(text, /Bitmap Index Scan on notifications_pkey[^\n]*\n\s+Index Cond: \(id = ANY/, text);
          assert.match(text, /Index Scan using notifications_pkey on notifications n[^\n]*\n\s+Index Cond: \(id = /, text);
          assert.match(text, /Index Scan on notification_attempts_by_notification[^\n]*\n\s+Index Cond: \(notification_id = /, text);
          assert.equal(text.match(/Index Scan on notify_endpoints_pkey[^\n]*\n\s+Index Cond: \(tenant = ANY/g)?.length, 2, text);
          assert.match(text, /Index Scan on notifications_undelivered_by_order[^\n]*\n\s+Index Cond: \(tenant = ANY/, text);
          await sql`RESET plan_cache_mode`.execute(conn);
        });
      } finally {
        await fresh.close();
      }
    });

    it("keeps working when a later migration adds a column to payments while it runs", async () => {
      await handle.db.connection().execute(async (conn) => {
        const first = await attempt(conn, "SHOP", 701, "SUPERSEDED");
        for (let run = 0; run < 8; run++) await paymentsOfOrder(conn, "SHOP", 701);
        await sql`ALTER TABLE payments ADD COLUMN added_by_a_later_release text`.execute(conn);
        try {
          const second = await attempt(conn, "SHOP", 701, "READY");
          assert.deepEqual(
            (await paymentsOfOrder(conn, "SHOP", 701)).map((a) => a.id),
            [first, second],
          );
        } finally {
          await sql`ALTER TABLE payments DROP COLUMN added_by_a_later_release`.execute(conn);
        }
      });
    });
  });
}
