/**
 * All SQL that reads and changes payments. Every state change goes through `transition` (or its
 * one-statement form, transition-as-read.ts), which writes the payment row, its history row and (when
 * the host must hear of it) its outbox row in the caller's transaction, guarded by the state the
 * change may start from. A guard that matches nothing means
 * another actor got there first: the caller learns that and does nothing twice.
 */
import { sql, type Kysely, type RawBuilder, type Transaction } from "kysely";
import { insertedColumns, Precompiled } from "./precompiled.ts";
import { isCurrencyCode, type CurrencyCode } from "../core/currency.ts";
import { brand, newId, type PaymentId, type PgTransactionId } from "../core/ids.ts";
import type { Clock } from "../core/ports/clock.ts";
import { CAPTURED_STATUSES, notificationFor, PaymentStatusSchema, guardOf, type EventSource, type PaymentStatus } from "../core/payment-state.ts";
import type { MoneyNotification } from "../core/money-notifications.ts";
import { moneyNotification, stateNotification, type FieldsOnEntering, type HostNotification, type StateNotificationFields } from "../core/host-notification.ts";
import type { Database, MoneyMovementRow, NewPayment, PaymentEventRow, PaymentRow } from "./schema.ts";

export type Executor = Kysely<Database> | Transaction<Database>;

export interface Payment {
  id: PaymentId;
  tenant: string;
  orderId: number;
  joinerId: number;
  payType: string;
  nationCode: string;
  currency: CurrencyCode;
  amount: bigint;
  description: string;
  hostRedirectUrl: string;
  requestFingerprint: string;
  pg: string;
  pgTransactionId: PgTransactionId | null;
  checkoutUrl: string | null;
  status: PaymentStatus;
  pgDetails: Record<string, unknown> | null;
  failureCode: string | null;
  failureMessage: string | null;
  expiresAt: Date;
  paidAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export function toPayment(row: PaymentRow): Payment {
  if (!isCurrencyCode(row.currency)) throw new Error(`payment ${row.id} has unknown currency ${row.currency}`);
  return {
    id: brand<PaymentId>(row.id),
    tenant: row.tenant,
    orderId: row.order_id,
    joinerId: row.joiner_id,
    payType: row.pay_type,
    nationCode: row.nation_code,
    currency: row.currency,
    amount: BigInt(row.amount),
    description: row.description,
    hostRedirectUrl: row.host_redirect_url,
    requestFingerprint: row.request_fingerprint,
    pg: row.pg,
    pgTransactionId: row.pg_transaction_id === null ? null : brand<PgTransactionId>(row.pg_transaction_id),
    checkoutUrl: row.checkout_url,
    status: PaymentStatusSchema.parse(row.status),
    pgDetails: (row.pg_details as Record<string, unknown> | null) ?? null,
    failureCode: row.failure_code,
    failureMessage: row.failure_message,
    expiresAt: new Date(row.expires_at),
    paidAt: row.paid_at === null ? null : new Date(row.paid_at),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export async function paymentsOfOrder(db: Executor, tenant: string, orderId: number): Promise<Payment[]> {
  const { rows } = await db.executeQuery<PaymentRow>(paymentsOfOrderStatement.compiled(db, { tenant, orderId }));
  return rows.map(toPayment);
}

// Every column by name, not `*`: paymentsOfOrder is prepared on PostgreSQL (named-statements.ts), and a
// prepared `select *` fails once a later migration adds a column. The record type keeps the list complete.
const paymentColumns = Object.keys({
  id: true,
  tenant: true,
  order_id: true,
  joiner_id: true,
  pay_type: true,
  nation_code: true,
  currency: true,
  amount: true,
  description: true,
  host_redirect_url: true,
  request_fingerprint: true,
  pg: true,
  pg_transaction_id: true,
  checkout_url: true,
  status: true,
  pg_details: true,
  failure_code: true,
  failure_message: true,
  expires_at: true,
  paid_at: true,
  created_at: true,
  updated_at: true,
} satisfies Record<keyof PaymentRow, true>) as Array<keyof PaymentRow>;

/** The payment row's columns by name, read from `table` (a prepared statement must not say `*`). */
export function paymentColumnsOf(table: string): RawBuilder<unknown> {
  // Built once per table name: the hot statements ask for it on every build, and it never changes.
  let columns = paymentColumnsByTable.get(table);
  if (columns === undefined) paymentColumnsByTable.set(table, (columns = sql.join(paymentColumns.map((column) => sql.ref(`${table}.${column}`)))));
  return columns;
}

const paymentColumnsByTable = new Map<string, RawBuilder<unknown>>();

// PayStart reads this on every request: compiled once and prepared (precompiled.ts). The prepared
// plan may be built before payments has statistics, when every index looks alike. Indexes led by
// tenant would then scan the whole tenant for each order. So tenant is compared as an expression that
// no index serves: only payments_by_order_id (or a scan) remains, and the index wins even then.
const paymentsOfOrderStatement = new Precompiled({
  build: (db: Executor, { tenant, orderId }: { tenant: string; orderId: number }) =>
    db
      .selectFrom("payments")
      .select(paymentColumns)
      .where("order_id", "=", orderId)
      .where(sql`tenant || ''`, "=", tenant)
      .orderBy("created_at", "asc")
      .orderBy("id", "asc"),
  parameters: ({ tenant, orderId }) => [orderId, tenant],
  prepared: true,
});

/** Whether `tenant` has any payment for the order. */
export async function orderHasPayment(db: Executor, tenant: string, orderId: number): Promise<boolean> {
  const any = await db.selectFrom("payments").select("id").where("tenant", "=", tenant).where("order_id", "=", orderId).limit(1).execute();
  return any.length > 0;
}

export async function findPayment(db: Executor, id: PaymentId, options: { forUpdate?: boolean } = {}): Promise<Payment | undefined> {
  let query = db.selectFrom("payments").selectAll().where("id", "=", id);
  if (options.forUpdate) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row && toPayment(row);
}

export async function findPaymentByPgTransaction(db: Executor, pg: string, pgTransactionId: PgTransactionId): Promise<Payment | undefined> {
  const row = await db.selectFrom("payments").selectAll().where("pg", "=", pg).where("pg_transaction_id", "=", pgTransactionId).executeTakeFirst();
  return row && toPayment(row);
}

/** The order's captured payment, locked for the refund bookkeeping that follows. */
export async function lockCapturedPayment(trx: Transaction<Database>, tenant: string, orderId: number): Promise<Payment | undefined> {
  const row = await trx
    .selectFrom("payments")
    .selectAll()
    .where("tenant", "=", tenant)
    .where("order_id", "=", orderId)
    .where("status", "in", [...CAPTURED_STATUSES])
    .forUpdate()
    .executeTakeFirst();
  return row && toPayment(row);
}

/**
 * Inserts a new attempt with its first history rows in one statement. The partial unique indexes
 * (one live, one captured attempt per order) are the guard: a racing PayStart for the same order
 * fails here with a unique violation instead of creating a second live checkout. `payment` holds
 * values only, no SQL expressions: the statement's text is reused for every payment with its columns.
 */
export async function insertPayment(db: Executor, payment: NewPayment, event: FirstEvent): Promise<void> {
  await db.executeQuery(insertPaymentStatements.compiled(db, { payment, event }));
}

type FirstEvent = { to: PaymentStatus; event: string; source: EventSource; detail: Record<string, unknown> };
type PaymentInsert = { payment: NewPayment; event: FirstEvent };

// Compiled once per set of columns and first state, and prepared (precompiled.ts): PayStart runs it
// every time. An insert has a single plan shape, so a generic plan is safe.
const insertPaymentStatements = new Precompiled({
  build: buildInsertPayment,
  shape: ({ payment, event }: PaymentInsert) => `${event.to} ${insertedColumns(payment).join(",")}`,
  parameters: ({ payment, event }: PaymentInsert) => [
    ...insertedColumns(payment).map((column) => payment[column]),
    event.event,
    event.source,
    JSON.stringify(event.detail),
  ],
  prepared: true,
});

// One statement, so it is atomic without a transaction of its own: the payment and its first
// history row exist together or not at all.
function buildInsertPayment(db: Executor, { payment, event }: PaymentInsert) {
  return db
    .with("created", (q) => q.insertInto("payments").values(payment).returning("id"))
    .insertInto("payment_events")
    .columns(["payment_id", "from_status", "to_status", "event", "source", "detail"])
    .expression((eb) =>
      eb
        .selectFrom("created")
        .select([
          "created.id",
          sql<null>`null::text`.as("from_status"),
          sql.lit(event.to).as("to_status"),
          eb.val(event.event).as("event"),
          eb.val(event.source).as("source"),
          sql`${JSON.stringify(event.detail)}::jsonb`.as("detail"),
        ]),
    );
}

export function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === "23505";
}

export async function appendEvent(
  db: Executor,
  e: { paymentId: string; from: PaymentStatus | null; to: PaymentStatus; event: string; source: EventSource; detail: Record<string, unknown> },
): Promise<void> {
  await db
    .insertInto("payment_events")
    .values({ payment_id: e.paymentId, from_status: e.from, to_status: e.to, event: e.event, source: e.source, detail: JSON.stringify(e.detail) })
    .execute();
}

export interface TransitionInput<To extends PaymentStatus = PaymentStatus> {
  paymentId: PaymentId;
  to: To;
  /**
   * The state the caller read and decided on: the move then happens only from it. The allowed states
   * always come from the state table (payment-state.ts); naming one the table does not allow throws.
   */
  expected?: PaymentStatus;
  event: string;
  source: EventSource;
  detail?: Record<string, unknown>;
  patch?: Partial<Pick<NewPayment, "pg_transaction_id" | "checkout_url" | "pg_details" | "failure_code" | "failure_message" | "paid_at">>;
  /** The fields the host notification of entering `to` carries (the refund that caused it, say). */
  notification?: FieldsOnEntering[To];
  /** Send this notification instead of the one the state change implies (a refund undone, say). */
  notifyAs?: MoneyNotification;
  /** The balance after the change, when the caller already knows it (saves reading it again). */
  balance?: Balance;
  /** Rows that belong to the change (the capture of a PAID), written before the notification is built. */
  effects?: (trx: Transaction<Database>, payment: Payment) => Promise<void>;
}

/**
 * The one place a payment changes state. Returns the payment after the change, or undefined when the
 * guard did not match (already changed by someone else). Must run inside a transaction.
 */
export async function transition<To extends PaymentStatus>(trx: Transaction<Database>, clock: Clock, input: TransitionInput<To>): Promise<Payment | undefined> {
  const from = guardOf(input.to, input.event, input.expected);
  // The sub-select locks the row and reports the state it had, so the history row records the real
  // "from" without a second read; the outer guard re-checks it after the lock.
  const row = await trx
    .updateTable("payments")
    .set({ ...input.patch, status: input.to, updated_at: sql<Date>`now()` })
    .from(trx.selectFrom("payments").select(["id as locked_id", "status as previous_status"]).where("id", "=", input.paymentId).forUpdate().as("locked"))
    .whereRef("payments.id", "=", "locked.locked_id")
    .where("payments.status", "in", [...from])
    .returningAll("payments")
    .returning("locked.previous_status")
    .executeTakeFirst();
  if (row === undefined) return undefined;
  const payment = toPayment(row);
  const fromStatus = PaymentStatusSchema.parse(row.previous_status);
  await input.effects?.(trx, payment);
  await appendEvent(trx, { paymentId: payment.id, from: fromStatus, to: input.to, event: input.event, source: input.source, detail: input.detail ?? {} });
  if (input.notifyAs !== undefined) {
    await enqueueMoneyNotification(trx, clock, payment, input.notifyAs, input.balance ?? (await balanceOf(trx, payment)));
    return payment;
  }
  const type = notificationFor(fromStatus, input.to);
  if (type !== undefined) {
    const balance = input.balance ?? (await balanceOf(trx, payment));
    // `notificationFor` maps `to` to its type, so the fields for entering `to` are that type's.
    const fields = (input.notification ?? {}) as StateNotificationFields[typeof type];
    await enqueueNotification(trx, stateNotification(type, payment, balance, fields, newId("msg", clock), clock.now()));
  }
  return payment;
}

export interface Balance {
  captured: bigint;
  /** Refunds that succeeded or may have (pending, unknown): reserved so nothing refunds twice. */
  refunded: bigint;
  remaining: bigint;
  inFlight: number;
}

export async function balanceOf(db: Executor, payment: Pick<Payment, "id">): Promise<Balance> {
  return balanceFrom(await db.selectFrom("money_movements").select(["kind", "status", "amount"]).where("payment_id", "=", payment.id).execute());
}

/** The one definition of a payment's balance, from its money movements. */
export function balanceFrom(movements: ReadonlyArray<Pick<MoneyMovementRow, "kind" | "status" | "amount">>): Balance {
  let captured = 0n;
  let refunded = 0n;
  let inFlight = 0;
  for (const m of movements) {
    if (m.kind === "CAPTURE" && m.status === "SUCCEEDED") captured += BigInt(m.amount);
    if (m.kind === "REFUND" && m.status !== "FAILED") refunded += BigInt(m.amount);
    if (m.kind === "REFUND" && (m.status === "PENDING" || m.status === "UNKNOWN")) inFlight++;
  }
  return { captured, refunded, remaining: captured - refunded, inFlight };
}

/**
 * Queues one of the money notifications (money-notifications.ts). With `balance`, the order's amounts
 * ride along; a late capture's notification leaves them out, since that attempt is not the order's.
 */
export async function enqueueMoneyNotification(
  trx: Transaction<Database>,
  clock: Clock,
  payment: Payment,
  n: MoneyNotification,
  balance?: Balance,
): Promise<void> {
  await enqueueNotification(trx, moneyNotification(n, payment, balance, newId("msg", clock), clock.now()));
}

/** The outbox row of a notification built in core (host-notification.ts): the only thing it stores. */
async function enqueueNotification(trx: Transaction<Database>, notification: HostNotification): Promise<void> {
  await trx
    .insertInto("notifications")
    .values({
      id: notification.NotificationId,
      tenant: notification.DBType,
      payment_id: notification.PaymentId,
      order_id: notification.OrderId,
      type: notification.Type,
      payload: JSON.stringify(notification),
      status: "PENDING",
      next_attempt_at: sql<Date>`now()`,
    })
    .execute();
}

export async function recordPgTransaction(
  trx: Transaction<Database>,
  paymentId: PaymentId,
  pgTransactionId: PgTransactionId,
  details: string | undefined,
): Promise<void> {
  await trx
    .updateTable("payments")
    .set({ pg_transaction_id: pgTransactionId, ...(details === undefined ? {} : { pg_details: details }), updated_at: sql<Date>`now()` })
    .where("id", "=", paymentId)
    .execute();
}

export async function eventsOf(db: Executor, paymentIds: string[]): Promise<PaymentEventRow[]> {
  if (paymentIds.length === 0) return [];
  return db.selectFrom("payment_events").selectAll().where("payment_id", "in", paymentIds).orderBy("id").execute();
}
