/**
 * Counts the database round trips a server makes: a TCP proxy between it and PostgreSQL that reads
 * the frontend protocol. Every Sync ('S', the end of one extended-protocol query) and every simple
 * Query ('Q') is one round trip; each is tallied by the head of its SQL text (from the Parse or Query
 * message before it), so the benchmark can say which statements a payment costs. Commits are counted
 * from the statements too (COMMIT, and a statement outside BEGIN…COMMIT commits on its own).
 * Used only for a counting pass at a low rate: forwarding costs the bench process CPU.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export interface RoundTripCounter {
  /** postgres:// URL through the proxy, same user and database as `target`. */
  url: string;
  total(): number;
  commits(): number;
  /** Round trips by statement head since the last reset. */
  byStatement(): Map<string, number>;
  reset(): void;
  close(): Promise<void>;
}

export async function countRoundTrips(target: string): Promise<RoundTripCounter> {
  const to = new URL(target);
  const counts = new Map<string, number>();
  let total = 0;
  let commits = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(to.port || 5432), to.hostname);
    sockets.add(client).add(upstream);
    let started = false;
    let pending: Buffer = Buffer.alloc(0);
    let lastSql = "?";
    const prepared = new Map<string, string>();
    let inTransaction = false;
    const statement = (text: string) => {
      const head = text.replace(/\s+/g, " ").trim().slice(0, 70);
      total++;
      counts.set(head, (counts.get(head) ?? 0) + 1);
      const verb = head.slice(0, 8).toLowerCase();
      if (verb.startsWith("begin")) inTransaction = true;
      else if (verb.startsWith("commit") || verb.startsWith("rollback")) {
        if (verb.startsWith("commit")) commits++;
        inTransaction = false;
      } else if (!inTransaction && !verb.startsWith("listen") && !verb.startsWith("select")) commits++;
    };
    client.on("data", (chunk: Buffer) => {
      upstream.write(chunk);
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        if (!started) {
          if (pending.length < 4) return;
          const length = pending.readInt32BE(0);
          if (pending.length < length) return;
          pending = pending.subarray(length);
          started = true;
          continue;
        }
        if (pending.length < 5) return;
        const type = String.fromCharCode(pending[0]!);
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) return;
        const body = pending.subarray(5, 1 + length);
        if (type === "P") {
          const nameEnd = body.indexOf(0);
          lastSql = body.subarray(nameEnd + 1, body.indexOf(0, nameEnd + 1)).toString("utf8");
          if (nameEnd > 0) prepared.set(body.subarray(0, nameEnd).toString("utf8"), lastSql);
        } else if (type === "B") {
          // A named prepared statement is parsed once per connection, then only bound by its name.
          const portalEnd = body.indexOf(0);
          const name = body.subarray(portalEnd + 1, body.indexOf(0, portalEnd + 1)).toString("utf8");
          if (name !== "") lastSql = prepared.get(name) ?? lastSql;
        } else if (type === "S") statement(lastSql);
        else if (type === "Q") statement(body.subarray(0, body.indexOf(0)).toString("utf8"));
        pending = pending.subarray(1 + length);
      }
    });
    upstream.on("data", (chunk) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const via = new URL(target);
  via.hostname = "127.0.0.1";
  via.port = String(port);
  return {
    url: via.toString(),
    total: () => total,
    commits: () => commits,
    byStatement: () => new Map(counts),
    reset() {
      counts.clear();
      total = 0;
      commits = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
