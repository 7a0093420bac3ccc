/**
 * The connectors' narrow stores (src/core/ports/connector-storage.ts), built here because storage is
 * the only place that knows the whole database. A connector's Kysely is a second Kysely over the very
 * driver PGB's own database uses (one pool; for PGlite, one queue on its single connection, so a
 * connector's query never slips into a core transaction), typed with the connector's tables only.
 * No cast: Kysely<Database> cannot be narrowed by type (its DB parameter is invariant), so the narrow
 * view is a real Kysely<Tables> built on a borrowed driver.
 */
import { Kysely, type DatabaseConnection, type Dialect, type Driver, type TransactionSettings } from "kysely";
import type { ConnectorStorage, ConnectorStorageSource, ConnectorTables } from "../core/ports/connector-storage.ts";

/** The dialect PGB opens its database with, keeping the one driver it makes so that narrow views can share it. */
export class SharedDriverDialect implements Dialect {
  readonly #inner: Dialect;
  #driver: Driver | undefined;

  constructor(inner: Dialect) {
    this.#inner = inner;
  }

  createDriver(): Driver {
    this.#driver ??= this.#inner.createDriver();
    return this.#driver;
  }

  createAdapter(): ReturnType<Dialect["createAdapter"]> {
    return this.#inner.createAdapter();
  }

  createQueryCompiler(): ReturnType<Dialect["createQueryCompiler"]> {
    return this.#inner.createQueryCompiler();
  }

  createIntrospector(db: Parameters<Dialect["createIntrospector"]>[0]): ReturnType<Dialect["createIntrospector"]> {
    return this.#inner.createIntrospector(db);
  }

  /** A dialect for another Kysely on the same driver. Its Kysely never closes the driver: the owner does. */
  borrowed(): Dialect {
    const driver = new BorrowedDriver(this.createDriver());
    return {
      createDriver: () => driver,
      createAdapter: () => this.createAdapter(),
      createQueryCompiler: () => this.createQueryCompiler(),
      createIntrospector: (db) => this.createIntrospector(db),
    };
  }
}

/** Lends the owner's driver: same connections, same transactions; closing is left to the owner. */
class BorrowedDriver implements Driver {
  readonly #owner: Driver;

  constructor(owner: Driver) {
    this.#owner = owner;
  }

  // Initialising is idempotent for both of PGB's drivers (a pool instance, or PGlite's nothing).
  init(): Promise<void> {
    return this.#owner.init();
  }

  acquireConnection(): Promise<DatabaseConnection> {
    return this.#owner.acquireConnection();
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#owner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#owner.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#owner.rollbackTransaction(connection);
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#owner.releaseConnection(connection);
  }

  async destroy(): Promise<void> {
    // The owner's database closes the driver.
  }
}

declare global {
  /**
   * Each database's connector stores, kept on the global object rather than in this module: a test
   * run against the build (PGB_TEST_BUILT) opens the database with the sources' module and builds
   * the app with dist/'s, and both must find the same stores.
   */
  var pgbConnectorStorage: WeakMap<object, ConnectorStorageSource> | undefined;
}

/** Called by openDatabase: `db` was built on `dialect`; connectors' stores share its driver. */
export function shareDriverOf(db: object, dialect: SharedDriverDialect): void {
  globalThis.pgbConnectorStorage ??= new WeakMap();
  globalThis.pgbConnectorStorage.set(db, {
    forTables<Tables extends ConnectorTables>(): ConnectorStorage<Tables> {
      const narrow = new Kysely<Tables>({ dialect: dialect.borrowed() });
      return { db: narrow, transaction: (work) => narrow.transaction().execute(work) };
    },
  });
}

/** The connectors' stores on the database `db` (one per database, so it can key per-database state). */
export function connectorStorageOf(db: object): ConnectorStorageSource {
  const source = globalThis.pgbConnectorStorage?.get(db);
  if (source === undefined) throw new Error("connector storage: this database was not opened by openDatabase");
  return source;
}
