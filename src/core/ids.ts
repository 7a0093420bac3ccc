import { randomBytes } from "node:crypto";

/**
 * Prefixed, sortable-enough random ids ("pay_…", "rf_…"): the prefix says what an id names when it
 * shows up in a log or a PG's dashboard; 16 random bytes make collisions a non-issue. Time-ordered
 * so that index inserts stay local.
 */
export function newId(prefix: "pay" | "mm" | "msg" | "tp" | "tprf" | "evt"): string {
  const time = Date.now().toString(36).padStart(9, "0");
  return `${prefix}_${time}${randomBytes(10).toString("hex")}`;
}
