/**
 * The databases the suite runs on: PGlite always; PostgreSQL too when TEST_DATABASE_URL is set (CI
 * sets it). Each PGB under test gets a database of its own, dropped afterwards.
 */
import { openDatabase, type DatabaseHandle } from "../../src/storage/database.ts";
import { scratchDatabase } from "./scratch.ts";

export type Backend = "pglite" | "postgres";

export function backends(): Backend[] {
  return process.env.TEST_DATABASE_URL ? ["pglite", "postgres"] : ["pglite"];
}

export async function openTestDatabase(backend: Backend): Promise<DatabaseHandle> {
  if (backend === "pglite") return openDatabase({ kind: "pglite" });
  const scratch = await scratchDatabase(process.env.TEST_DATABASE_URL!);
  const handle = await openDatabase({ kind: "postgres", url: scratch.url, poolSize: 20 });
  return {
    ...handle,
    async close() {
      await handle.close();
      await scratch.drop();
    },
  };
}
