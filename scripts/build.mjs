// npm run build: compiles src/ to dist/ (tsc), copies the other files under src/, then makes dist/pglite-template.tar.gz, an embedded
// database with every migration applied, from which a new data folder starts instead of running
// initdb and the migrations (seconds saved on a first start).
import { spawnSync } from "node:child_process";
import { cpSync, rmSync, writeFileSync } from "node:fs";

rmSync("dist", { recursive: true, force: true });
const tsc = spawnSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
// Files the code reads at run time beside itself (the console's CSS and script).
cpSync("src", "dist", { recursive: true, filter: (path) => !path.endsWith(".ts") });

const { openDatabase, migrate } = await import("../dist/storage/database.js");
const { CONNECTOR_FACTORIES } = await import("../dist/connectors/registry.js");
const database = await openDatabase({ kind: "pglite" });
await migrate(database.db, Object.assign({}, ...CONNECTOR_FACTORIES.map((f) => f.migrations ?? {})));
const tarball = await database.pglite.dumpDataDir("gzip");
writeFileSync("dist/pglite-template.tar.gz", Buffer.from(await tarball.arrayBuffer()));
await database.close();
console.log(`dist/ built; embedded database template ${(tarball.size / 1024 / 1024).toFixed(1)} MiB`);
