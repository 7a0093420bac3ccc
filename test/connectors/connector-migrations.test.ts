/**
 * A connector's tables are migrated only when some tenant configures its PG: a configuration without
 * KAKAOPAY leaves no kakaopay table, and a restart after a KAKAOPAY tenant is added creates it. Core
 * migrations always run; the tables of a PG no longer configured stay (forward only).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sql } from "kysely";
import { buildApp } from "../../src/app.ts";
import { CONNECTOR_FACTORIES } from "../../src/connectors/registry.ts";
import type { DatabaseHandle } from "../../src/storage/database.ts";
import { connectorStorageOf } from "../../src/storage/connector-storage.ts";
import { backends, openTestDatabase } from "../support/backends.ts";
import { demoTenant, testConfig } from "../support/pgb.ts";

const KAKAOPAY = { secretKey: "DEVmigrationtest0123456789", cid: "TC0ONETIME", apiBase: "http://127.0.0.1:9" };

async function tables(database: DatabaseHandle): Promise<Set<string>> {
  const rows = await sql<{ tablename: string }>`SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`.execute(database.db);
  return new Set(rows.rows.map((r) => r.tablename));
}

async function applied(database: DatabaseHandle): Promise<string[]> {
  return (await database.db.selectFrom("pgb_migrations").select("name").orderBy("name").execute()).map((r) => r.name);
}

/** One start of PGB on `database` with `tenants`, stopped again (the database stays). */
async function start(database: DatabaseHandle, tenants: Record<string, unknown>): Promise<void> {
  const pgb = await buildApp({ config: testConfig("http://127.0.0.1:8080", { tenants }), database, factories: CONNECTOR_FACTORIES });
  await pgb.app.close();
}

for (const backend of backends()) {
  describe(`connector migrations on ${backend}`, () => {
    it("a configuration without KAKAOPAY leaves no kakaopay table; adding a KAKAOPAY tenant and restarting creates it", async () => {
      const database = await openTestDatabase(backend);
      try {
        await start(database, { DEMO: demoTenant() });
        let found = await tables(database);
        assert.ok(found.has("payments"), "core migrations always run");
        assert.ok(found.has("test_pg_payments"), "the TEST PG is configured: its tables are there");
        for (const table of ["kakaopay_checkouts", "toss_checkouts", "toss_cancels", "paypal_closed_orders"])
          assert.ok(!found.has(table), `${table} without a tenant configuring its PG`);
        assert.ok(!(await applied(database)).some((name) => name.startsWith("kakaopay-")));

        const withKakaoPay = {
          DEMO: demoTenant(),
          KSHOP: demoTenant({ apiKeys: ["key-kshop-1"], routes: [{ nationCode: "KR", payType: "EASY_PAY", pg: "KAKAOPAY" }], pgs: { KAKAOPAY } }),
        };
        await start(database, withKakaoPay);
        found = await tables(database);
        assert.ok(found.has("kakaopay_checkouts"), "a KAKAOPAY tenant was added: its table was made at the start");
        assert.ok(!found.has("toss_checkouts"));
        assert.ok((await applied(database)).includes("kakaopay-1"));

        // The connector's narrow store reaches its table through PGB's own connections.
        const store = connectorStorageOf(database.db).forTables<{ kakaopay_checkouts: { payment_reference: string } }>();
        assert.deepEqual(await store.db.selectFrom("kakaopay_checkouts").select("payment_reference").execute(), []);
        assert.equal(await store.transaction(async (trx) => (await trx.selectFrom("kakaopay_checkouts").select("payment_reference").execute()).length), 0);

        // The tenant goes away again: its table stays (forward only), and PGB starts as before.
        await start(database, { DEMO: demoTenant() });
        assert.ok((await tables(database)).has("kakaopay_checkouts"));

        // A TOSS tenant arrives while KAKAOPAY is gone: Toss's migrations run beside kakaopay-1, which
        // stays recorded though no tenant brings it (as the TEST PG's do in a template-made folder).
        const TOSS = { secretKey: "test_sk_migrationtest", clientKey: "test_ck_migrationtest" };
        await start(database, {
          DEMO: demoTenant(),
          TSHOP: demoTenant({ apiKeys: ["key-tshop-1"], routes: [{ nationCode: "KR", payType: "CARD", pg: "TOSS" }], pgs: { TOSS } }),
        });
        found = await tables(database);
        assert.ok(found.has("toss_checkouts"), "a TOSS tenant was added: its tables were made");
        assert.ok(found.has("kakaopay_checkouts"));
        assert.ok((await applied(database)).includes("kakaopay-1"));
      } finally {
        await database.close();
      }
    });
  });
}
