/**
 * Starts PGB: `npm start`. Embedded PGlite in PGB_DATA_DIR unless DATABASE_URL names a PostgreSQL.
 */
import { ConfigError, loadConfig } from "./config/config.ts";
import { buildApp, createLogger } from "./app.ts";
import { openDatabase } from "./storage/database.ts";

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
  const database = await openDatabase(
    config.databaseUrl ? { kind: "postgres", url: config.databaseUrl.reveal() } : { kind: "pglite", dataDir: config.dataDir },
  );
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
    { address, database: database.kind, dataDir: database.kind === "pglite" ? config.dataDir : undefined, config: config.configPath, startupMs: Math.round(performance.now() - startedAt) },
    "PGB ready",
  );
  if (config.demoHost) logger.info(`demo shop: ${config.publicUrl}/demo`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "PGB stopping: no new requests, finishing those in flight");
    await pgb.app.close();
    await database.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((error: unknown) => {
  process.stderr.write(`PGB failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
