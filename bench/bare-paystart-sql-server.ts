/**
 * A diagnostic beside the baseline: the same two SQL statements PGB's PayStart sends with the TEST PG
 * (the order's attempts; the payment with its history row), against PGB's schema, with none of PGB's
 * layers, sent as named (prepared) statements as PGB sends them on PostgreSQL. PGB ÷ this is the
 * cost of PGB's code; this ÷ baseline is the cost of the work. Run after PGB has migrated the
 * database. If PGB's statements change, change them here too.
 */
import Fastify from "fastify";
import pg from "pg";
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const app = Fastify({ logger: false });
app.post("/PGB/PayStart", async (request) => {
  const b = request.body as { DBType: string; OrderId: number; TotalPrice: string };
  const id = "pay_" + Math.random().toString(36).slice(2) + Date.now();
  const tp = "tp_" + Math.random().toString(36).slice(2) + Date.now();
  await pool.query({
    name: "read",
    text: 'select "id", "tenant", "order_id", "joiner_id", "pay_type", "nation_code", "currency", "amount", "description", "host_redirect_url", "request_fingerprint", "pg", "pg_transaction_id", "checkout_url", "status", "pg_details", "failure_code", "failure_message", "expires_at", "paid_at", "created_at", "updated_at" from "payments" where "order_id" = $1 and tenant || \'\' = $2 order by "created_at" asc, "id" asc',
    values: [b.OrderId, b.DBType],
  });
  await pool.query({
    name: "insert",
    text: `with "created" as (insert into "payments" ("id", "tenant", "order_id", "joiner_id", "pay_type", "nation_code", "currency", "amount", "description", "host_redirect_url", "request_fingerprint", "pg", "pg_transaction_id", "checkout_url", "status", "expires_at") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) returning "id") insert into "payment_events" ("payment_id", "from_status", "to_status", "event", "source", "detail") select "created"."id", null::text as "from_status", 'READY' as "to_status", $17 as "event", $18 as "source", $19::jsonb as "detail" from "created"`,
    values: [
      id,
      b.DBType,
      b.OrderId,
      1,
      "CARD",
      "KR",
      "KRW",
      "15000",
      "",
      "https://shop.example.com/done",
      "f",
      "TEST",
      tp,
      "http://x/" + tp,
      "READY",
      new Date(Date.now() + 1800000),
      "CHECKOUT_CREATED",
      "HOST_API",
      JSON.stringify({ a: 1 }),
    ],
  });
  return { IsSuccess: true, ErrorCode: "OK", ErrorMessage: null, RedirectUrl: "http://x/" + tp, Type: "TEST", PaymentId: id };
});
await app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
process.stdout.write("ready\n");
