/**
 * The embedded-database template: a new data folder starts as a copy of a migrated folder, migrations
 * the template lacks still run on top, and a template that does not match the code's migrations is
 * not used (the folder gets initdb and the migrations instead).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql, type Kysely, type Migration } from "kysely";
import { allMigrations, migrate, openDatabase } from "../../src/storage/database.ts";
import { migrationKeys, templateProblem, writeTemplateManifest, type TemplateProblem } from "../../src/storage/pglite-template.ts";

/** A migration only the template has: tells a copied folder from one made by initdb. */
const marker: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`CREATE TABLE template_marker (made_by text)`.execute(db);
    await sql`INSERT INTO template_marker VALUES ('template')`.execute(db);
  },
};
const laterMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`CREATE TABLE later_table (id int)`.execute(db);
  },
};

async function tables(
  dataDir: string,
  options: { template?: { dir: string; migrations: Record<string, Migration> }; skipped?: TemplateProblem[]; extra?: Record<string, Migration> },
) {
  const database = await openDatabase({ kind: "pglite", dataDir, template: options.template, onTemplateSkipped: (p) => options.skipped?.push(p) });
  try {
    await migrate(database.db, options.extra ?? {});
    const result = await sql<{ tablename: string }>`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`.execute(database.db);
    const applied = await sql<{ name: string }>`SELECT name FROM pgb_migrations ORDER BY name`.execute(database.db);
    return { tables: new Set(result.rows.map((r) => r.tablename)), applied: applied.rows.map((r) => r.name) };
  } finally {
    await database.close();
  }
}

describe("embedded database template", () => {
  const root = mkdtempSync(join(tmpdir(), "pgb-template-"));
  const templateDir = join(root, "template");
  const withMarker = { ...allMigrations(), "zz-marker": marker };
  after(() => rmSync(root, { recursive: true, force: true }));

  before(async () => {
    const database = await openDatabase({ kind: "pglite", dataDir: templateDir });
    await migrate(database.db, { "zz-marker": marker });
    await database.close();
    writeTemplateManifest(templateDir, withMarker);
  });

  it("starts a new data folder as a copy of the template, and runs newer migrations on top", async () => {
    const skipped: TemplateProblem[] = [];
    const dataDir = join(root, "new");
    const code = { ...withMarker, "zz-later": laterMigration };
    const { tables: found, applied } = await tables(dataDir, {
      template: { dir: templateDir, migrations: code },
      skipped,
      extra: { "zz-marker": marker, "zz-later": laterMigration },
    });
    assert.deepEqual(skipped, []);
    assert.ok(found.has("template_marker"), "the folder is the template's copy");
    assert.ok(found.has("later_table"), "a migration newer than the template ran on top");
    assert.ok(found.has("payments"));
    assert.deepEqual(applied, Object.keys(code).sort());
    // Reopened, it is an existing folder like any other: nothing copied over it, nothing to migrate.
    const again = await tables(dataDir, {
      template: { dir: templateDir, migrations: code },
      skipped,
      extra: { "zz-marker": marker, "zz-later": laterMigration },
    });
    assert.deepEqual(again.applied, applied);
    assert.deepEqual(skipped, []);
  });

  it("does not use a template holding a migration the code does not have, or has changed", async () => {
    const changedMarker: Migration = { up: async (db) => void (await sql`CREATE TABLE template_marker (made_by text, changed int)`.execute(db)) };
    const stale = templateProblem({ dir: templateDir, migrations: { ...allMigrations(), "zz-marker": changedMarker } });
    assert.equal(stale?.kind, "stale");
    assert.match(stale!.reason, /zz-marker/);

    const skipped: TemplateProblem[] = [];
    const { tables: found } = await tables(join(root, "stale"), { template: { dir: templateDir, migrations: allMigrations() }, skipped });
    assert.equal(skipped[0]?.kind, "stale");
    assert.ok(!found.has("template_marker"), "initdb and the code's own migrations made this folder");
    assert.ok(found.has("payments"));
  });

  it("reports a missing template as absent, and a manifest that lists nothing as stale", () => {
    assert.equal(templateProblem({ dir: join(root, "nowhere"), migrations: allMigrations() })?.kind, "absent");
    const manifest = `${templateDir}.json`;
    const kept = readFileSync(manifest, "utf8");
    try {
      writeFileSync(manifest, "{}");
      assert.equal(templateProblem({ dir: templateDir, migrations: withMarker })?.kind, "stale");
    } finally {
      writeFileSync(manifest, kept);
    }
    assert.equal(templateProblem({ dir: templateDir, migrations: withMarker }), undefined);
    assert.deepEqual(JSON.parse(kept).migrations, migrationKeys(withMarker));
  });
});
