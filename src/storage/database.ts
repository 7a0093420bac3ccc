/**
 * Opens PGB's database: PostgreSQL when DATABASE_URL is set, otherwise PGlite (PostgreSQL compiled
 * to WASM) in a data folder. Both speak the same SQL, so one set of migrations serves both.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { Kysely, Migrator, PostgresDialect, type Migration } from "kysely";
import pg from "pg";
import type { Database } from "./schema.ts";
import * as core0001 from "./migrations/0001-core.ts";
import * as delivery0002 from "./migrations/0002-delivery.ts";
import * as retention0004 from "./migrations/0004-webhook-retention.ts";
import * as console0005 from "./migrations/0005-console.ts";
import * as leases0006 from "./migrations/0006-leases.ts";
import * as ship0007 from "./migrations/0007-ship.ts";

export type Db = Kysely<Database>;

export interface DatabaseHandle {
  db: Db;
  kind: "postgres" | "pglite";
  /** Present on PostgreSQL: a pool for LISTEN/NOTIFY and advisory locks outside Kysely. */
  pool?: pg.Pool;
  /** Present on PGlite: the embedded database, for its in-process LISTEN. */
  pglite?: PGlite;
  close(): Promise<void>;
}

export type DatabaseTarget = { kind: "postgres"; url: string; poolSize?: number } | {
      kind: "pglite";
      dataDir?: string;
      /** A `dumpDataDir` tarball (made by `npm run build`) to start a new data folder from instead of initdb. */
      template?: string;
    };

// BIGINT stays exact: node-postgres returns it as a string and the repositories make a bigint of it.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => value);

export async function openDatabase(target: DatabaseTarget): Promise<DatabaseHandle> {
  if (target.kind === "postgres") {
    const pool = new pg.Pool({ connectionString: target.url, max: target.poolSize ?? 10 });
    // An idle connection dropped by the server (restart, failover) must not crash PGB: the pool
    // replaces it on next use. Without this handler node-postgres rethrows it as uncaught.
    pool.on("error", (error) => process.emitWarning(`PostgreSQL connection lost: ${error.message}`));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return {
      db,
      kind: "postgres",
      pool,
      close: () => db.destroy(),
    };
  }
  if (target.dataDir !== undefined) mkdirSync(target.dataDir, { recursive: true });
  const fresh = target.dataDir !== undefined && !existsSync(join(target.dataDir, "PG_VERSION"));
  const template = fresh && target.template !== undefined && existsSync(target.template) ? new Blob([readFileSync(target.template)]) : undefined;
  // Loaded only here: a PostgreSQL process starts (and restarts) without PGlite's 0.3 s of module loading.
  const [{ PGlite }, { PGliteDialect }] = await Promise.all([import("@electric-sql/pglite"), import("kysely-pglite-dialect")]);
  const pglite = target.dataDir === undefined ? new PGlite() : new PGlite(target.dataDir, template ? { loadDataDir: template } : {});
  await pglite.waitReady;
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return { db, kind: "pglite", pglite, close: () => db.destroy() };
}

/** Core migrations plus any a connector brings (a fake PG's own records, say). */
export async function migrate(db: Db, extra: Record<string, Migration> = {}): Promise<void> {
  const migrations: Record<string, Migration> = {
    "0001-core": core0001,
    "0002-delivery": delivery0002,
    "0004-webhook-retention": retention0004,
    "0005-console": console0005,
    "0006-leases": leases0006,
    "0007-ship": ship0007,
    ...extra,
  };
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    allowUnorderedMigrations: true,
    migrationTableName: "pgb_migrations",
    migrationLockTableName: "pgb_migrations_lock",
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error !== undefined || failed !== undefined) {
    throw new Error(`migration ${failed?.migrationName ?? ""} failed: ${String((error as Error | undefined)?.message ?? error)}`);
  }
}
