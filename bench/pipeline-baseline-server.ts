/**
 * The pipeline baseline (issue 16): the least work a PG webhook → host notification needs on this
 * database, written bare. Three commits, as a durable pipeline must make them: (1) the webhook stored
 * before its 2xx; (2) the payment's state change with its history row and outbox row; (3) the outbox
 * row marked delivered once the host answered. One HTTP POST to the host, signed (Standard Webhooks),
 * over a keep-alive connection. The webhook's signature is verified as PGB verifies it. No re-read
 * of the PG, no leases, no retries, no per-order ordering: what is left is the floor.
 *
 * Env: DATABASE_URL, PORT, NOTIFY_URL, WEBHOOK_SECRET, NOTIFY_SECRET. POST /seed {count} answers
 * {first, count}: payment ids first..first+count-1 waiting for their webhook.
 */
import { Agent, request as httpRequest } from "node:http";
import Fastify from "fastify";
import pg from "pg";
import { Webhook } from "standardwebhooks";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
await pool.query(
  `CREATE TABLE IF NOT EXISTS bl_payments (id bigint PRIMARY KEY, order_id int NOT NULL, status text NOT NULL, updated_at timestamptz DEFAULT now())`,
);
await pool.query(`CREATE TABLE IF NOT EXISTS bl_events (id bigserial PRIMARY KEY, payment_id bigint, event text, created_at timestamptz DEFAULT now())`);
await pool.query(`CREATE TABLE IF NOT EXISTS bl_webhooks (id bigserial PRIMARY KEY, event_id text UNIQUE, body text, status text DEFAULT 'RECEIVED')`);
await pool.query(
  `CREATE TABLE IF NOT EXISTS bl_outbox (id bigserial PRIMARY KEY, payment_id bigint, payload jsonb, status text DEFAULT 'PENDING', delivered_at timestamptz)`,
);

const verifier = new Webhook(process.env.WEBHOOK_SECRET!);
const signer = new Webhook(process.env.NOTIFY_SECRET!);
const notifyUrl = new URL(process.env.NOTIFY_URL!);
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function post(id: string, body: string): Promise<number> {
  const now = new Date();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: notifyUrl.hostname,
        port: notifyUrl.port,
        path: notifyUrl.pathname,
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "webhook-id": id,
          "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
          "webhook-signature": signer.sign(id, now, body),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function actOnWebhook(webhookId: string, paymentId: string): Promise<void> {
  const { rows } = await pool.query<{ id: string; payload: unknown }>(
    `WITH p AS (UPDATE bl_payments SET status = 'PAID', updated_at = now() WHERE id = $1 AND status = 'READY' RETURNING id, order_id),
          e AS (INSERT INTO bl_events (payment_id, event) SELECT id, 'PAID' FROM p),
          w AS (UPDATE bl_webhooks SET status = 'PROCESSED' WHERE id = $2)
     INSERT INTO bl_outbox (payment_id, payload) SELECT id, jsonb_build_object('Type', 'PAYMENT_COMPLETED', 'OrderId', order_id, 'PaymentId', id::text) FROM p RETURNING id::text, payload`,
    [paymentId, webhookId],
  );
  const row = rows[0];
  if (row === undefined) return;
  const status = await post(`msg_${row.id}`, JSON.stringify(row.payload));
  if (status >= 200 && status < 300) await pool.query(`UPDATE bl_outbox SET status = 'DELIVERED', delivered_at = now() WHERE id = $1`, [row.id]);
}

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => done(null, body));
app.post("/webhook", async (request, reply) => {
  const raw = (request.body as Buffer).toString("utf8");
  const h = request.headers;
  let event: { id: string; data: { merchantReference: string } };
  try {
    event = verifier.verify(raw, {
      "webhook-id": String(h["webhook-id"]),
      "webhook-timestamp": String(h["webhook-timestamp"]),
      "webhook-signature": String(h["webhook-signature"]),
    }) as typeof event;
  } catch {
    return reply.code(400).send({ received: false });
  }
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO bl_webhooks (event_id, body) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING RETURNING id::text`,
    [event.id, raw],
  );
  if (rows[0] !== undefined) {
    const webhookId = rows[0].id;
    setImmediate(() => void actOnWebhook(webhookId, event.data.merchantReference).catch((error: unknown) => console.error((error as Error).message)));
  }
  return { received: true };
});
app.post("/seed", async (request) => {
  const { first, count } = JSON.parse((request.body as Buffer).toString("utf8")) as { first: number; count: number };
  await pool.query(`INSERT INTO bl_payments (id, order_id, status) SELECT g, g, 'READY' FROM generate_series($1::bigint, $2::bigint) g`, [
    first,
    first + count - 1,
  ]);
  return { first, count };
});
await app.listen({ port: Number(process.env.PORT), host: "127.0.0.1" });
process.stdout.write("ready\n");
