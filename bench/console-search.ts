/**
 * The console's search on a million payments: `npm run bench:console [-- --payments N]`.
 *
 * Seeds a scratch PostgreSQL database (BENCH_DATABASE_URL, default the local server) through PGB's
 * own migrations with N payments (default 1,000,000) over 90 days, three tenants and three PGs, a
 * refund on one in ten, a virtual account on one in twenty; then times every search path of the
 * console's search box, the filtered and paged listings and the overview, printing the median, p95
 * and worst of repeated runs and the plan's access path. Figures only, no pass/fail on time; the
 * database is dropped afterwards.
 */
import { parseArgs } from "node:util";
import { sql, type Kysely } from "kysely";
import { openDatabase, migrate } from "../src/storage/database.ts";
import { CONNECTOR_FACTORIES } from "../src/connectors/registry.ts";
import { overview, searchPayments, searchQuery, type PaymentSearch } from "../src/storage/console-queries.ts";
import { benchDatabase } from "./lib.ts";
import type { Database } from "../src/storage/schema.ts";

const { values } = parseArgs({ options: { payments: { type: "string", default: "1000000" }, runs: { type: "string", default: "200" } } });
const N = Number(values.payments);
const RUNS = Number(values.runs);
const adminUrl = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

function progress(text: string): void {
  process.stdout.write(`\r${text}`.padEnd(70));
}

async function seed(db: Kysely<Database>): Promise<void> {
  const batch = 100_000;
  for (let start = 0; start < N; start += batch) {
    const end = Math.min(N, start + batch) - 1;
    await sql`
      INSERT INTO payments (id, tenant, order_id, joiner_id, pay_type, nation_code, currency, amount, description, host_redirect_url,
                            request_fingerprint, pg, pg_transaction_id, status, pg_details, expires_at, paid_at, created_at, updated_at)
      SELECT 'pay_b' || lpad(i::text, 9, '0'),
             (ARRAY['SHOP','OUTLET','GLOBAL'])[1 + i % 3],
             i / 3 + 1,
             (1 + (i::bigint * 7919) % 200000)::int,
             CASE WHEN i % 20 = 0 THEN 'VIRTUAL_ACCOUNT' ELSE 'CARD' END, 'KR', 'KRW', 1000 + (i % 500) * 100, 'bench', 'https://shop.example.com/done', 'bench',
             (ARRAY['TEST','STRIPE','TOSS'])[1 + (i / 3) % 3],
             'tx_b' || i,
             CASE WHEN i % 10 = 0 THEN 'PARTIALLY_CANCELLED' WHEN i % 10 IN (1,2) THEN 'FAILED' WHEN i % 10 = 3 THEN 'EXPIRED' WHEN i % 20 = 0 THEN 'WAITING_FOR_DEPOSIT' ELSE 'PAID' END,
             CASE WHEN i % 20 = 0 THEN jsonb_build_object('virtualAccount', jsonb_build_object('bank', 'BENCH', 'accountNumber', 'VA' || i, 'holderName', 'PGB', 'dueDate', '2030-01-01')) END,
             ts + interval '30 minutes',
             CASE WHEN i % 10 IN (1,2,3) THEN NULL ELSE ts + interval '20 seconds' END,
             ts, ts
      FROM (SELECT i, now() - (i::float8 / ${N}) * interval '90 days' AS ts FROM generate_series(${start}::int, ${end}::int) AS i) s`.execute(db);
    await sql`
      INSERT INTO money_movements (id, payment_id, kind, amount, status, balance_before, balance_after, pg_reference, created_at, updated_at)
      SELECT 'mm_b' || lpad(i::text, 9, '0'), 'pay_b' || lpad(i::text, 9, '0'), 'REFUND', 500, 'SUCCEEDED', 1000 + (i % 500) * 100, 500 + (i % 500) * 100, 'rf_b' || i,
             now() - (i::float8 / ${N}) * interval '90 days', now()
      FROM generate_series(${start}::int, ${end}::int) AS i WHERE i % 10 = 0`.execute(db);
    progress(`seeding: ${end + 1} / ${N} payments`);
  }
  process.stdout.write("\n");
  await sql`ANALYZE`.execute(db);
}

async function time(label: string, runs: number, query: (i: number) => Promise<unknown>, explain?: () => Promise<string>): Promise<void> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await query(i);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!.toFixed(2);
  const plan = explain ? `  ${await explain()}` : "";
  console.log(`${label.padEnd(44)} p50 ${at(0.5).padStart(8)} ms  p95 ${at(0.95).padStart(8)} ms  max ${at(1).padStart(8)} ms${plan}`);
}

async function main(): Promise<void> {
  const scratch = await benchDatabase(adminUrl);
  const handle = await openDatabase({ kind: "postgres", url: scratch.url, poolSize: 4 });
  const db = handle.db;
  try {
    console.log(`console search benchmark: ${N} payments on PostgreSQL ${scratch.version}, ${RUNS} runs per path`);
    await migrate(handle.db, Object.assign({}, ...CONNECTOR_FACTORIES.map((f) => f.migrations ?? {})));
    const seeded = performance.now();
    await seed(db);
    console.log(`seeded in ${((performance.now() - seeded) / 1000).toFixed(1)} s`);
    const pick = (i: number) => (i * 104_729) % N;
    const base: PaymentSearch = { allowedTenants: null, limit: 50 };
    // Which indexes the plan uses: every search path should name its own.
    const accessPath = (search: PaymentSearch) => async () => {
      const plan = (await searchQuery(db, search).explain()) as Array<{ "QUERY PLAN": string }>;
      const indexes = [
        ...new Set(plan.map((r) => /(?:Index(?: Only)? Scan(?: Backward)? using|Bitmap Index Scan on) (\S+)/.exec(r["QUERY PLAN"])?.[1]).filter(Boolean)),
      ];
      return indexes.length ? `via ${indexes.join(", ")}` : "(no index)";
    };
    const path = (label: string, runs: number, make: (i: number) => PaymentSearch) =>
      time(label, runs, (i) => searchPayments(db, make(i)), accessPath(make(7)));
    await path("search OrderId", RUNS, (i) => ({ ...base, q: String(((pick(i) / 3) | 0) + 1) }));
    await path("search PaymentId", RUNS, (i) => ({ ...base, q: `pay_b${String(pick(i)).padStart(9, "0")}` }));
    await path("search PG transaction id", RUNS, (i) => ({ ...base, q: `tx_b${pick(i)}` }));
    await path("search refund id", RUNS, (i) => ({ ...base, q: `mm_b${String(pick(i) - (pick(i) % 10)).padStart(9, "0")}` }));
    await path("search PG refund id", RUNS, (i) => ({ ...base, q: `rf_b${pick(i) - (pick(i) % 10)}` }));
    await path("search virtual account number", RUNS, (i) => ({ ...base, q: `VA${pick(i) - (pick(i) % 20)}` }));
    await path("search JoinerId (~5 payments each)", RUNS, (i) => ({ ...base, q: String(1 + (pick(i) % 200_000)) }));
    await path("list newest, first page", 50, () => base);
    await path("list tenant + PG + status, first page", 50, () => ({ ...base, tenant: "OUTLET", pg: "TOSS", status: "FAILED" }));
    await path("list tenant + a day 30 days ago", 50, () => ({
      ...base,
      tenant: "SHOP",
      from: new Date(Date.now() - 31 * 86_400_000),
      to: new Date(Date.now() - 30 * 86_400_000),
    }));
    let cursor: PaymentSearch["after"];
    for (let page = 0; page < 100; page++) cursor = (await searchPayments(db, { ...base, after: cursor })).next;
    await path("list newest, page 101 (keyset)", 50, () => ({ ...base, after: cursor }));
    const now = new Date();
    await time("overview 24 h (all tenants)", 10, () => overview(db, { from: new Date(now.getTime() - 86_400_000), to: now, allowedTenants: null }));
    await time("overview 7 d (all tenants)", 5, () => overview(db, { from: new Date(now.getTime() - 7 * 86_400_000), to: now, allowedTenants: null }));
  } finally {
    await handle.close();
    await scratch.drop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
