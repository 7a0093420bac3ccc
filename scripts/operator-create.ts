/**
 * Creates a console operator (the first admin, say) in PGB's database:
 *
 *   npm run operator:create -- --username alice --role admin [--tenants SHOP,OUTLET]
 *
 * The password is read from PGB_OPERATOR_PASSWORD, or asked for on the terminal (never an argument,
 * which would land in the shell's history). Uses DATABASE_URL / PGB_DATA_DIR like `npm start`.
 * `--reset-password` sets a new password for an existing operator instead.
 */
import { parseArgs } from "node:util";
import { createInterface } from "node:readline/promises";
import { loadConfig } from "../src/config/config.ts";
import { createOperator, OperatorInputError, resetOperatorPassword } from "../src/console/operators.ts";
import { migrate, openDatabase } from "../src/storage/database.ts";
import { CONNECTOR_FACTORIES } from "../src/connectors/registry.ts";

async function askPassword(): Promise<string> {
  if (process.env.PGB_OPERATOR_PASSWORD) return process.env.PGB_OPERATOR_PASSWORD;
  if (!process.stdin.isTTY) throw new OperatorInputError("set PGB_OPERATOR_PASSWORD or run on a terminal");
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  // Hide what is typed.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
    if (s.includes("Password")) process.stdout.write(s);
  };
  const password = await rl.question("Password (12+ characters): ");
  rl.close();
  process.stdout.write("\n");
  return password;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      username: { type: "string" },
      role: { type: "string", default: "admin" },
      tenants: { type: "string" },
      "reset-password": { type: "boolean", default: false },
    },
  });
  if (!values.username) throw new OperatorInputError("--username is required");
  const config = loadConfig();
  const database = await openDatabase(config.databaseUrl ? { kind: "postgres", url: config.databaseUrl.reveal() } : { kind: "pglite", dataDir: config.dataDir });
  try {
    await migrate(database.db, Object.assign({}, ...CONNECTOR_FACTORIES.map((f) => f.migrations ?? {})));
    const password = await askPassword();
    if (values["reset-password"]) {
      await resetOperatorPassword(database.db, values.username, password);
      process.stdout.write(`password of ${values.username} changed\n`);
    } else {
      const tenants = values.tenants ? values.tenants.split(",").map((t) => t.trim()).filter(Boolean) : undefined;
      const operator = await createOperator(database.db, { username: values.username, password, role: values.role as never, ...(tenants ? { tenants } : {}) });
      process.stdout.write(`operator ${operator.username} created (${operator.role}${operator.tenants ? `, tenants ${operator.tenants.join(", ")}` : ", every tenant"}); sign in at ${config.publicUrl}/console\n`);
    }
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof OperatorInputError ? "" : "failed: "}${(error as Error).message}\n`);
  process.exit(error instanceof OperatorInputError ? 2 : 1);
});
