/**
 * `pgb`, the command line for operating PGB: `npx pgb --help`. One file per command group; every
 * command takes the server's configuration (PGB_CONFIG, DATABASE_URL, PGB_DATA_DIR or --config).
 * Exit codes: 0 done, 1 not found or failed, 2 bad usage or configuration.
 */
import { CommanderError } from "commander";
import { CliError, EXIT } from "./context.ts";
import { buildProgram } from "./program.ts";

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === "commander.helpDisplayed" || error.code === "commander.help" || error.code === "commander.version" ? EXIT.OK : EXIT.USAGE;
    }
    if (error instanceof CliError) {
      process.stderr.write(`pgb: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`pgb: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT.FAILED;
  }
}

process.exitCode = await main(process.argv);
