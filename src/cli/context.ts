/**
 * What every `pgb` command shares: the configuration (PGB_CONFIG or --config, with the same
 * environment as the server), the database it names, output as text or --json, and exit codes.
 */
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { ConfigError, loadConfig, type Config } from "../config/config.ts";
import { allMigrations, migrate, openDatabase, type DatabaseHandle } from "../storage/database.ts";
import { CONNECTOR_FACTORIES } from "../connectors/registry.ts";
import { everyConnectorMigration, migrationsFor } from "../connectors/factory.ts";

/** 0 done; 1 the thing asked about is missing or failed; 2 bad usage or configuration. */
export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAILED,
  ) {
    super(message);
  }
}

export interface GlobalOptions {
  config?: string;
  json?: boolean;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

export function configFor(options: GlobalOptions): Config {
  try {
    return loadConfig(options.config !== undefined ? { ...process.env, PGB_CONFIG: options.config } : process.env);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, EXIT.USAGE);
    throw error;
  }
}

/**
 * The database the configuration names. The embedded one serves one process at a time: stop the
 * server before pointing the command line at its data folder.
 */
export async function databaseFor(config: Config, options: { migrate: boolean } = { migrate: true }): Promise<DatabaseHandle> {
  const database = await openDatabase(
    config.databaseUrl
      ? { kind: "postgres", url: config.databaseUrl.reveal(), poolSize: 2 }
      : {
          kind: "pglite",
          dataDir: config.dataDir,
          template: { dir: fileURLToPath(new URL("../pglite-template", import.meta.url)), migrations: allMigrations(connectorMigrations()) },
          onTemplateSkipped: (problem) => {
            if (problem.kind === "stale") process.stderr.write(`warning: ${problem.reason}\n`);
          },
        },
  );
  if (options.migrate) await migrate(database.db, connectorMigrations(config));
  return database;
}

/** With a configuration, the migrations of the PGs its tenants configure (as the server runs them); without, every connector's. */
export function connectorMigrations(config?: Config) {
  return config === undefined ? everyConnectorMigration(CONNECTOR_FACTORIES) : migrationsFor(CONNECTOR_FACTORIES, config.tenants);
}

/** Prints `value` as JSON with --json, otherwise the text `human` renders. */
export function print(options: GlobalOptions, value: unknown, human: () => string): void {
  process.stdout.write(options.json ? JSON.stringify(value, null, 2) + "\n" : human() + "\n");
}

export function positiveInt(name: string) {
  return (value: string): number => {
    if (!/^[1-9][0-9]{0,9}$/.test(value) || Number(value) > 2_147_483_647) throw new CliError(`${name} must be a positive integer, not "${value}"`, EXIT.USAGE);
    return Number(value);
  };
}
