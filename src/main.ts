/**
 * Starts PGB: `npm start`. Embedded PGlite in PGB_DATA_DIR unless DATABASE_URL names a PostgreSQL.
 */
import { fileURLToPath } from "node:url";
import { ConfigError, loadConfig } from "./config/config.ts";
import { createLogger } from "./logging.ts";
import { CONNECTOR_FACTORIES } from "./connectors/registry.ts";
import { everyConnectorMigration } from "./connectors/factory.ts";
import { allMigrations, openDatabase } from "./storage/database.ts";

const startedAt = performance.now();

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`PGB cannot start: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  // A built PGB (dist/) has a migrated database template beside it: a new data folder starts as a copy.
  const template = {
    dir: fileURLToPath(new URL("./pglite-template", import.meta.url)),
    migrations: allMigrations(everyConnectorMigration(CONNECTOR_FACTORIES)),
  };
  const opening = openDatabase(
    config.databaseUrl
      ? { kind: "postgres", url: config.databaseUrl.reveal() }
      : {
          kind: "pglite",
          dataDir: config.dataDir,
          template,
          onTemplateSkipped: (problem) => (problem.kind === "stale" ? logger.warn(problem.reason) : logger.debug(problem.reason)),
        },
  );
  // The HTTP side and the workers (Fastify, its plugins, the routes: most of the module loading) load
  // while the database opens: a new data folder is copied from the template on libuv's threads, and
  // PGlite waits on its files and its WASM compiling, time the loading fills.
  const [database, { buildApp }, { startWorkers }] = await Promise.all([opening, import("./app.ts"), import("./workers/index.ts")]);
  let pgb;
  try {
    pgb = await buildApp({ config, database, logger });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`PGB cannot start: ${error.message}\n`);
      await database.close();
      process.exit(2);
    }
    throw error;
  }
  const address = await pgb.app.listen({ port: config.port, host: config.host });
  logger.info(
    {
      address,
      database: database.kind,
      dataDir: database.kind === "pglite" ? config.dataDir : undefined,
      config: config.configPath,
      startupMs: Math.round(performance.now() - startedAt),
    },
    "PGB ready",
  );
  if (config.demoHost) logger.info(`demo shop: ${config.publicUrl}/demo`);
  // Signal handlers go in before the workers' start is awaited: a SIGTERM that arrives once the
  // process is ready (listening) must stop it cleanly, not kill it by the signal's default action.
  const workers = startWorkers(pgb, config.workers);
  workers.catch((error: unknown) => {
    process.stderr.write(`PGB could not start its workers: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "PGB stopping: no new requests, finishing those in flight and the claimed deliveries");
    // A second signal, or a hang past the grace period, ends the process anyway: whatever is still
    // claimed then is released by its lease running out, and another PGB process takes it over.
    const hardStop = setTimeout(() => {
      logger.warn("PGB did not stop in time; exiting");
      process.exit(1);
    }, config.workers.notifications.timeoutMs + 15_000);
    hardStop.unref();
    try {
      await Promise.all([pgb.app.close(), workers.then((w) => w.stop())]);
      await database.close();
    } catch (error) {
      logger.error({ err: (error as Error).message }, "error while stopping");
      process.exit(1);
    }
    logger.info("PGB stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => (stopping ? process.exit(1) : void stop("SIGTERM")));
  process.on("SIGINT", () => (stopping ? process.exit(1) : void stop("SIGINT")));
}

main().catch((error: unknown) => {
  process.stderr.write(`PGB failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
