/**
 * Table types for Kysely: every table and column the migrations create, in their final shape (the
 * migrations themselves export no types). This is PGB's one `Database` type. Money columns are BIGINT minor units; drivers hand them back as string
 * (node-postgres) or number (PGlite), so repositories convert with BigInt() at the edge.
 */
import type { ColumnType, GeneratedAlways, Insertable, Selectable } from "kysely";

type Int8 = ColumnType<string | number | bigint, string | bigint, string | bigint>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
/** Defaults to now() on insert; set explicitly on update. */
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<unknown, string, string>;
type NullableJson = ColumnType<unknown, string | null | undefined, string | null>;
/** A column a later migration added: optional on insert. */
type Added<T> = ColumnType<T, T | undefined, T>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface PaymentsTable {
  id: string;
  tenant: string;
  order_id: number;
  joiner_id: number;
  pay_type: string;
  nation_code: string;
  currency: string;
  amount: Int8;
  description: string;
  host_redirect_url: string;
  request_fingerprint: string;
  pg: string;
  pg_transaction_id: string | null;
  checkout_url: string | null;
  status: string;
  pg_details: ColumnType<unknown, string | null, string | null>;
  failure_code: string | null;
  failure_message: string | null;
  expires_at: Timestamp;
  paid_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface PaymentEventsTable {
  id: GeneratedAlways<string>;
  payment_id: string;
  from_status: string | null;
  to_status: string;
  event: string;
  source: string;
  detail: Json;
  created_at: CreatedAt;
}

export interface MoneyMovementsTable {
  id: string;
  payment_id: string;
  kind: "CAPTURE" | "REFUND";
  amount: Int8;
  status: "PENDING" | "SUCCEEDED" | "FAILED" | "UNKNOWN";
  balance_before: Int8 | null;
  balance_after: Int8 | null;
  idempotency_key: string | null;
  request_fingerprint: string | null;
  pg_reference: string | null;
  failure_code: string | null;
  failure_message: string | null;
  /** The process lease (migration 0006) of whoever is waiting for the PG on this refund. */
  lease_token: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface NotificationsTable {
  /** Doubles as the Standard Webhooks `webhook-id`, stable across retries. */
  id: string;
  seq: GeneratedAlways<string>;
  tenant: string;
  payment_id: string;
  order_id: number;
  type: string;
  payload: Json;
  status: "PENDING" | "DELIVERED" | "DEAD";
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp;
  last_error: string | null;
  delivered_at: Timestamp | null;
  created_at: CreatedAt;
  /** Migration 0002: the dispatcher's claim, and when an operator replayed it. */
  claim_token: Added<string | null>;
  replayed_at: NullableTimestamp;
  /** Migration 0006: held back while the tenant's endpoint is down. */
  outage_hold: Added<boolean>;
}

export interface PgWebhooksTable {
  id: GeneratedAlways<string>;
  pg: string;
  tenant: string;
  event_id: string;
  status: "RECEIVED" | "PROCESSED" | "REJECTED" | "FAILED";
  headers: Json;
  body: string;
  error: string | null;
  attempts: ColumnType<number, number | undefined, number>;
  received_at: CreatedAt;
  processed_at: Timestamp | null;
  /** Migration 0002: what acting on it decided, and the retrier's schedule and claim. */
  action: NullableJson;
  next_attempt_at: NullableTimestamp;
  claim_token: Added<string | null>;
  /** Migration 0004: hex SHA-256 of the body as received; null for rows stored before it. */
  body_sha256: Added<string | null>;
  body_bytes: Added<number | null>;
}

export interface NotificationAttemptsTable {
  id: GeneratedAlways<string>;
  notification_id: string;
  attempt: number;
  started_at: Timestamp;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  outcome: "DELIVERED" | "RETRY" | "DEAD";
  next_attempt_at: Timestamp | null;
  worker: string;
}

export interface ReconcileChecksTable {
  subject: string;
  kind: "PAYMENT" | "REFUND";
  checks: ColumnType<number, number | undefined, number>;
  last_checked_at: Timestamp;
  next_check_at: Timestamp;
  last_result: string | null;
  claimed_until: Timestamp | null;
}

export interface OperatorsTable {
  id: GeneratedAlways<string>;
  username: string;
  password_hash: string;
  role: "viewer" | "support" | "finance" | "admin";
  tenants: NullableJson;
  disabled_at: NullableTimestamp;
  last_login_at: NullableTimestamp;
  created_at: CreatedAt;
}

export interface OperatorSessionsTable {
  id_hash: string;
  operator_id: string;
  data: Json;
  expires_at: Timestamp;
  created_at: CreatedAt;
}

export interface AuditLogTable {
  id: GeneratedAlways<string>;
  at: CreatedAt;
  operator_id: string | null;
  operator: string;
  action: string;
  outcome: string;
  tenant: string | null;
  payment_id: string | null;
  target: string | null;
  before: NullableJson;
  after: NullableJson;
  detail: Json;
}

export interface AlertsTable {
  id: GeneratedAlways<string>;
  type: string;
  subject: string;
  tenant: string | null;
  payment_id: string | null;
  message: string;
  details: Json;
  occurrences: ColumnType<number, number | undefined, number>;
  raised_at: CreatedAt;
  last_seen_at: ColumnType<Date, Date | string | undefined, Date | string>;
  acknowledged_at: NullableTimestamp;
  acknowledged_by: string | null;
  ack_note: string | null;
}

export interface ProcessLeasesTable {
  token: string;
  pid: number;
  started_at: ColumnType<Date, Date | string | undefined, Date | string>;
  expires_at: Timestamp;
}

export interface NotifyEndpointsTable {
  tenant: string;
  failures: ColumnType<number, number | undefined, number>;
  down_since: Timestamp | null;
  next_probe_at: Timestamp | null;
}

export interface CheckoutClosesTable {
  payment_id: string;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>;
  lease_token: string | null;
  last_error: string | null;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface MigrationsTable {
  name: string;
  timestamp: string;
}

export interface Database {
  payments: PaymentsTable;
  payment_events: PaymentEventsTable;
  money_movements: MoneyMovementsTable;
  notifications: NotificationsTable;
  pg_webhooks: PgWebhooksTable;
  notification_attempts: NotificationAttemptsTable;
  reconcile_checks: ReconcileChecksTable;
  operators: OperatorsTable;
  operator_sessions: OperatorSessionsTable;
  audit_log: AuditLogTable;
  alerts: AlertsTable;
  process_leases: ProcessLeasesTable;
  notify_endpoints: NotifyEndpointsTable;
  checkout_closes: CheckoutClosesTable;
  /** Kysely's migrator's own record of what ran. */
  pgb_migrations: MigrationsTable;
}

export type PaymentRow = Selectable<PaymentsTable>;
export type NewPayment = Insertable<PaymentsTable>;
export type MoneyMovementRow = Selectable<MoneyMovementsTable>;
export type PaymentEventRow = Selectable<PaymentEventsTable>;
export type NotificationRow = Selectable<NotificationsTable>;
export type AlertRow = Selectable<AlertsTable>;
export type AuditLogRow = Selectable<AuditLogTable>;
