// npm run build: compiles src/ to dist/ (tsc), copies the other files under src/, then makes
// dist/pglite-template/, an embedded database with the core migrations (and the TEST PG's) applied,
// which a new data folder starts as a copy of instead of running initdb and the migrations (most of
// a first start), and
// dist/pglite-template.json, the migrations it holds (a template that no longer matches is not used).
import { spawnSync } from "node:child_process";
import { cpSync, rmSync } from "node:fs";

rmSync("dist", { recursive: true, force: true });
const tsc = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
// Files the code reads at run time beside itself (the console's CSS and script).
cpSync("src", "dist", { recursive: true, filter: (path) => !path.endsWith(".ts") });

const { allMigrations, openDatabase, migrate } = await import("../dist/storage/database.js");
const { writeTemplateManifest } = await import("../dist/storage/pglite-template.js");
const { CONNECTOR_FACTORIES } = await import("../dist/connectors/registry.js");
const { everyConnectorMigration } = await import("../dist/connectors/factory.js");
// The core migrations and the TEST PG's: the PG of the example configuration a newcomer starts with.
// Another PG's tables are made at the first start whose configuration names it (app.ts); a folder
// seeded from this template for a configuration without TEST keeps the TEST PG's two empty tables.
const extra = everyConnectorMigration(CONNECTOR_FACTORIES.filter((f) => f.pg === "TEST"));
const dir = "dist/pglite-template";
const database = await openDatabase({ kind: "pglite", dataDir: dir });
await migrate(database.db, extra);
// Closing (db.destroy closes PGlite) shuts the database down cleanly (a checkpoint), so a copy of the folder starts without recovery.
await database.close();
writeTemplateManifest(dir, allMigrations(extra));
console.log(`dist/ built, with an embedded database template (${Object.keys(allMigrations(extra)).length} migrations)`);
