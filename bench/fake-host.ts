/**
 * The benchmark's host: takes PGB's notifications at once (204) and remembers when each order's first
 * PAYMENT_COMPLETED arrived, counting redeliveries (the same webhook-id twice). Runs in the benchmark's
 * process.
 */
import { createServer } from "node:http";
import { freePort } from "./lib.ts";

export interface FakeHost {
  url: string;
  received: Map<number, number>;
  requests: number;
  duplicates: number;
  close(): Promise<void>;
}

/** A host that answers notifications at once and remembers when each order's first one arrived. */
export async function startFakeHost(): Promise<FakeHost> {
  const received = new Map<number, number>();
  const seen = new Set<string>();
  const state = { duplicates: 0, requests: 0 };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      const at = performance.now();
      state.requests++;
      const id = String(request.headers["webhook-id"] ?? "");
      if (seen.has(id)) state.duplicates++;
      seen.add(id);
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { OrderId: number; Type: string };
        if (body.Type === "PAYMENT_COMPLETED" && !received.has(body.OrderId)) received.set(body.OrderId, at);
      } catch {
        // not JSON: still answered, the benchmark checks arrival only
      }
      response.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    get duplicates() {
      return state.duplicates;
    },
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
