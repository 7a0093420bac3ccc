/**
 * Which statement texts may go out as named prepared statements: never one with a `*` result column,
 * which a later migration adding a column would break on connections that prepared it; but a `*` that
 * is not a result column (count(*), a product) must not keep a hot statement unprepared.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { registerNamedStatement } from "../../src/storage/named-statements.ts";

describe("named prepared statements", () => {
  it("refuses texts with a * result column, however written", () => {
    for (const text of [
      `select * from "payments" where "id" = $1`,
      `SELECT DISTINCT * FROM payments`,
      `select "p".* from "payments" as "p" where "p"."id" = $1`,
      `select "id", p.* from payments p`,
      `update "payments" set "status" = $1 where "id" = $2 returning *`,
      `with moved as (update payments set status = $1 returning *) select id from moved`,
    ])
      assert.equal(registerNamedStatement(text), false, text);
  });

  it("names texts whose * is not a result column", () => {
    for (const text of [
      `select (select count(*)::int + 1 from notification_attempts a where a.notification_id = $1) as attempt`,
      `select "amount" * 2 as "double", count(*) filter (where status = $1) from payments`,
      `select "id", "status" from "payments" where "id" = $1`,
    ])
      assert.equal(registerNamedStatement(text), true, text);
    // Registering again answers the same.
    assert.equal(registerNamedStatement(`select "id", "status" from "payments" where "id" = $1`), true);
  });
});
