import type { Logger } from "pino";
import type { Config, TenantConfig } from "../config/config.ts";
import type { Connector } from "../connectors/connector.ts";
import type { Db } from "../storage/database.ts";

/** What every use case needs, passed as one object so tests can swap any part. */
export interface CoreDeps {
  db: Db;
  config: Pick<Config, "publicUrl" | "checkoutTtlMinutes" | "tenants"> & Partial<Pick<Config, "supersedeCloseBudgetMs" | "workers">>;
  logger: Logger;
  /** The connector for one tenant's PG, or undefined if the tenant has not configured it. */
  connectorFor(tenant: string, pg: string): Connector | undefined;
  now(): Date;
  /** This process's lease token (src/workers/process-lease.ts), stamped on work it holds. */
  leaseToken?: string;
}

export function tenantConfig(deps: CoreDeps, tenant: string): TenantConfig | undefined {
  return Object.hasOwn(deps.config.tenants, tenant) ? deps.config.tenants[tenant] : undefined;
}

export function returnUrlFor(deps: CoreDeps, pg: string, paymentId: string): string {
  return `${deps.config.publicUrl}/PGBReturn/${pg.toLowerCase()}/return/${paymentId}`;
}

export function webhookUrlFor(deps: CoreDeps, pg: string, tenant: string): string {
  return `${deps.config.publicUrl}/PGBReturn/${pg.toLowerCase()}/webhook/${encodeURIComponent(tenant)}`;
}
