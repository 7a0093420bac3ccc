/**
 * How a PG is plugged in: a factory validates a tenant's settings for the PG, declares the PG's
 * capabilities and builds one connector per tenant. Adding a PG means one folder under
 * src/connectors/ and one line in registry.ts (docs/architecture.md, "Adding a PG").
 */
import type { FastifyInstance } from "fastify";
import type { Migration } from "kysely";
import type { Logger } from "pino";
import type { z } from "zod";
import type { PgCapabilities } from "../core/ports/capabilities.ts";
import type { Connector, WebhookInput } from "../core/ports/connector.ts";
import type { Clock } from "../core/ports/clock.ts";
import type { ConnectorStorageSource } from "../core/ports/connector-storage.ts";
import type { PgCallMetrics } from "./kit/pg-http-client.ts";

export interface ConnectorDeps {
  /** The connector's own tables, and only those (src/core/ports/connector-storage.ts). */
  storage: ConnectorStorageSource;
  logger: Logger;
  publicUrl: string;
  /** Per-PG call metrics for the shared HTTP client (kit/pg-http-client.ts). */
  pgCallMetrics?: PgCallMetrics;
  /** The one clock (core/ports/clock.ts): a connector and its fake PG read the time from it only. */
  clock: Clock;
}

/** One PG: validates its per-tenant settings and builds a connector per tenant. */
export interface ConnectorFactory<S extends z.ZodType = z.ZodType> {
  readonly pg: string;
  readonly settingsSchema: S;
  /**
   * The largest webhook body this PG really sends, in bytes. PGB reads no more from anyone posting
   * to this PG's webhook path (answers 413), so an anonymous caller cannot make it buffer or store more.
   */
  readonly maxWebhookBytes: number;
  /** What the PG can do; every tenant's routes are checked against it at start. */
  readonly capabilities: PgCapabilities;
  create(settings: z.infer<S>, context: { tenant: string; deps: ConnectorDeps }): Connector;
  /**
   * Tables of the connector's own (a fake PG's records), named `<pg>-<n>`. Run only when some tenant
   * configures the PG (`migrationsFor`), at the start after the configuration adds it; forward only.
   */
  readonly migrations?: Record<string, Migration>;
  /** HTTP routes of the connector's own (a PGB-hosted checkout page). Registered once at start. */
  registerRoutes?(app: FastifyInstance, deps: ConnectorRouteDeps<z.infer<S>>): void | Promise<void>;
}

export interface ConnectorRouteDeps<Settings> extends ConnectorDeps {
  /** The tenants that configured this PG, with their validated settings. */
  tenantsWithSettings(): Array<{ tenant: string; settings: Settings }>;
  /**
   * Hands a webhook that arrived on a connector-owned path (Stripe's legacy /PGBReturn/WebHook, say)
   * to the core's durable intake for `tenant`, exactly as the generic per-tenant path does. Answers
   * the HTTP status and body to send back to the PG.
   */
  acceptWebhook(tenant: string, input: WebhookInput): Promise<{ status: number; body: unknown }>;
}

/**
 * The connector migrations a configuration needs: those of every PG at least one tenant configures.
 * A PG no tenant uses gets no tables; one added later gets them at the next start. Tables of a PG
 * no longer configured stay (migrations move forward only).
 */
export function migrationsFor(factories: readonly ConnectorFactory[], tenants: Record<string, { pgs: Record<string, unknown> }>): Record<string, Migration> {
  const configured = new Set(Object.values(tenants).flatMap((tenant) => Object.keys(tenant.pgs)));
  return everyConnectorMigration(factories.filter((f) => configured.has(f.pg)));
}

/** Every connector's migrations, configured or not: what a database template is checked against. */
export function everyConnectorMigration(factories: readonly ConnectorFactory[]): Record<string, Migration> {
  return Object.fromEntries(factories.flatMap((f) => Object.entries(f.migrations ?? {})));
}
