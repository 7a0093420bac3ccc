/**
 * A request that reaches PGB while it is shutting down, as a keep-alive client's does: its
 * connection is opened and its request started before close, and finished once close has begun (a
 * handler held at the PG keeps the close from completing meanwhile).
 */
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { paidOrder } from "./checkout.ts";
import type { Faults } from "./faulty-connector.ts";
import { DEMO_KEY, type TestPgb } from "./pgb.ts";

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** Closes `pgb.app` with a refund held at the PG and sends `path` meanwhile; answers what came back. */
export async function requestDuringClose(
  pgb: TestPgb,
  faults: Faults,
  path = "/PGB/Payment?DBType=DEMO&OrderId=1",
): Promise<{ answer: RawAnswer; closed: Promise<void> }> {
  const { orderId } = await paidOrder(pgb, { TotalPrice: "10000" });
  const release = faults.holdNext("refund");
  const held = fetch(`${pgb.url}/PGB/PartialCancel`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${DEMO_KEY}` },
    body: JSON.stringify({
      DBType: "DEMO",
      OrderId: orderId,
      RefundPrice: "1000",
      CurrentTotalPrice: "10000",
      ModifedTotalPrice: "9000",
      JoinerId: 1,
      NationCode: "KR",
    }),
  }).catch(() => undefined);
  for (let i = 0; i < 200 && faults.calls.refund === 0; i++) await sleep(10);

  const { port } = new URL(pgb.url);
  const socket = connect(Number(port), "127.0.0.1");
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  let raw = "";
  socket.on("data", (chunk: Buffer) => (raw += chunk.toString("utf8")));
  const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  // The request has begun, so the connection is not idle and survives the start of close.
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${DEMO_KEY}\r\n`);
  await sleep(50);
  const closed = pgb.app.close();
  await sleep(100);
  socket.write("Connection: keep-alive\r\n\r\n");
  await Promise.race([ended, sleep(3_000)]);
  socket.destroy();
  release();
  await held;

  const [head = "", body = ""] = raw.split("\r\n\r\n");
  const [statusLine = "", ...headerLines] = head.split("\r\n");
  const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
  const json = headers["transfer-encoding"] === "chunked" ? (body.split("\r\n")[1] ?? "") : body;
  return { answer: { status: Number(statusLine.split(" ")[1]), headers, body: JSON.parse(json || "{}") as Record<string, unknown> }, closed };
}
