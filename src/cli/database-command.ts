/** `pgb migrate`: applies the pending migrations (forward only) to the configured database. */
import type { Command } from "commander";
import { configFor, connectorMigrations, databaseFor, globalOptions, print } from "./context.ts";
import { appliedMigrations, migrate } from "../storage/database.ts";

export function registerDatabaseCommands(program: Command): void {
  program
    .command("migrate")
    .description("apply pending database migrations (forward only; the server also applies them at start)")
    .action(async (_options, command: Command) => {
      const options = globalOptions(command);
      const config = configFor(options);
      const database = await databaseFor(config, { migrate: false });
      try {
        const before = await appliedMigrations(database.db);
        await migrate(database.db, connectorMigrations(config));
        const after = await appliedMigrations(database.db);
        const applied = after.filter((name) => !before.includes(name));
        print(options, { database: database.kind, applied, total: after.length }, () =>
          applied.length === 0 ? `up to date (${after.length} migrations)` : `applied ${applied.join(", ")} (${after.length} migrations)`,
        );
      } finally {
        await database.close();
      }
    });
}
