/**
 * A hot statement's SQL text, built and compiled by Kysely once and then reused with each call's
 * parameters: building and compiling showed as a tenth of PayStart's CPU. The first compile checks
 * that Kysely's parameters are exactly the ones the caller lists, in that order; if not (a value
 * Kysely inlines or turns into SQL), the text is not reused and every call compiles afresh, so a
 * statement is never sent with misplaced parameters. A reused text marked `prepared` is also
 * prepared once per connection on PostgreSQL (named-statements.ts says which statements may be).
 */
import { CompiledQuery, type Compilable } from "kysely";
import { registerNamedStatement } from "./named-statements.ts";

export class Precompiled<Db, Input> {
  #sql: string | undefined;

  /** `build` must give SQL text that depends only on what the caller keys this instance by. */
  constructor(
    private readonly build: (db: Db, input: Input) => Compilable,
    private readonly options: { prepared?: boolean } = {},
  ) {}

  /** The statement for `input`, whose parameters are `parameters` in order. */
  compiled(db: Db, input: Input, parameters: readonly unknown[]): CompiledQuery {
    if (this.#sql !== undefined) return CompiledQuery.raw(this.#sql, [...parameters]);
    const compiled = this.build(db, input).compile();
    const same = compiled.parameters.length === parameters.length && compiled.parameters.every((value, i) => Object.is(value, parameters[i]));
    if (same) {
      this.#sql = compiled.sql;
      if (this.options.prepared) registerNamedStatement(compiled.sql);
    }
    return compiled;
  }
}
