/**
 * The intake of accepted webhooks that name a PGB payment, batched: each is stored (deduplicated by
 * the PG's event id) and the payment it names read in the statement that stores it, as
 * insertWebhookReadingPayment does for one. Webhooks that arrive while a batch is being written are
 * stored together by the next one: at the pipeline's edge that is one statement and one commit for
 * several webhooks instead of one each. Nothing waits for a batch to fill: the first webhook after a
 * quiet spell is written at once, alone.
 *
 * A webhook is answered only once its own batch has committed, so "stored before 2xx" holds as for one
 * row. A batch whose statement fails is written again one webhook at a time, so one bad webhook fails
 * only its own request.
 */
import { sql } from "kysely";
import { fulfilled, NextBatch } from "../core/next-batch.ts";
import { paymentColumnsOf, toPayment, type Executor, type Payment } from "./payment-repository.ts";
import { compilableSql, Precompiled } from "./precompiled.ts";
import type { PaymentRow } from "./schema.ts";
import { insertWebhookReadingPayment, storedRow, type NewWebhook } from "./webhook-repository.ts";

/** What storing one webhook came to: its id and the payment it names (undefined: the PG sent this event before). */
export type StoredReadingPayment = { id: string; payment: Payment | undefined } | undefined;

/** The most webhooks one statement stores: bounds a statement's size (bodies are up to a PG's limit each). */
export const MAX_INTAKE_BATCH = 64;

interface Arrived {
  webhook: NewWebhook;
  reference: string;
}

/** Told when a batch's statement failed and its webhooks are stored one at a time instead. */
export type OnBatchFailed = (error: unknown, webhooks: number) => void;

/** A batch, or each webhook alone when the batch's statement failed (one webhook's row may be why). */
function storeEach(db: Executor, onBatchFailed: OnBatchFailed): (batch: Arrived[]) => Promise<Array<PromiseSettledResult<StoredReadingPayment>>> {
  return async (batch) => {
    const alone = () => Promise.allSettled(batch.map((w) => insertWebhookReadingPayment(db, w.webhook, w.reference)));
    if (batch.length === 1) return alone();
    try {
      return fulfilled(await storeBatch(db, batch));
    } catch (error) {
      onBatchFailed(error, batch.length);
      return alone();
    }
  };
}

/**
 * Stores accepted webhooks that name a PGB payment, those that arrive together by one statement. One
 * per database: the batches are that database's.
 */
export class WebhookIntake {
  readonly #batches: NextBatch<Arrived, StoredReadingPayment>;

  constructor(db: Executor, onBatchFailed: OnBatchFailed) {
    this.#batches = new NextBatch(storeEach(db, onBatchFailed), MAX_INTAKE_BATCH);
  }

  /**
   * Stores an accepted webhook once per (pg, tenant, event id) and reads the payment `reference` names
   * if it is this PG's. Answers undefined when the PG sent this event before (also within the same
   * batch: the first to arrive is stored).
   */
  store(webhook: NewWebhook, reference: string): Promise<StoredReadingPayment> {
    return this.#batches.add({ webhook, reference });
  }
}

/** The batch's rows, one array per column, in the statement's parameter order. */
function columnsOf(batch: readonly Arrived[]) {
  const rows = batch.map((w) => storedRow(w.webhook));
  return {
    pg: rows.map((r) => r.pg),
    tenant: rows.map((r) => r.tenant),
    eventId: rows.map((r) => r.event_id),
    status: rows.map((r) => r.status),
    headers: rows.map((r) => r.headers),
    body: rows.map((r) => r.body),
    bodySha256: rows.map((r) => r.body_sha256),
    bodyBytes: rows.map((r) => r.body_bytes),
    error: rows.map((r) => r.error),
    action: rows.map((r) => r.action),
    claimToken: rows.map((r) => r.claim_token),
    reference: batch.map((w) => w.reference),
  };
}
type BatchColumns = ReturnType<typeof columnsOf>;

async function storeBatch(db: Executor, batch: readonly Arrived[]): Promise<StoredReadingPayment[]> {
  const { rows } = await db.executeQuery(storeBatchStatement.compiled(db, columnsOf(batch)));
  const stored: StoredReadingPayment[] = batch.map(() => undefined);
  for (const { ord, stored_id: id, ...payment } of rows) stored[Number(ord) - 1] = { id, payment: payment.id === null ? undefined : toPayment(payment) };
  return stored;
}

// One text for every batch size, prepared (named-statements.ts). Each array is read through a
// subquery, as in the delivered batch, so that the planner never sees a batch's length and cannot come
// to prefer a plan per length, as it did there (here it keeps its generic plan either way, as tested).
// Rows are inserted in key order, so two instances storing the same events never wait on each other
// in a cycle; a repeated event within the batch is stored from its first arrival.
const storeBatchStatement = new Precompiled({
  build: (db: Executor, b: BatchColumns) =>
    compilableSql(
      db,
      sql<PaymentRow & { ord: string; stored_id: string }>`
    WITH arrived AS (
      SELECT pg, tenant, event_id, status, headers, body, body_sha256, body_bytes, error, action, claim_token, reference, ord
      FROM unnest((SELECT ${b.pg}::text[]), (SELECT ${b.tenant}::text[]), (SELECT ${b.eventId}::text[]), (SELECT ${b.status}::text[]),
        (SELECT ${b.headers}::text[]), (SELECT ${b.body}::text[]), (SELECT ${b.bodySha256}::text[]), (SELECT ${b.bodyBytes}::int[]),
        (SELECT ${b.error}::text[]), (SELECT ${b.action}::text[]), (SELECT ${b.claimToken}::text[]), (SELECT ${b.reference}::text[]))
        WITH ORDINALITY AS a (pg, tenant, event_id, status, headers, body, body_sha256, body_bytes, error, action, claim_token, reference, ord)),
    stored AS (
      INSERT INTO pg_webhooks (pg, tenant, event_id, status, headers, body, body_sha256, body_bytes, error, action, claim_token)
      SELECT pg, tenant, event_id, status, headers::jsonb, body, body_sha256, body_bytes, error, action::jsonb, claim_token
      FROM arrived ORDER BY pg, tenant, event_id, ord
      ON CONFLICT (pg, tenant, event_id) DO NOTHING
      RETURNING id, pg, tenant, event_id)
    SELECT DISTINCT ON (s.id) a.ord::text AS ord, s.id::text AS stored_id, ${paymentColumnsOf("p")}
    FROM stored s JOIN arrived a ON a.pg = s.pg AND a.tenant = s.tenant AND a.event_id = s.event_id
    LEFT JOIN payments p ON p.id = a.reference AND p.pg = s.pg
    ORDER BY s.id, a.ord`,
    ),
  parameters: (b) => [b.pg, b.tenant, b.eventId, b.status, b.headers, b.body, b.bodySha256, b.bodyBytes, b.error, b.action, b.claimToken, b.reference],
  prepared: true,
});
