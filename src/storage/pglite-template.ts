/**
 * A prepared embedded database: `npm run build` migrates an empty PGlite data folder once and keeps
 * it in dist/, and a new data folder starts as a copy of it instead of running initdb and every
 * migration (initdb alone is most of a first start). PGlite's own `loadDataDir` takes a tarball
 * through its in-WASM file system, several times slower than the operating system copying the folder.
 *
 * The template is keyed by the migrations it holds (name and a hash of each one's code): it is used
 * only when every migration in it is one this code has, unchanged, so a stale template is skipped
 * (with initdb as before) rather than silently giving a folder whose schema the code did not write.
 * Migrations the template lacks run forward on top of it, as on any existing folder.
 */
import { createHash } from "node:crypto";
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Migration } from "kysely";

/** `name:hash` of each migration, in name order: what a template was built from. */
export function migrationKeys(migrations: Record<string, Migration>): string[] {
  return Object.keys(migrations)
    .sort()
    .map((name) => `${name}:${createHash("sha256").update(migrations[name]!.up.toString()).digest("hex").slice(0, 16)}`);
}

export interface PgliteTemplate {
  /** A PGlite data folder with migrations applied, closed cleanly. */
  dir: string;
  /** The migrations this code has (core and connectors'), to check the template against. */
  migrations: Record<string, Migration>;
}

/** Beside the template folder (not in it, so that it is not copied into a data folder). */
function manifestPath(dir: string): string {
  return `${dir}.json`;
}

export function writeTemplateManifest(dir: string, migrations: Record<string, Migration>): void {
  writeFileSync(manifestPath(dir), `${JSON.stringify({ migrations: migrationKeys(migrations) }, null, 2)}\n`);
}

export interface TemplateProblem {
  /** `absent` is usual (`npm start` runs from the sources, with no build); `stale` is worth a warning. */
  kind: "absent" | "stale";
  reason: string;
}

/** Why `template` cannot seed a data folder for this code, or undefined when it can. */
export function templateProblem(template: PgliteTemplate): TemplateProblem | undefined {
  if (!existsSync(join(template.dir, "PG_VERSION")) || !existsSync(manifestPath(template.dir))) {
    return { kind: "absent", reason: `no database template at ${template.dir} (npm run build makes one)` };
  }
  let recorded: unknown;
  try {
    recorded = (JSON.parse(readFileSync(manifestPath(template.dir), "utf8")) as { migrations?: unknown }).migrations;
  } catch (error) {
    return { kind: "stale", reason: `database template manifest unreadable: ${(error as Error).message}` };
  }
  if (!Array.isArray(recorded)) return { kind: "stale", reason: "database template manifest lists no migrations" };
  const known = new Set(migrationKeys(template.migrations));
  const foreign = recorded.filter((key) => !known.has(String(key)));
  if (foreign.length > 0) {
    return { kind: "stale", reason: `database template holds migrations this code does not have, or has changed since (${foreign.join(", ")}); npm run build rebuilds it` };
  }
  return undefined;
}

/**
 * Copies the template into `dataDir`, which holds no database yet. PG_VERSION, by which PGlite tells
 * an existing database from a new one, is copied last: a copy cut short is not taken for a database,
 * and the next start copies again over it.
 */
export function seedDataDir(template: PgliteTemplate, dataDir: string): void {
  for (const entry of readdirSync(template.dir)) {
    if (entry === "PG_VERSION") continue;
    cpSync(join(template.dir, entry), join(dataDir, entry), { recursive: true });
  }
  copyFileSync(join(template.dir, "PG_VERSION"), join(dataDir, "PG_VERSION"));
}
