/**
 * Two PGB apps with their workers on one PostgreSQL database, in one process: they share the outbox
 * without sending anything twice, and the timed reconciler runs in one of them at a time.
 * PostgreSQL only (PGlite is one process's embedded database).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { buildApp } from "../../src/app.ts";
import { openDatabase } from "../../src/storage/database.ts";
import { startWorkers, type RunningWorkers } from "../../src/workers/index.ts";
import { paidOrder } from "../support/checkout.ts";
import { freePort, testConfig, type TestPgb } from "../support/pgb.ts";
import { scratchDatabase, type ScratchDatabase } from "../support/scratch.ts";
import { eventually, FakeHost, FAST, tenantsNotifying } from "./support.ts";

const adminUrl = process.env.TEST_DATABASE_URL;

describe("two PGB instances on one PostgreSQL", { skip: adminUrl === undefined ? "set TEST_DATABASE_URL to run it" : false }, () => {
  let scratch: ScratchDatabase | undefined;
  const host = new FakeHost();
  const instances: Array<TestPgb & { workers: RunningWorkers }> = [];

  before(async () => {
    scratch = await scratchDatabase(adminUrl!, "pgb_two");
    await host.up();
    for (let i = 0; i < 2; i++) {
      const database = await openDatabase({ kind: "postgres", url: scratch.url });
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const pgb = await buildApp({ config: testConfig(base, { tenants: tenantsNotifying(host.url) }), database });
      await pgb.app.listen({ port, host: "127.0.0.1" });
      const workers = await startWorkers(pgb, { ...FAST, reconciler: { ...FAST.reconciler, intervalMs: 60_000 } });
      instances.push({
        ...pgb,
        url: base,
        workers,
        async close() {
          await workers.stop();
          await pgb.app.close();
          await database.close();
        },
      });
    }
  });

  after(async () => {
    for (const instance of instances) await instance.close();
    await host.down();
    await scratch?.drop();
  });

  it("delivers each notification exactly once between them when nothing crashes", async () => {
    const orders = await Promise.all(Array.from({ length: 20 }, (_, i) => paidOrder(instances[i % 2]!, { TotalPrice: "1500" })));
    await eventually("all delivered", async () => orders.every(({ orderId }) => host.acceptedFor(orderId).length === 1));
    const forOrders = host.requests.filter((r) => orders.some((o) => o.orderId === r.orderId));
    assert.equal(forOrders.length, 20, "no notification sent twice");
  });

  it("runs the timed reconciliation pass in one instance at a time (advisory lock)", async () => {
    const [first, second] = instances;
    const holder = await first!.database.pool!.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1)", [0x504742_0001n.toString()]);
      assert.equal(await second!.reconciler.runPassAsLeader(), undefined, "the other instance holds the lock: no pass");
      await holder.query("SELECT pg_advisory_unlock($1)", [0x504742_0001n.toString()]);
      assert.ok(Array.isArray(await second!.reconciler.runPassAsLeader()), "lock free: the pass runs");
    } finally {
      holder.release();
    }
  });
});
