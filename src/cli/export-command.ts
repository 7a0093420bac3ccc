/**
 * `pgb export payments|refunds --from --to [--tenant] [--pg] --format csv|jsonl`: for finance and
 * settlement. Rows stream out in keyset batches (src/storage/export-queries.ts), each batch written
 * before the next is read, honouring the output's backpressure, so memory stays flat at any size.
 * A progress bar goes to a terminal's stderr; piped or redirected, only the rows are written.
 */
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import type { Writable } from "node:stream";
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { stringify } from "csv-stringify/sync";
import { isCurrencyCode } from "../core/currency.ts";
import { formatMinor } from "../core/money.ts";
import type { Db } from "../storage/database.ts";
import {
  countForExport,
  paymentsForExport,
  refundsForExport,
  type ExportFilter,
  type PaymentExportRow,
  type RefundExportRow,
} from "../storage/export-queries.ts";
import { CliError, configFor, databaseFor, EXIT, globalOptions } from "./context.ts";

export type ExportKind = "payments" | "refunds";
export type ExportFormat = "csv" | "jsonl";

const PAYMENT_COLUMNS = [
  "PaymentId",
  "DBType",
  "OrderId",
  "JoinerId",
  "Status",
  "PGType",
  "PayType",
  "NationCode",
  "Currency",
  "TotalPrice",
  "RefundedPrice",
  "PGTransactionId",
  "CreatedAt",
  "PaidAt",
] as const;
const REFUND_COLUMNS = [
  "RefundId",
  "PaymentId",
  "DBType",
  "OrderId",
  "PGType",
  "Currency",
  "RefundPrice",
  "Status",
  "PGReference",
  "FailureCode",
  "CreatedAt",
] as const;

/** Writes every matching row to `out`; calls `onBatch` with the running count after each batch. */
export async function exportRows(
  db: Db,
  kind: ExportKind,
  filter: ExportFilter,
  format: ExportFormat,
  out: Writable,
  onBatch: (written: number) => void = () => {},
): Promise<number> {
  const columns = kind === "payments" ? PAYMENT_COLUMNS : REFUND_COLUMNS;
  if (format === "csv") await write(out, stringify([columns as unknown as string[]]));
  let written = 0;
  const batches = kind === "payments" ? mapBatches(paymentsForExport(db, filter), paymentRecord) : mapBatches(refundsForExport(db, filter), refundRecord);
  for await (const records of batches) {
    const chunk = format === "csv" ? stringify(records.map((r) => columns.map((c) => r[c]))) : records.map((r) => JSON.stringify(r)).join("\n") + "\n";
    await write(out, chunk);
    written += records.length;
    onBatch(written);
  }
  return written;
}

async function* mapBatches<T>(batches: AsyncGenerator<T[]>, map: (row: T) => Record<string, unknown>): AsyncGenerator<Array<Record<string, unknown>>> {
  for await (const batch of batches) yield batch.map(map);
}

const money = (minor: string, currency: string) => (isCurrencyCode(currency) ? formatMinor(BigInt(minor), currency) : minor);
const iso = (text: string | null) => (text === null ? null : new Date(text).toISOString());

function paymentRecord(r: PaymentExportRow): Record<string, unknown> {
  return {
    PaymentId: r.payment_id,
    DBType: r.tenant,
    OrderId: r.order_id,
    JoinerId: r.joiner_id,
    Status: r.status,
    PGType: r.pg,
    PayType: r.pay_type,
    NationCode: r.nation_code,
    Currency: r.currency,
    TotalPrice: money(r.amount, r.currency),
    RefundedPrice: money(r.refunded, r.currency),
    PGTransactionId: r.pg_transaction_id,
    CreatedAt: iso(r.created_at),
    PaidAt: iso(r.paid_at),
  };
}

function refundRecord(r: RefundExportRow): Record<string, unknown> {
  return {
    RefundId: r.refund_id,
    PaymentId: r.payment_id,
    DBType: r.tenant,
    OrderId: r.order_id,
    PGType: r.pg,
    Currency: r.currency,
    RefundPrice: money(r.amount, r.currency),
    Status: r.status,
    PGReference: r.pg_reference,
    FailureCode: r.failure_code,
    CreatedAt: iso(r.created_at),
  };
}

async function write(out: Writable, chunk: string): Promise<void> {
  if (!out.write(chunk)) await once(out, "drain");
}

function parseTime(name: string) {
  return (value: string): Date => {
    const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
    if (Number.isNaN(date.getTime())) throw new CliError(`${name} must be a date (2026-11-01) or an ISO time, not "${value}"`, EXIT.USAGE);
    return date;
  };
}

export function registerExportCommands(program: Command): void {
  program
    .command("export")
    .description("stream payments or refunds created in [--from, --to) as CSV or JSON lines, for finance and settlement")
    .argument("<what>", "payments | refunds")
    .requiredOption("--from <time>", "first day or time included (2026-11-01 means 00:00 UTC)", parseTime("--from"))
    .requiredOption("--to <time>", "first day or time excluded", parseTime("--to"))
    .option("--tenant <DBType>", "one tenant only")
    .option("--pg <PGType>", "one PG only")
    .option("--format <format>", "csv | jsonl", "csv")
    .option("-o, --output <file>", "write to a file instead of stdout")
    .action(async (what: string, flags: { from: Date; to: Date; tenant?: string; pg?: string; format: string; output?: string }, command: Command) => {
      if (what !== "payments" && what !== "refunds") throw new CliError(`export what? "payments" or "refunds", not "${what}"`, EXIT.USAGE);
      if (flags.format !== "csv" && flags.format !== "jsonl") throw new CliError(`--format must be csv or jsonl, not "${flags.format}"`, EXIT.USAGE);
      if (flags.from >= flags.to) throw new CliError("--from must be before --to", EXIT.USAGE);
      const config = configFor(globalOptions(command));
      const database = await databaseFor(config);
      const filter: ExportFilter = { from: flags.from, to: flags.to, tenant: flags.tenant, pg: flags.pg };
      const out = flags.output ? createWriteStream(flags.output) : process.stdout;
      const bar = process.stderr.isTTY
        ? new SingleBar({ stream: process.stderr, format: `${what} {bar} {percentage}% {value}/{total} rows, eta {eta_formatted}`, hideCursor: true })
        : undefined;
      try {
        bar?.start(await countForExport(database.db, what, filter), 0);
        const written = await exportRows(database.db, what, filter, flags.format, out, (n) => bar?.update(n));
        bar?.stop();
        if (flags.output) {
          out.end();
          await once(out, "finish");
          if (process.stderr.isTTY) process.stderr.write(`${written} ${what} written to ${flags.output}\n`);
        }
      } finally {
        bar?.stop();
        await database.close();
      }
    });
}
