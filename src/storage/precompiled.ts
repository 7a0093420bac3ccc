/**
 * A hot statement's SQL text, built and compiled by Kysely once per shape and then reused with each
 * call's parameters: building and compiling showed as a tenth of PayStart's CPU, and a fifth of a
 * webhook's. A statement says how it is built, what changes its text (its shape) and which parameters
 * its text takes, in order. The first compile of a shape checks that Kysely's parameters are exactly
 * the listed ones; if not (a value Kysely inlines or turns into SQL, or a list out of step with the
 * text), that shape's text is never reused and every call compiles afresh, so a statement is never
 * sent with misplaced parameters. A reused text marked `prepared` is also prepared once per connection
 * on PostgreSQL (named-statements.ts says which statements may be).
 */
import { CompiledQuery, type Compilable, type QueryExecutorProvider, type RawBuilder } from "kysely";
import { registerNamedStatement } from "./named-statements.ts";

export interface StatementSpec<Db, Input, Row> {
  /** The statement for `input`; its text must depend only on `shape(input)`. */
  build: (db: Db, input: Input) => Compilable<Row>;
  /** Everything that changes the text, as a key; leave out for a statement with a single text. */
  shape?: (input: Input) => string;
  /** The parameters `build`'s text takes for `input`, in order (a new array each call: it is sent as is). */
  parameters: (input: Input) => unknown[];
  prepared?: boolean;
}

/** A shape's compiled text, or the mark that its listed parameters were not Kysely's. */
type ShapeText = { sql: string } | "never reuse";

export class Precompiled<Db, Input, Row = unknown> {
  readonly #texts = new Map<string, ShapeText>();

  constructor(private readonly spec: StatementSpec<Db, Input, Row>) {}

  /** The statement for `input`, its text reused when its shape was compiled before. */
  compiled(db: Db, input: Input): CompiledQuery<Row> {
    const shape = this.spec.shape?.(input) ?? "";
    const text = this.#texts.get(shape);
    const parameters = this.spec.parameters(input);
    if (text !== undefined && text !== "never reuse") return CompiledQuery.raw(text.sql, parameters) as CompiledQuery<Row>;
    const compiled = this.spec.build(db, input).compile();
    if (text === "never reuse") return compiled;
    const same = compiled.parameters.length === parameters.length && compiled.parameters.every((value, i) => Object.is(value, parameters[i]));
    if (same) {
      this.#texts.set(shape, { sql: compiled.sql });
      if (this.spec.prepared) registerNamedStatement(compiled.sql);
    } else {
      // A later call whose values happen to line up must not make the text reusable.
      this.#texts.set(shape, "never reuse");
    }
    return compiled;
  }

  /** Whether the text of `input`'s shape is reused (for tests). */
  reused(input: Input): boolean {
    return typeof this.#texts.get(this.spec.shape?.(input) ?? "") === "object";
  }

  /** The fresh compile, as every call would run without this cache (for tests). */
  fresh(db: Db, input: Input): CompiledQuery<Row> {
    return this.spec.build(db, input).compile();
  }
}

/** A statement written with Kysely's `sql`, as the Compilable Precompiled builds: compiled for `db`. */
export function compilableSql<R>(db: QueryExecutorProvider, query: RawBuilder<R>): Compilable<R> {
  return { compile: () => query.compile(db) };
}

/** The columns Kysely's insert writes for `row`: those with a value, in the row's order. */
export function insertedColumns<Row extends object>(row: Row): Array<keyof Row> {
  return (Object.keys(row) as Array<keyof Row>).filter((column) => row[column] !== undefined);
}
