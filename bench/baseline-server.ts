/**
 * The benchmark's baseline: the least any server could do for a PayStart durably — parse the same JSON
 * body and commit one transaction with two inserts. Run as its own process, like PGB.
 */
import Fastify from "fastify";
import pg from "pg";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
await pool.query(
  `CREATE TABLE IF NOT EXISTS baseline_payments (id bigserial PRIMARY KEY, tenant text, order_id int, amount text, body jsonb, created_at timestamptz DEFAULT now())`,
);
await pool.query(`CREATE TABLE IF NOT EXISTS baseline_events (id bigserial PRIMARY KEY, payment_id bigint, event text, created_at timestamptz DEFAULT now())`);

const app = Fastify({ logger: false });
app.post("/PGB/PayStart", async (request) => {
  const body = request.body as { DBType: string; OrderId: number; TotalPrice: string };
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ id: string }>("INSERT INTO baseline_payments (tenant, order_id, amount, body) VALUES ($1, $2, $3, $4) RETURNING id", [
      body.DBType,
      body.OrderId,
      body.TotalPrice,
      JSON.stringify(body),
    ]);
    await client.query("INSERT INTO baseline_events (payment_id, event) VALUES ($1, 'CREATED')", [rows[0]!.id]);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  } finally {
    client.release();
  }
  return { IsSuccess: true, ErrorCode: "OK", ErrorMessage: null, RedirectUrl: "http://example/checkout", Type: "BASELINE" };
});
await app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
process.stdout.write("ready\n");
