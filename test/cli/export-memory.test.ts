/**
 * `pgb export` of 100,000 payments keeps memory flat: the heap (measured after a forced collection
 * at every batch) grows by a small fraction of what holding the rows would take. Prints the figures.
 * Also checks that the keyset batches return every row exactly once, in order, even where many rows
 * share a creation time to the microsecond.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { sql } from "kysely";
import { exportRows } from "../../src/cli/export-command.ts";
import { migrate, type DatabaseHandle } from "../../src/storage/database.ts";
import { backends, openTestDatabase } from "../support/backends.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const ROWS = 100_000;
const MiB = 1024 * 1024;

for (const backend of backends()) {
  describe(`export of ${ROWS} payments on ${backend}`, () => {
    let database: DatabaseHandle;
    before(async () => {
      database = await openTestDatabase(backend);
      await migrate(database.db);
      // Ten rows per creation time: the cursor must not lose or repeat rows that tie on created_at.
      await sql`
        INSERT INTO payments (id, tenant, order_id, joiner_id, pay_type, nation_code, currency, amount, description,
                              host_redirect_url, request_fingerprint, pg, pg_transaction_id, status, expires_at, paid_at, created_at)
        SELECT 'pay_seed_' || lpad(n::text, 7, '0'), CASE WHEN n % 4 = 0 THEN 'OTHER' ELSE 'SHOP' END, n, 7, 'CARD', 'KR', 'KRW',
               1000 + n, 'seeded order with a description long enough to weigh something', 'https://shop.example.com/done',
               'fp', 'TEST', 'tx_' || n, 'PAID', now(), now(), timestamptz '2026-11-01T00:00:00Z' + ((n / 10) || ' seconds')::interval
        FROM generate_series(1, ${ROWS}) AS n`.execute(database.db);
    });
    after(async () => database?.close());

    it("streams every row once, in order, with the heap flat", async () => {
      let bytes = 0;
      let lines = 0;
      let lastId = "";
      let ordered = true;
      let pending = "";
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          pending += chunk.toString();
          const parts = pending.split("\n");
          pending = parts.pop()!;
          for (const line of parts) {
            const id = (JSON.parse(line) as { PaymentId: string }).PaymentId;
            if (id <= lastId) ordered = false;
            lastId = id;
            lines++;
          }
          setImmediate(done); // a slow consumer: the export must wait for it
        },
      });
      gc();
      const baseline = process.memoryUsage().heapUsed;
      let peak = baseline;
      const filter = { from: new Date("2026-11-01T00:00:00Z"), to: new Date("2026-12-01T00:00:00Z") };
      const written = await exportRows(database.db, "payments", filter, "jsonl", sink, (n) => {
        if (n % 10_000 === 0) {
          gc();
          peak = Math.max(peak, process.memoryUsage().heapUsed);
        }
      });
      assert.equal(written, ROWS);
      assert.equal(lines, ROWS);
      assert.ok(ordered, "rows come out in (created_at, id) order, none repeated");
      const growth = peak - baseline;
      console.log(
        `# export of ${ROWS} payments on ${backend}: ${(bytes / MiB).toFixed(1)} MiB written, heap ${(baseline / MiB).toFixed(1)} MiB before, peak +${(growth / MiB).toFixed(1)} MiB during`,
      );
      // Holding every row (as rows or as output) would grow the heap by more than the output's size.
      assert.ok(growth < Math.min(16 * MiB, bytes / 4), `heap grew ${(growth / MiB).toFixed(1)} MiB while writing ${(bytes / MiB).toFixed(1)} MiB`);
    });

    it("filters by tenant and by time window", async () => {
      const count = async (filter: Parameters<typeof exportRows>[2]) => {
        let n = 0;
        await exportRows(database.db, "payments", filter, "jsonl", new Writable({ write: (_c, _e, done) => done() }), (w) => (n = w));
        return n;
      };
      assert.equal(await count({ from: new Date("2026-11-01T00:00:00Z"), to: new Date("2026-12-01T00:00:00Z"), tenant: "OTHER" }), ROWS / 4);
      // The first 100 seconds hold n = 1..999 (n / 10 < 100).
      assert.equal(await count({ from: new Date("2026-11-01T00:00:00Z"), to: new Date("2026-11-01T00:01:40Z") }), 999);
    });
  });
}
