/**
 * Alerts: something an operator must look at (money that arrived on a closed attempt, a PG record
 * that contradicts PGB's, a notification given up on). `raiseAlert` is the one way to raise one: it
 * writes the log line (with `alert: TYPE`, for log-based paging) and the alerts-inbox row the console
 * lists. Pass the transaction when the alert belongs to one, so it commits with the change it reports.
 */
import type { Logger } from "pino";
import { insertAlert, type AlertExecutor } from "../storage/alert-repository.ts";

export const ALERT_TYPES = [
  "LATE_PAYMENT",
  "DEPOSIT_REVERSED",
  "PG_MISMATCH",
  "REFUND_CONFLICT",
  "REFUND_FAILED",
  "EXTERNAL_REFUND",
  "NOTIFICATION_DEAD",
  "WEBHOOK_GAVE_UP",
] as const;

export interface Alert {
  type: string;
  message: string;
  /** What the alert is about; defaults to the payment. Repeats on an open alert count up. */
  subject?: string;
  paymentId?: string;
  tenant?: string;
  /** Logged and stored; never secrets. */
  details?: Record<string, unknown>;
}

export async function raiseAlert(deps: { db: AlertExecutor; logger: Logger }, alert: Alert, trx?: AlertExecutor): Promise<void> {
  const details = alert.details ?? {};
  deps.logger.error(
    { alert: alert.type, ...(alert.paymentId ? { paymentId: alert.paymentId } : {}), ...(alert.tenant ? { tenant: alert.tenant } : {}), ...details },
    alert.message,
  );
  const row = {
    type: alert.type,
    subject: alert.subject ?? alert.paymentId ?? alert.type,
    tenant: alert.tenant,
    paymentId: alert.paymentId,
    message: alert.message,
    details: jsonSafe(details),
  };
  if (trx !== undefined) return insertAlert(trx, row);
  try {
    await insertAlert(deps.db, row);
  } catch (error) {
    // The log line above already carries the alert; a database too sick to store it is itself loud.
    deps.logger.error({ alertType: alert.type, err: error }, "could not store an alert in the inbox");
  }
}

function jsonSafe(details: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(details).map(([k, v]) => [k, v instanceof Error ? v.message : v]));
}
