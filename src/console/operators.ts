/**
 * Creating operators: used by `npx pgb operator create` (also `npm run operator:create`) to make the first
 * admin, and by tests. Input is validated here so every entry point refuses the same things.
 */
import { z } from "zod";
import type { Db } from "../storage/database.ts";
import { appendAudit, insertOperator, operatorExists, updateOperatorPassword, type Operator } from "../storage/operator-repository.ts";
import { hashPassword, PASSWORD_MIN_LENGTH } from "./passwords.ts";

export const ROLES = ["viewer", "support", "finance", "admin"] as const;

export const NewOperatorSchema = z.object({
  username: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._@-]{2,64}$/, "2–64 letters, digits, . _ @ or -"),
  password: z.string().min(PASSWORD_MIN_LENGTH, `at least ${PASSWORD_MIN_LENGTH} characters`).max(1024),
  role: z.enum(ROLES),
  /** Limit to these DBTypes; omitted or empty: every tenant. */
  tenants: z.array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)).optional(),
});
export type NewOperator = z.input<typeof NewOperatorSchema>;

export class OperatorInputError extends Error {
  override name = "OperatorInputError";
}

export async function createOperator(db: Db, input: NewOperator, createdBy = "cli"): Promise<Operator> {
  const parsed = NewOperatorSchema.safeParse(input);
  if (!parsed.success) throw new OperatorInputError(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  const { username, password, role, tenants } = parsed.data;
  if (await operatorExists(db, username)) throw new OperatorInputError(`operator ${username} exists already`);
  const operator = await insertOperator(db, { username, passwordHash: await hashPassword(password), role, tenants: tenants?.length ? tenants : null });
  await appendAudit(db, {
    operatorId: null,
    operator: createdBy,
    action: "operator.create",
    outcome: "ok",
    target: username,
    after: { username, role, tenants: operator.tenants },
  });
  return operator;
}

export async function resetOperatorPassword(db: Db, username: string, password: string, by = "cli"): Promise<void> {
  if (password.length < PASSWORD_MIN_LENGTH) throw new OperatorInputError(`password: at least ${PASSWORD_MIN_LENGTH} characters`);
  if (!(await updateOperatorPassword(db, username, await hashPassword(password)))) throw new OperatorInputError(`no operator ${username}`);
  await appendAudit(db, { operatorId: null, operator: by, action: "operator.password", outcome: "ok", target: username });
}
