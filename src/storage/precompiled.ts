/**
 * A hot statement's SQL text, built and compiled by Kysely once and then reused with each call's
 * parameters: building and compiling showed as a tenth of PayStart's CPU, and a fifth of a webhook's.
 * The first compile checks that Kysely's parameters are exactly the ones the caller lists, in that
 * order; if not (a value Kysely inlines or turns into SQL, or a list out of step with the text), the
 * text is never reused and every call compiles afresh, so a statement is never sent with misplaced
 * parameters. A reused text marked `prepared` is also prepared once per connection on PostgreSQL
 * (named-statements.ts says which statements may be).
 */
import { CompiledQuery, type Compilable, type QueryExecutorProvider, type RawBuilder } from "kysely";
import { registerNamedStatement } from "./named-statements.ts";

export class Precompiled<Db, Input> {
  #sql: string | undefined;
  /** Set when the first compile's parameters were not the listed ones: compile afresh from then on. */
  #neverReuse = false;

  /** `build` must give SQL text that depends only on what the caller keys this instance by. */
  constructor(
    private readonly build: (db: Db, input: Input) => Compilable,
    private readonly options: { prepared?: boolean } = {},
  ) {}

  /** The statement for `input`, whose parameters are `parameters` in order. */
  compiled(db: Db, input: Input, parameters: readonly unknown[]): CompiledQuery {
    if (this.#sql !== undefined) return CompiledQuery.raw(this.#sql, [...parameters]);
    const compiled = this.build(db, input).compile();
    if (this.#neverReuse) return compiled;
    const same = compiled.parameters.length === parameters.length && compiled.parameters.every((value, i) => Object.is(value, parameters[i]));
    if (same) {
      this.#sql = compiled.sql;
      if (this.options.prepared) registerNamedStatement(compiled.sql);
    } else {
      // A later call whose values happen to line up must not make the text reusable.
      this.#neverReuse = true;
    }
    return compiled;
  }

  /** Whether the text is reused (for tests). */
  get reused(): boolean {
    return this.#sql !== undefined;
  }
}

/**
 * Precompiled for a statement whose text takes a few forms (optional columns, CTEs, conditions): one
 * Precompiled per `shape`, a key the caller derives from everything that changes the text.
 */
export class PrecompiledShapes<Db, Input> {
  readonly #shapes = new Map<string, Precompiled<Db, Input>>();

  constructor(
    private readonly build: (db: Db, input: Input) => Compilable,
    private readonly options: { prepared?: boolean } = {},
  ) {}

  /** The statement for `input`, of text form `shape`, whose parameters are `parameters` in order. */
  compiled(db: Db, shape: string, input: Input, parameters: readonly unknown[]): CompiledQuery {
    let statement = this.#shapes.get(shape);
    if (statement === undefined) this.#shapes.set(shape, (statement = new Precompiled(this.build, this.options)));
    return statement.compiled(db, input, parameters);
  }

  /** Whether the text of `shape` is reused (for tests). */
  reused(shape: string): boolean {
    return this.#shapes.get(shape)?.reused ?? false;
  }

  /** The fresh compile, as every call would run without this cache (for tests). */
  fresh(db: Db, input: Input): CompiledQuery {
    return this.build(db, input).compile();
  }
}

/** A statement written with Kysely's `sql`, as the Compilable Precompiled builds: compiled for `db`. */
export function compilableSql<R>(db: QueryExecutorProvider, query: RawBuilder<R>): Compilable<R> {
  return { compile: () => query.compile(db) };
}
