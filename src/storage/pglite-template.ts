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
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { copyFile, mkdir, readdir } from "node:fs/promises";
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
    return {
      kind: "stale",
      reason: `database template holds migrations this code does not have, or has changed since (${foreign.join(", ")}); npm run build rebuilds it`,
    };
  }
  return undefined;
}

/**
 * Copies the template into `dataDir`, which holds no database yet. PG_VERSION, by which PGlite tells
 * an existing database from a new one, is copied last: a copy cut short is not taken for a database,
 * and the next start copies again over it.
 *
 * Asynchronous, a few files at a time: the copying is the kernel's, on libuv's threads, so the
 * server loads its modules meanwhile instead of waiting for some forty megabytes to be written.
 * Every file is copied whole (no sparse tricks): the copy is byte for byte the template.
 */
export async function seedDataDir(template: PgliteTemplate, dataDir: string): Promise<void> {
  const files: Array<[string, string]> = [];
  const walk = async (from: string, to: string): Promise<void> => {
    await mkdir(to, { recursive: true });
    const entries = await readdir(from, { withFileTypes: true });
    await Promise.all(
      entries.map(async (entry) => {
        if (from === template.dir && entry.name === "PG_VERSION") return;
        if (entry.isDirectory()) await walk(join(from, entry.name), join(to, entry.name));
        else files.push([join(from, entry.name), join(to, entry.name)]);
      }),
    );
  };
  await walk(template.dir, dataDir);
  // The WAL segment (16 MiB, the largest by far) first, so that no thread is left copying it alone at the end.
  const wal = join(template.dir, "pg_wal");
  files.sort(([a], [b]) => Number(b.startsWith(wal)) - Number(a.startsWith(wal)));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const [from, to] = files[next++]!;
      await copyFile(from, to);
    }
  };
  await Promise.all(Array.from({ length: COPY_CONCURRENCY }, worker));
  await copyFile(join(template.dir, "PG_VERSION"), join(dataDir, "PG_VERSION"));
}

/** libuv's thread pool has four threads; more files in flight would only queue behind them. */
const COPY_CONCURRENCY = 4;
