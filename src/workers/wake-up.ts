/**
 * The database's wake-up signal: migration 0002 makes every insert into the outbox NOTIFY
 * `pgb_delivery` at commit. On PostgreSQL a dedicated connection LISTENs (and reconnects if it
 * drops); on PGlite the embedded database calls back in-process. Either way a dispatcher sees a new
 * notification within milliseconds instead of waiting for its poll.
 */
import type pg from "pg";
import type { Logger } from "pino";
import type { DatabaseHandle } from "../storage/database.ts";

export const WAKE_CHANNEL = "pgb_delivery";

export interface WakeUp {
  close(): Promise<void>;
}

export async function listenForWakeUps(database: DatabaseHandle, logger: Logger, onWake: () => void): Promise<WakeUp> {
  if (database.pglite !== undefined) {
    const unlisten = await database.pglite.listen(WAKE_CHANNEL, () => onWake());
    return { close: () => unlisten() };
  }
  if (database.pool === undefined) return { close: async () => {} };
  const pool = database.pool;
  let client: pg.PoolClient | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    if (closed) return;
    try {
      const c = await pool.connect();
      c.on("notification", () => onWake());
      c.on("error", (error) => {
        logger.warn({ err: error.message }, "wake-up connection lost; reconnecting");
        c.release(true);
        if (client === c) client = undefined;
        schedule();
      });
      await c.query(`LISTEN ${WAKE_CHANNEL}`);
      if (closed) {
        c.release(true);
        return;
      }
      client = c;
      // Anything that arrived while nobody listened is picked up now.
      onWake();
    } catch (error) {
      logger.warn({ err: (error as Error).message }, "cannot LISTEN for wake-ups; polling until it works");
      schedule();
    }
  };
  const schedule = () => {
    if (!closed) retry = setTimeout(() => void connect(), 1_000);
  };
  await connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      const c = client;
      client = undefined;
      if (c !== undefined) {
        try {
          await c.query(`UNLISTEN ${WAKE_CHANNEL}`);
        } catch {
          // The connection is going away anyway.
        }
        c.release(true);
      }
    },
  };
}
