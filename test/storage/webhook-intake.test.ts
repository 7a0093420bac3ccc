/**
 * Webhooks that arrive together are stored together (storage/webhook-intake.ts). What a PG and PGB
 * rely on must not change with the batch: each webhook is stored once per event id (a repeat within
 * the same batch too), each request learns its own stored id and the payment it names (only this PG's),
 * and one webhook whose row cannot be stored fails alone while the others of its batch are stored.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { migrate, type DatabaseHandle } from "../../src/storage/database.ts";
import { MAX_INTAKE_BATCH, WebhookIntake } from "../../src/storage/webhook-intake.ts";
import type { Executor } from "../../src/storage/payment-repository.ts";
import type { NewWebhook } from "../../src/storage/webhook-repository.ts";
import { backends, openTestDatabase } from "../support/backends.ts";
import { insertCheckout } from "../support/payment-rows.ts";

let seq = 0;

/** The size of each batch whose statement failed, so that its webhooks were stored one at a time. */
const batchesFailed: number[] = [];
/** One intake per database handle, as PGB keeps one per database. */
const intakes = new Map<object, WebhookIntake>();
function storeWebhookReadingPayment(db: Executor, webhook: NewWebhook, reference: string) {
  let intake = intakes.get(db);
  if (intake === undefined) intakes.set(db, (intake = new WebhookIntake(db, (_error, webhooks) => batchesFailed.push(webhooks))));
  return intake.store(webhook, reference);
}

function webhook(eventId: string, parts: Partial<NewWebhook> = {}): NewWebhook {
  const body = JSON.stringify({ id: eventId, n: ++seq });
  return {
    pg: "TEST",
    tenant: "DEMO",
    eventId,
    status: "RECEIVED",
    headers: JSON.stringify({ "content-type": "application/json" }),
    kept: { body, body_sha256: `sha_${seq}`, body_bytes: body.length },
    error: null,
    action: JSON.stringify({ kind: "payment", eventId }),
    claimToken: `lease_${seq}`,
    ...parts,
  };
}

for (const backend of backends()) {
  describe(`webhook intake on ${backend}`, () => {
    let handle: DatabaseHandle;
    before(async () => {
      handle = await openTestDatabase(backend);
      await migrate(handle.db);
      await insertCheckout(handle.db, { id: "pay_intake_1", order_id: 1 });
      await insertCheckout(handle.db, { id: "pay_intake_2", order_id: 2, pg: "TOSS" });
    });
    after(async () => handle?.close());

    const stored = async (eventId: string) =>
      (
        await sql<{ n: string; body: string; claim_token: string | null }>`
          SELECT count(*) OVER ()::text AS n, body, claim_token FROM pg_webhooks WHERE event_id = ${eventId}`.execute(handle.db)
      ).rows;

    it("stores webhooks arriving together once each, and answers each its own id and payment", async () => {
      const first = webhook("evt_together_1");
      const repeat = webhook("evt_together_1");
      const arriving = [
        storeWebhookReadingPayment(handle.db, webhook("evt_together_0"), "pay_intake_1"),
        storeWebhookReadingPayment(handle.db, first, "pay_intake_1"),
        storeWebhookReadingPayment(handle.db, webhook("evt_together_2"), "pay_missing"),
        // Names a payment of another PG: not this PG's to act on.
        storeWebhookReadingPayment(handle.db, webhook("evt_together_3"), "pay_intake_2"),
        storeWebhookReadingPayment(handle.db, repeat, "pay_intake_1"),
      ];
      const [zero, one, missing, otherPg, again] = await Promise.all(arriving);
      assert.equal(zero?.payment?.id, "pay_intake_1");
      assert.equal(one?.payment?.id, "pay_intake_1");
      assert.equal(missing?.payment, undefined);
      assert.notEqual(missing, undefined);
      assert.equal(otherPg?.payment, undefined);
      assert.notEqual(otherPg, undefined);
      // The same event twice in one batch: stored once, from its first arrival; the second is a repeat.
      assert.equal(again, undefined);
      const rows = await stored("evt_together_1");
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.body, first.kept.body);
      assert.equal(rows[0]!.claim_token, first.claimToken);
      const ids = [zero, one, missing, otherPg].map((s) => s!.id);
      assert.equal(new Set(ids).size, 4);
      const byId = await sql<{ id: string; event_id: string }>`SELECT id::text AS id, event_id FROM pg_webhooks WHERE id = ANY(${ids}::bigint[])`.execute(
        handle.db,
      );
      assert.deepEqual(
        new Map(byId.rows.map((r) => [r.id, r.event_id])),
        new Map(ids.map((id, i) => [id, ["evt_together_0", "evt_together_1", "evt_together_2", "evt_together_3"][i]])),
      );
    });

    it("stores webhooks that arrive while one is being written with one statement", async () => {
      // Counts the statements sent through this handle (a plugin sees each result).
      let statements = 0;
      const counted = handle.db.withPlugin({
        transformQuery: (args) => args.node,
        transformResult: async (args) => {
          statements++;
          return args.result;
        },
      });
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => storeWebhookReadingPayment(counted, webhook(`evt_counted_${i}`), "pay_intake_1")));
      assert.equal(results.filter((r) => r?.payment?.id === "pay_intake_1").length, 6);
      // The first is written at once, alone; the five that came meanwhile together.
      assert.equal(statements, 2);
    });

    it("answers an event stored before as a repeat", async () => {
      assert.notEqual(await storeWebhookReadingPayment(handle.db, webhook("evt_earlier"), "pay_intake_1"), undefined);
      const [again, other] = await Promise.all([
        storeWebhookReadingPayment(handle.db, webhook("evt_earlier"), "pay_intake_1"),
        storeWebhookReadingPayment(handle.db, webhook("evt_later"), "pay_intake_1"),
      ]);
      assert.equal(again, undefined);
      assert.equal(other?.payment?.id, "pay_intake_1");
    });

    it("fails only the webhook whose row cannot be stored", async () => {
      const results = await Promise.allSettled([
        storeWebhookReadingPayment(handle.db, webhook("evt_fine_0"), "pay_intake_1"),
        storeWebhookReadingPayment(handle.db, webhook("evt_fine_1"), "pay_intake_1"),
        storeWebhookReadingPayment(handle.db, webhook("evt_broken", { headers: "not json" }), "pay_intake_1"),
        storeWebhookReadingPayment(handle.db, webhook("evt_fine_2"), "pay_intake_1"),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ["fulfilled", "fulfilled", "rejected", "fulfilled"],
      );
      // The first went alone; the three that came meanwhile failed as a batch, and were then stored one at a time.
      assert.deepEqual(batchesFailed.splice(0), [3]);
      for (const eventId of ["evt_fine_0", "evt_fine_1", "evt_fine_2"]) assert.equal((await stored(eventId)).length, 1, eventId);
      assert.equal((await stored("evt_broken")).length, 0);
    });

    it("stores batches of every size with one prepared statement, planned once and then reused", async (t) => {
      if (backend !== "postgres") return t.skip("prepared statements are PostgreSQL's");
      await handle.db.connection().execute(async (conn) => {
        // Each round: the first webhook alone, the rest as one batch of 2 to 9.
        const rounds = [3, 10, 4, 5, 6, 7, 8, 3];
        for (const [r, size] of rounds.entries()) {
          await Promise.all(Array.from({ length: size }, (_, i) => storeWebhookReadingPayment(conn, webhook(`evt_plan_${r}_${i}`), "pay_intake_1")));
        }
        const { rows } = await sql<{ name: string; generic_plans: string; custom_plans: string }>`
          SELECT name, generic_plans::text, custom_plans::text FROM pg_prepared_statements
          WHERE NOT from_sql AND statement LIKE '%WITH ORDINALITY AS a%'`.execute(conn);
        assert.equal(rows.length, 1, JSON.stringify(rows));
        // Planned for its first five runs' parameters, then on the generic plan: not planned per batch length.
        assert.equal(Number(rows[0]!.generic_plans), rounds.length - 5, JSON.stringify(rows));
        await sql`SET plan_cache_mode = force_generic_plan`.execute(conn);
        const empty = sql.raw(`'{}'`);
        const plan = await sql<{
          "QUERY PLAN": string;
        }>`EXPLAIN EXECUTE ${sql.raw(rows[0]!.name)}(${sql.join(Array.from({ length: 12 }, () => empty))})`.execute(conn);
        await sql`RESET plan_cache_mode`.execute(conn);
        const text = plan.rows.map((r) => r["QUERY PLAN"]).join("\n");
        // The payment each webhook names is found by its key.
        assert.doesNotMatch(text, /Seq Scan/, text);
        assert.match(text, /Index Scan using payments_pkey on payments p/, text);
      });
    });

    it("stores more webhooks than one statement takes", async () => {
      const count = MAX_INTAKE_BATCH * 2 + 5;
      const results = await Promise.all(
        Array.from({ length: count }, (_, i) => storeWebhookReadingPayment(handle.db, webhook(`evt_many_${i}`), "pay_intake_1")),
      );
      assert.equal(results.filter((r) => r?.payment?.id === "pay_intake_1").length, count);
      const { rows } = await sql<{ n: string }>`SELECT count(*)::text AS n FROM pg_webhooks WHERE event_id LIKE 'evt\\_many\\_%'`.execute(handle.db);
      assert.equal(rows[0]!.n, String(count));
    });
  });
}
