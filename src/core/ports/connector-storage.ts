/**
 * What a connector may keep in PGB's database: its own tables and nothing else. The factory hands
 * each connector a `ConnectorStorageSource` (src/connectors/factory.ts); the connector names its
 * tables' types once and gets a Kysely that knows only those tables (no payments, no outbox), plus a
 * transaction over them. Built by src/storage/connector-storage.ts, the one place that knows the whole
 * database; the tables themselves come from the connector's own migrations (`<pg>-<n>`), which run
 * only when some tenant configures that PG.
 */
import type { Kysely } from "kysely";

/** A connector's tables, by name (a type alias, not an interface: Kysely wants an index-signature-compatible record). */
export type ConnectorTables = Record<string, object>;

export interface ConnectorStorage<Tables extends ConnectorTables> {
  /** Queries on the connector's own tables, sharing PGB's connections. */
  readonly db: Kysely<Tables>;
  /** Runs `work` in one transaction on the connector's tables; committed when it resolves. */
  transaction<T>(work: (trx: Kysely<Tables>) => Promise<T>): Promise<T>;
}

export interface ConnectorStorageSource {
  /** The connector's store, typed with its own tables (declared beside its migrations). */
  forTables<Tables extends ConnectorTables>(): ConnectorStorage<Tables>;
}
