/**
 * The background workers of one PGB process: the notification dispatcher, the webhook retrier and
 * the reconciler. They share nothing but the database with the workers of other processes, so any
 * number of PGB processes may run them at once. `main.ts` starts them; tests start them with short
 * intervals.
 */
import { WorkersConfigSchema, type WorkersConfig } from "../config/config.ts";
import type { CoreDeps } from "../core/deps.ts";
import type { DatabaseHandle } from "../storage/database.ts";
import type { PgbMetrics } from "./metrics.ts";
import { NotificationDispatcher } from "./notification-dispatcher.ts";
import { Reconciler } from "./reconciler.ts";
import { listenForWakeUps } from "./wake-up.ts";
import { TakeoverWorker } from "./takeover.ts";
import { WebhookRetrier } from "./webhook-retrier.ts";

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
export type WorkersOptions = DeepPartial<WorkersConfig> & {
  /** Leave a worker out (tests of one worker alone). */
  disable?: Array<"notifications" | "webhooks" | "reconciler" | "takeover">;
};

export interface RunningWorkers {
  dispatcher: NotificationDispatcher | undefined;
  reconciler: Reconciler | undefined;
  /** Stops claiming new work, finishes or releases what is claimed. */
  stop(): Promise<void>;
}

/** What the workers need of a built PGB (src/app.ts's PgbApp has it). */
export interface WorkersHost {
  deps: CoreDeps;
  database: DatabaseHandle;
  metrics: PgbMetrics;
  /** The reconciler that answers POST /PGB/Sync; the take-over worker hands it what it takes over. */
  reconciler: Reconciler;
}

export async function startWorkers(pgb: WorkersHost, options: WorkersOptions = {}): Promise<RunningWorkers> {
  const { disable = [], ...rest } = options;
  const settings = WorkersConfigSchema.parse(rest);
  const { deps, database, metrics } = pgb;

  const dispatcher = disable.includes("notifications") ? undefined : new NotificationDispatcher(deps, metrics, settings.notifications, settings.pollIntervalMs);
  const retrier = disable.includes("webhooks") ? undefined : new WebhookRetrier(deps, metrics, settings.webhooks, settings.pollIntervalMs);
  const reconciler = disable.includes("reconciler") ? undefined : new Reconciler(deps, database, metrics, settings.reconciler);
  // The take-over worker asks the PG about UNKNOWN refunds through the timed reconciler's settings when it runs.
  const takeover = disable.includes("takeover") ? undefined : new TakeoverWorker(deps, reconciler ?? pgb.reconciler, settings.pollIntervalMs);

  const wakeUp = dispatcher === undefined ? undefined : await listenForWakeUps(database, deps.logger, () => dispatcher.wake());
  dispatcher?.start();
  // A payment moved in this process hands its notification straight to this dispatcher.
  if (dispatcher !== undefined) deps.outbox = dispatcher.handOff;
  retrier?.start();
  reconciler?.start();
  takeover?.start();
  deps.logger.info({ workers: ["notifications", "webhooks", "reconciler", "takeover"].filter((w) => !disable.includes(w as never)) }, "workers started");

  let stopping: Promise<void> | undefined;
  return {
    dispatcher,
    reconciler,
    stop() {
      stopping ??= (async () => {
        if (deps.outbox === dispatcher?.handOff) delete deps.outbox;
        await wakeUp?.close();
        await Promise.all([dispatcher?.stop(), retrier?.stop(), reconciler?.stop(), takeover?.stop()]);
        deps.logger.info("workers stopped");
      })();
      return stopping;
    },
  };
}
