/**
 * Operators of the console, their sessions and the audit log of what they did. The audit log is
 * append-only in the database (a trigger refuses UPDATE and DELETE), like the payment history.
 */
import { createHash } from "node:crypto";
import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.ts";

export type ConsoleDb = Kysely<Database>;
export type Role = "viewer" | "support" | "finance" | "admin";

export interface Operator {
  id: string;
  username: string;
  role: Role;
  /** null: every tenant. */
  tenants: string[] | null;
  disabled: boolean;
}

function toOperator(row: { id: string | number; username: string; role: Role; tenants: unknown; disabled_at: Date | null }): Operator {
  return { id: String(row.id), username: row.username, role: row.role, tenants: (row.tenants as string[] | null) ?? null, disabled: row.disabled_at !== null };
}

export async function insertOperator(
  db: ConsoleDb,
  input: { username: string; passwordHash: string; role: Role; tenants: string[] | null },
): Promise<Operator> {
  const row = await db
    .insertInto("operators")
    .values({
      username: input.username,
      password_hash: input.passwordHash,
      role: input.role,
      tenants: input.tenants === null ? null : JSON.stringify(input.tenants),
    })
    .returning(["id", "username", "role", "tenants", "disabled_at"])
    .executeTakeFirstOrThrow();
  return toOperator(row);
}

export async function operatorExists(db: ConsoleDb, username: string): Promise<boolean> {
  const existing = await db.selectFrom("operators").select("id").where("username", "=", username).executeTakeFirst();
  return existing !== undefined;
}

export async function updateOperatorPassword(db: ConsoleDb, username: string, passwordHash: string): Promise<boolean> {
  const rows = await db.updateTable("operators").set({ password_hash: passwordHash }).where("username", "=", username).returning("id").execute();
  return rows.length > 0;
}

export async function findOperatorForLogin(db: ConsoleDb, username: string): Promise<(Operator & { passwordHash: string }) | undefined> {
  const row = await db
    .selectFrom("operators")
    .select(["id", "username", "role", "tenants", "disabled_at", "password_hash"])
    .where("username", "=", username)
    .executeTakeFirst();
  return row && { ...toOperator(row), passwordHash: row.password_hash };
}

export async function findOperator(db: ConsoleDb, id: string): Promise<Operator | undefined> {
  const row = await db.selectFrom("operators").select(["id", "username", "role", "tenants", "disabled_at"]).where("id", "=", id).executeTakeFirst();
  return row && toOperator(row);
}

export async function markLogin(db: ConsoleDb, id: string): Promise<void> {
  await db
    .updateTable("operators")
    .set({ last_login_at: sql`now()` })
    .where("id", "=", id)
    .execute();
}

const hashId = (sessionId: string) => createHash("sha256").update(sessionId).digest("hex");

export async function saveSession(db: ConsoleDb, sessionId: string, operatorId: string, data: unknown, expiresAt: Date): Promise<void> {
  await db
    .insertInto("operator_sessions")
    .values({ id_hash: hashId(sessionId), operator_id: operatorId, data: JSON.stringify(data), expires_at: expiresAt })
    .onConflict((oc) => oc.column("id_hash").doUpdateSet({ data: JSON.stringify(data), expires_at: expiresAt, operator_id: operatorId }))
    .execute();
}

/** The session's data, or undefined when unknown or expired. */
export async function loadSession(db: ConsoleDb, sessionId: string): Promise<unknown> {
  const row = await db
    .selectFrom("operator_sessions")
    .select("data")
    .where("id_hash", "=", hashId(sessionId))
    .where("expires_at", ">", sql<Date>`now()`)
    .executeTakeFirst();
  return row?.data;
}

export async function deleteSession(db: ConsoleDb, sessionId: string): Promise<void> {
  await db.deleteFrom("operator_sessions").where("id_hash", "=", hashId(sessionId)).execute();
}

export async function deleteExpiredSessions(db: ConsoleDb): Promise<void> {
  await db
    .deleteFrom("operator_sessions")
    .where("expires_at", "<", sql<Date>`now() - interval '1 day'`)
    .execute();
}

export interface AuditEntry {
  operatorId: string | null;
  operator: string;
  action: string;
  outcome: "ok" | "refused" | "forbidden" | "failed";
  tenant?: string | null;
  paymentId?: string | null;
  target?: string | null;
  before?: unknown;
  after?: unknown;
  detail?: Record<string, unknown>;
}

export async function appendAudit(db: ConsoleDb, entry: AuditEntry): Promise<void> {
  await db
    .insertInto("audit_log")
    .values({
      operator_id: entry.operatorId,
      operator: entry.operator,
      action: entry.action,
      outcome: entry.outcome,
      tenant: entry.tenant ?? null,
      payment_id: entry.paymentId ?? null,
      target: entry.target ?? null,
      before: entry.before === undefined ? null : JSON.stringify(entry.before),
      after: entry.after === undefined ? null : JSON.stringify(entry.after),
      detail: JSON.stringify(entry.detail ?? {}),
    })
    .execute();
}

export async function listAudit(db: ConsoleDb, filter: { paymentIds?: string[]; tenants: string[] | null; limit: number; beforeId?: string }) {
  let query = db.selectFrom("audit_log").selectAll();
  if (filter.paymentIds) query = query.where("payment_id", "in", filter.paymentIds.length ? filter.paymentIds : [""]);
  if (filter.tenants) query = query.where("tenant", "in", filter.tenants.length ? filter.tenants : [""]);
  if (filter.beforeId) query = query.where("id", "<", filter.beforeId);
  return query.orderBy("id", "desc").limit(filter.limit).execute();
}
