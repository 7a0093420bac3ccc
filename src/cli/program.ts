/** The `pgb` command tree; src/cli/main.ts runs it. */
import { Command } from "commander";
import { registerConfigCommands } from "./config-command.ts";
import { registerDatabaseCommands } from "./database-command.ts";
import { registerExportCommands } from "./export-command.ts";
import { registerNotificationCommands } from "./notifications-command.ts";
import { registerOperatorCommands } from "./operator-command.ts";
import { registerPaymentCommands } from "./payment-command.ts";

export function buildProgram(): Command {
  const program = new Command("pgb")
    .description("PGB, the Payment Gateway Bridge: operations from the command line")
    .option("-c, --config <file>", "configuration file (default: PGB_CONFIG, else config/pgb.example.json)")
    .option("--json", "print JSON, for scripts")
    .showHelpAfterError()
    .exitOverride();
  registerConfigCommands(program);
  registerDatabaseCommands(program);
  registerPaymentCommands(program);
  registerNotificationCommands(program);
  registerExportCommands(program);
  registerOperatorCommands(program);
  // Every subcommand: commander's usage errors exit 2, as ours do.
  for (const command of allCommands(program)) command.exitOverride();
  return program;
}

function allCommands(command: Command): Command[] {
  return command.commands.flatMap((c) => [c, ...allCommands(c)]);
}
