/**
 * Table types for Kysely. Money columns are BIGINT minor units; drivers hand them back as string
 * (node-postgres) or number (PGlite), so repositories convert with BigInt() at the edge.
 */
import type { ColumnType, GeneratedAlways, Insertable, Selectable } from "kysely";

type Int8 = ColumnType<string | number | bigint, string | bigint, string | bigint>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
/** Defaults to now() on insert; set explicitly on update. */
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<unknown, string, string>;

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
}

export interface Database {
  payments: PaymentsTable;
  payment_events: PaymentEventsTable;
  money_movements: MoneyMovementsTable;
  notifications: NotificationsTable;
  pg_webhooks: PgWebhooksTable;
}

export type PaymentRow = Selectable<PaymentsTable>;
export type NewPayment = Insertable<PaymentsTable>;
export type MoneyMovementRow = Selectable<MoneyMovementsTable>;
export type PaymentEventRow = Selectable<PaymentEventsTable>;
export type NotificationRow = Selectable<NotificationsTable>;
