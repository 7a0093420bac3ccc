import type { Logger } from "pino";
import type { Config, TenantConfig } from "../config/config.ts";
import type { PgCapabilities } from "./ports/capabilities.ts";
import type { Clock } from "./ports/clock.ts";
import { ConnectorError, type Connector } from "./ports/connector.ts";
import type { Db } from "../storage/database.ts";
import type { ClaimedNotification } from "../storage/notification-repository.ts";

/**
 * This process's notification dispatcher, where it runs: a notification written already claimed
 * under `claimToken` (for `claimMs`) is handed to it and sent at once, with no claim round trip.
 */
export interface NotificationHandOff {
  claimToken: string;
  claimMs: number;
  deliver(notification: ClaimedNotification): void;
}

/** What every use case needs, passed as one object so tests can swap any part. */
export interface CoreDeps {
  db: Db;
  config: Pick<Config, "publicUrl" | "checkoutTtlMinutes" | "tenants"> & Partial<Pick<Config, "supersedeCloseBudgetMs" | "workers">>;
  logger: Logger;
  /** The connector for one tenant's PG, or undefined if the tenant has not configured it. */
  connectorFor(tenant: string, pg: string): Connector | undefined;
  /** What a PG can do, as its connector declares it; undefined for a PG PGB does not know. */
  capabilitiesOf(pg: string): PgCapabilities | undefined;
  /** The one clock (core/ports/clock.ts): every read of the current time goes through it. */
  clock: Clock;
  /** This process's lease token (src/workers/process-lease.ts), stamped on work it holds. */
  leaseToken?: string;
  /** Set while this process's dispatcher runs (src/workers/index.ts). */
  outbox?: NotificationHandOff;
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

/**
 * A payment whose PG its tenant no longer configures: the one answer, a fatal connector error (an
 * operator must restore the PG's settings), wherever PGB needs that PG.
 */
export function notConfigured(tenant: string, pg: string): ConnectorError {
  return new ConnectorError("fatal", `PG ${pg} is not configured for ${tenant}`, "PG_NOT_CONFIGURED");
}

export function connectorOf(deps: CoreDeps, tenant: string, pg: string): Connector {
  const connector = deps.connectorFor(tenant, pg);
  if (connector === undefined) throw notConfigured(tenant, pg);
  return connector;
}
