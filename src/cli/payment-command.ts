/**
 * `pgb payment show <DBType> <OrderId>`: the order's payment as GET /PGB/Payment answers it.
 * `pgb sync <DBType> <OrderId>`: asks the PG about the order now, as POST /PGB/Sync does.
 */
import { CONNECTOR_FACTORIES } from "../connectors/registry.ts";
import type { Command } from "commander";
import { buildApp } from "../app.ts";
import { createLogger } from "../logging.ts";
import { getOrderPayment } from "../core/use-cases/get-order-payment.ts";
import { CliError, configFor, databaseFor, globalOptions, positiveInt, print } from "./context.ts";
import { systemClock } from "../core/system-clock.ts";

export function registerPaymentCommands(program: Command): void {
  const payment = program.command("payment").description("payments");
  payment
    .command("show")
    .description("the order's payment: status, amounts, attempts, refunds and history")
    .argument("<DBType>", "the tenant")
    .argument("<OrderId>", "the host's order id", positiveInt("OrderId"))
    .action(async (dbType: string, orderId: number, _options, command: Command) => {
      const options = globalOptions(command);
      const config = configFor(options);
      const database = await databaseFor(config);
      try {
        const deps = {
          db: database.db,
          config,
          logger: createLogger("silent"),
          connectorFor: () => undefined,
          capabilitiesOf: (pg: string) => CONNECTOR_FACTORIES.find((f) => f.pg === pg)?.capabilities,
          clock: systemClock,
        };
        const view = await getOrderPayment(deps, dbType, orderId);
        if (!view.ok) throw new CliError(`${view.code}: ${view.message}`);
        print(options, view.value, () => renderPayment(view.value));
      } finally {
        await database.close();
      }
    });

  program
    .command("sync")
    .description("ask the PG about an order now (the reconciler's check) and print the outcome")
    .argument("<DBType>", "the tenant")
    .argument("<OrderId>", "the host's order id", positiveInt("OrderId"))
    .action(async (dbType: string, orderId: number, _options, command: Command) => {
      const options = globalOptions(command);
      const config = configFor(options);
      if (!Object.hasOwn(config.tenants, dbType)) throw new CliError(`no tenant ${dbType} in ${config.configPath}`);
      const database = await databaseFor(config);
      const pgb = await buildApp({ config, database, logger: createLogger(process.env.LOG_LEVEL ?? "warn") });
      try {
        const checks = await pgb.reconciler.syncOrder(dbType, orderId);
        if (checks === undefined) throw new CliError(`ORDER_NOT_FOUND: no payment for order ${orderId}`);
        const view = await getOrderPayment(pgb.deps, dbType, orderId);
        if (!view.ok) throw new CliError(`${view.code}: ${view.message}`);
        const result = {
          ...view.value,
          Checks: checks.map((c) => ({ Subject: c.subject, Kind: c.kind, Result: c.result.toUpperCase(), Detail: c.detail ?? null })),
        };
        print(options, result, () =>
          [
            renderPayment(view.value),
            "",
            checks.length === 0 ? "nothing to ask the PG: no open checkout or unsettled refund" : "checks:",
            ...result.Checks.map((c) => `  ${c.Kind} ${c.Subject}: ${c.Result}${c.Detail ? ` (${c.Detail})` : ""}`),
          ].join("\n"),
        );
      } finally {
        await pgb.app.close();
        await database.close();
      }
    });
}

function renderPayment(p: Record<string, unknown>): string {
  const rows = (key: string) => (p[key] as Array<Record<string, unknown>>) ?? [];
  return [
    `${String(p.DBType)} order ${String(p.OrderId)}: ${String(p.Status)} via ${String(p.PGType)} (${String(p.PayType)}, ${String(p.NationCode)})`,
    `  total ${String(p.TotalPrice)} ${String(p.Currency)}, paid ${String(p.PaidPrice)}, cancelled ${String(p.CancelledPrice)}, remaining ${String(p.RemainingPrice)}`,
    `  payment ${String(p.PaymentId)}, PG transaction ${String(p.PGTransactionId ?? "-")}`,
    `attempts:`,
    ...rows("Attempts").map((a) => `  ${String(a.CreatedAt)} ${String(a.PaymentId)} ${String(a.Status)} ${String(a.TotalPrice)}`),
    `refunds:`,
    ...(rows("Refunds").length === 0
      ? ["  none"]
      : rows("Refunds").map((r) => `  ${String(r.CreatedAt)} ${String(r.RefundId)} ${String(r.Status)} ${String(r.RefundPrice)}`)),
    `history:`,
    ...rows("History").map((h) => `  ${String(h.At)} ${String(h.From ?? "-")} → ${String(h.To)} ${String(h.Event)} (${String(h.Source)})`),
  ].join("\n");
}
