/**
 * This process's lease (see src/storage/lease-repository.ts): renewed every third of `leaseMs`, so a
 * process that dies stops renewing and its work is taken over within `leaseMs`; dropped on a clean
 * stop, so its leftovers are taken over at once. A failed renewal is logged and retried on the next
 * beat; should the lease lapse meanwhile, another process may repeat a PG call, which the
 * idempotency keys make harmless.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { Db } from "../storage/database.ts";
import { dropLease, renewLease } from "../storage/lease-repository.ts";

export class ProcessLease {
  readonly token = `${process.pid}-${randomBytes(6).toString("hex")}`;
  #timer: NodeJS.Timeout | undefined;
  #beat: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    readonly leaseMs: number,
  ) {}

  async start(): Promise<void> {
    await renewLease(this.db, this.token, this.leaseMs);
    this.#timer = setInterval(
      () => {
        this.#beat = renewLease(this.db, this.token, this.leaseMs).catch((error: unknown) =>
          this.logger.warn({ err: (error as Error).message }, "could not renew this process's lease; retrying on the next beat"),
        );
      },
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#beat;
    await dropLease(this.db, this.token).catch((error: unknown) =>
      this.logger.warn({ err: (error as Error).message }, "could not drop this process's lease; it runs out by itself"),
    );
  }
}
