/**
 * `pgb operator create`: a console operator (the first admin, say), through the console's own
 * createOperator. The password comes from PGB_OPERATOR_PASSWORD or is asked for on the terminal,
 * never from an argument (which would land in the shell's history).
 */
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { createOperator, OperatorInputError, resetOperatorPassword, ROLES } from "../console/operators.ts";
import { CliError, configFor, databaseFor, EXIT, globalOptions, print } from "./context.ts";

async function askPassword(): Promise<string> {
  if (process.env.PGB_OPERATOR_PASSWORD) return process.env.PGB_OPERATOR_PASSWORD;
  if (!process.stdin.isTTY) throw new CliError("set PGB_OPERATOR_PASSWORD or run on a terminal", EXIT.USAGE);
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  // Echo the prompt, not what is typed.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
    if (s.includes("Password")) process.stdout.write(s);
  };
  const password = await rl.question("Password (12+ characters): ");
  rl.close();
  process.stdout.write("\n");
  return password;
}

export function registerOperatorCommands(program: Command): void {
  const group = program.command("operator").description("console operators");
  group
    .command("create")
    .description("create a console operator (password from PGB_OPERATOR_PASSWORD or asked for)")
    .requiredOption("--username <name>", "the operator's sign-in name")
    .option("--role <role>", ROLES.join(" | "), "admin")
    .option("--tenants <DBTypes>", "comma-separated; default every tenant")
    .option("--reset-password", "set a new password for an existing operator instead")
    .action(async (flags: { username: string; role: string; tenants?: string; resetPassword?: boolean }, command: Command) => {
      const options = globalOptions(command);
      const config = configFor(options);
      const database = await databaseFor(config);
      try {
        const password = await askPassword();
        if (flags.resetPassword) {
          await resetOperatorPassword(database.db, flags.username, password);
          print(options, { username: flags.username, passwordChanged: true }, () => `password of ${flags.username} changed`);
          return;
        }
        const tenants = flags.tenants
          ?.split(",")
          .map((t) => t.trim())
          .filter(Boolean);
        const operator = await createOperator(database.db, {
          username: flags.username,
          password,
          role: flags.role as (typeof ROLES)[number],
          ...(tenants ? { tenants } : {}),
        });
        print(
          options,
          { username: operator.username, role: operator.role, tenants: operator.tenants ?? null },
          () =>
            `operator ${operator.username} created (${operator.role}${operator.tenants ? `, tenants ${operator.tenants.join(", ")}` : ", every tenant"}); sign in at ${config.publicUrl}/console`,
        );
      } catch (error) {
        if (error instanceof OperatorInputError) throw new CliError(error.message, EXIT.USAGE);
        throw error;
      } finally {
        await database.close();
      }
    });
}
