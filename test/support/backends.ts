/**
 * The databases the suite runs on: PGlite always; PostgreSQL too when TEST_DATABASE_URL is set (CI
 * sets it). Each PGB under test gets a database of its own, dropped afterwards.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type DatabaseHandle } from "../../src/storage/database.ts";

export type Backend = "pglite" | "postgres";

export function backends(): Backend[] {
  return process.env.TEST_DATABASE_URL ? ["pglite", "postgres"] : ["pglite"];
}

export async function openTestDatabase(backend: Backend): Promise<DatabaseHandle> {
  if (backend === "pglite") return openDatabase({ kind: "pglite" });
  const adminUrl = process.env.TEST_DATABASE_URL!;
  const name = `pgb_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const handle = await openDatabase({ kind: "postgres", url: url.toString(), poolSize: 20 });
  return {
    ...handle,
    async close() {
      await handle.close();
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await cleanup.end();
    },
  };
}
