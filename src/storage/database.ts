/**
 * Opens PGB's database: PostgreSQL when DATABASE_URL is set, otherwise PGlite (PostgreSQL compiled
 * to WASM) in a data folder. Both speak the same SQL, so one set of migrations serves both.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { Kysely, Migrator, PostgresDialect, sql, type Migration } from "kysely";
import type pg from "pg";
import type { Database } from "./schema.ts";
import { shareDriverOf, SharedDriverDialect } from "./connector-storage.ts";
import { namingPool } from "./named-statements.ts";
import { seedDataDir, templateProblem, type PgliteTemplate, type TemplateProblem } from "./pglite-template.ts";
import * as core0001 from "./migrations/0001-core.ts";
import * as delivery0002 from "./migrations/0002-delivery.ts";
import * as retention0004 from "./migrations/0004-webhook-retention.ts";
import * as console0005 from "./migrations/0005-console.ts";
import * as leases0006 from "./migrations/0006-leases.ts";
import * as ship0007 from "./migrations/0007-ship.ts";
import * as recovery0008 from "./migrations/0008-recovery.ts";
import * as bornClaims0010 from "./migrations/0010-born-claims.ts";

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

export type DatabaseTarget =
  | { kind: "postgres"; url: string; poolSize?: number }
  | {
      kind: "pglite";
      dataDir?: string;
      /** A migrated data folder (made by `npm run build`) a new data folder starts as a copy of, instead of initdb. */
      template?: PgliteTemplate;
      /** Told why a template was not used (absent, or stale). */
      onTemplateSkipped?: (problem: TemplateProblem) => void;
    };

export async function openDatabase(target: DatabaseTarget): Promise<DatabaseHandle> {
  if (target.kind === "postgres") {
    // Loaded only here: an embedded start does without the driver's module loading.
    const { default: pg } = await import("pg");
    // BIGINT stays exact: node-postgres returns it as a string and the repositories make a bigint of it.
    pg.types.setTypeParser(pg.types.builtins.INT8, (value) => value);
    const pool = new pg.Pool({ connectionString: target.url, max: target.poolSize ?? 10 });
    // An idle connection dropped by the server (restart, failover) must not crash PGB: the pool
    // replaces it on next use. Without this handler node-postgres rethrows it as uncaught.
    pool.on("error", (error) => process.emitWarning(`PostgreSQL connection lost: ${error.message}`));
    const dialect = new SharedDriverDialect(new PostgresDialect({ pool: namingPool(pool) }));
    const db = new Kysely<Database>({ dialect });
    shareDriverOf(db, dialect);
    return {
      db,
      kind: "postgres",
      pool,
      close: () => db.destroy(),
    };
  }
  if (target.dataDir !== undefined) mkdirSync(target.dataDir, { recursive: true });
  // Loaded only here: a PostgreSQL process starts (and restarts) without PGlite's 0.3 s of module loading.
  const modules = Promise.all([import("@electric-sql/pglite"), import("kysely-pglite-dialect"), import("@electric-sql/pglite/nodefs")]);
  let seeding: Promise<void> | undefined;
  if (target.dataDir !== undefined && target.template !== undefined && !existsSync(join(target.dataDir, "PG_VERSION"))) {
    const problem = templateProblem(target.template);
    if (problem === undefined) seeding = seedDataDir(target.template, target.dataDir);
    else target.onTemplateSkipped?.(problem);
    // Awaited below (and by PGlite); this only keeps a failed copy from also counting as unhandled.
    seeding?.catch(() => undefined);
  }
  const [{ PGlite }, { PGliteDialect }, { NodeFS }] = await modules;
  let pglite: PGlite;
  if (target.dataDir === undefined) pglite = new PGlite();
  else if (seeding === undefined) pglite = new PGlite(target.dataDir);
  else {
    // PGlite prepares itself (its file bundle, its WASM) while the template is still being copied: it
    // looks into the data folder (PG_VERSION: resume or initdb) only after initialSyncFs, which waits
    // for the copy to be complete. Its node file system reads the folder from disk at each access.
    const copied = seeding;
    const fs = new (class extends NodeFS {
      override async initialSyncFs(): Promise<void> {
        await copied;
        await super.initialSyncFs();
      }
    })(target.dataDir);
    pglite = new PGlite({ dataDir: target.dataDir, fs });
  }
  await pglite.waitReady;
  await seeding;
  const dialect = new SharedDriverDialect(new PGliteDialect(pglite));
  const db = new Kysely<Database>({ dialect });
  shareDriverOf(db, dialect);
  return { db, kind: "pglite", pglite, close: () => db.destroy() };
}

/** Core migrations plus any a connector brings (a fake PG's own records, say). */
export function allMigrations(extra: Record<string, Migration> = {}): Record<string, Migration> {
  return {
    "0001-core": core0001,
    "0002-delivery": delivery0002,
    "0004-webhook-retention": retention0004,
    "0005-console": console0005,
    "0006-leases": leases0006,
    "0007-ship": ship0007,
    "0008-recovery": recovery0008,
    "0010-born-claims": bornClaims0010,
    ...extra,
  };
}

/** The names recorded in pgb_migrations; none for a new database (no migrations table yet). */
async function recordedMigrations(db: Db): Promise<Set<string>> {
  const table = await sql<{ found: string | null }>`SELECT to_regclass('pgb_migrations')::text AS found`.execute(db);
  if (table.rows[0]?.found == null) return new Set();
  const applied = await sql<{ name: string }>`SELECT name FROM pgb_migrations`.execute(db);
  return new Set(applied.rows.map((r) => r.name));
}

/** The names of the migrations applied, in order; none for a new database (no migrations table yet). */
export async function appliedMigrations(db: Db): Promise<string[]> {
  try {
    const rows = await db.selectFrom("pgb_migrations").select("name").orderBy("name").execute();
    return rows.map((r) => r.name);
  } catch {
    return []; // a new database: no migrations table yet
  }
}

/** Whether the database answers and has been migrated (GET /health/ready). */
export async function isReady(db: Db): Promise<boolean> {
  try {
    await db
      .selectFrom("pgb_migrations")
      .select((eb) => eb.fn.countAll().as("n"))
      .execute();
    return true;
  } catch {
    return false;
  }
}

export async function migrate(db: Db, extra: Record<string, Migration> = {}): Promise<void> {
  const migrations = allMigrations(extra);
  // The usual start finds nothing to do: two small queries instead of the migrator's catalogue
  // introspection and lock (a fifth of an embedded start). Anything missing goes through the migrator.
  const recorded = await recordedMigrations(db);
  if (Object.keys(migrations).every((name) => recorded.has(name))) return;
  // A migration recorded here that this run does not bring never runs again: a PG no tenant configures
  // any more (its tables stay), the TEST PG's from the embedded template, or a newer version's during a
  // rolling deploy. A no-op stands in for it, or the migrator would call the history corrupt.
  const provided: Record<string, Migration> = { ...migrations };
  for (const name of recorded) if (!Object.hasOwn(provided, name)) provided[name] = { up: () => Promise.resolve() };
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(provided) },
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
