/**
 * PostgreSQL parses and plans an unnamed statement every time it runs. For PayStart's two statements
 * that was about 40% of the database's CPU per request, most of it planning against every index of
 * payments. A statement text registered here is sent as a named prepared statement instead. Each
 * pooled connection parses it once; from its sixth run PostgreSQL may reuse one generic plan, built
 * without the parameters' values. PGlite does not use this pool and is unchanged.
 *
 * Register a statement only when:
 * - its plan has one sensible shape. The generic plan can be built on an empty table that has no
 *   statistics yet (a new installation). There every index scores alike, and the plan then stays
 *   cached while the table grows. A statement that more than one index could serve must be written
 *   so that only the right one applies (paymentsOfOrder shows how).
 * - its result columns are listed by name. With `select *` or `returning *`, a later migration that
 *   adds a column makes PostgreSQL refuse the prepared statement ("cached plan must not change result
 *   type"), so instances still on the old release would fail during a rolling deploy. Such a text is
 *   never registered.
 *
 * The hot statements register their text once per shape (precompiled.ts) and then send that same
 * string every time: V8 keeps a string's hash with it and compares a string with itself by identity,
 * so finding its name costs nothing like hashing the long text anew.
 */
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";
import type pg from "pg";

const names = new Map<string, string>();

/**
 * Sends `text` as a named prepared statement from now on, unless it has a `*` result column (`select *`,
 * `returning *`, `t.*`); `count(*)` and multiplication are fine. Answers whether the text is named.
 */
export function registerNamedStatement(text: string): boolean {
  if (names.has(text)) return true;
  if (STAR_COLUMN.test(text)) return false;
  names.set(text, `pgb_${names.size + 1}`);
  return true;
}

/** A `*` where a result column goes: right after SELECT (DISTINCT), RETURNING or a comma, bare or qualified. */
const STAR_COLUMN = /(?:\bselect(?:\s+distinct)?|\breturning|,)\s*(?:(?:"[^"]+"|\w+)\.)?\*/i;

/**
 * The pool Kysely is given on PostgreSQL: node-postgres' own pool, whose clients send registered
 * texts as named statements. node-postgres remembers per connection which names it has prepared.
 */
export function namingPool(pool: pg.Pool): PostgresPool {
  // One wrapper per connection: Kysely keeps its connection object per client it is given.
  const wrappers = new WeakMap<pg.PoolClient, NamingClient>();
  return {
    async connect() {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (wrapper === undefined) wrappers.set(client, (wrapper = new NamingClient(client)));
      return wrapper;
    },
    end: () => pool.end(),
  };
}

class NamingClient implements PostgresPoolClient {
  readonly #client: pg.PoolClient;

  constructor(client: pg.PoolClient) {
    this.#client = client;
  }

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query(textOrCursor: string | object, parameters?: ReadonlyArray<unknown>): unknown {
    if (typeof textOrCursor !== "string") return this.#client.query(textOrCursor as pg.Submittable);
    const name = names.get(textOrCursor);
    const values = [...(parameters ?? [])];
    return name === undefined ? this.#client.query(textOrCursor, values) : this.#client.query({ name, text: textOrCursor, values });
  }

  release(destroy?: boolean): void {
    this.#client.release(destroy);
  }
}
