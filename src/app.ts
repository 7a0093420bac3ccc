/**
 * Wires PGB together: configuration → connectors per tenant → use-case deps → HTTP routes.
 * `main.ts` runs it as a server; tests build it around an in-memory database.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from "fastify";
import type { Logger } from "pino";
import { createLogger } from "./logging.ts";
import { ConfigError, formatZodIssues, HttpConfigSchema, WorkersConfigSchema, type Config } from "./config/config.ts";
import { refuseRoutesBeyondCapabilities } from "./config/route-capabilities.ts";
import type { Connector } from "./core/ports/connector.ts";
import type { Clock } from "./core/ports/clock.ts";
import { systemClock } from "./core/system-clock.ts";
import { migrationsFor, type ConnectorDeps, type ConnectorFactory } from "./connectors/factory.ts";
import { CONNECTOR_FACTORIES } from "./connectors/registry.ts";
import type { CoreDeps } from "./core/deps.ts";
import { receiveWebhook } from "./core/use-cases/receive-webhook.ts";
import { registerHostRoutes } from "./api/host-routes.ts";
import { registerPgRoutes } from "./api/pg-routes.ts";
import { registerErrorHandling } from "./api/error-handling.ts";
import { answerWhileClosing } from "./api/shutdown.ts";
import { registerDemoHost } from "./api/demo-host.ts";
import { registerOpsRoutes } from "./api/ops-routes.ts";
import { registerRequestHygiene, requestIdOf } from "./api/request-hygiene.ts";
import { lazySchemaCompilers } from "./api/schema-compilers.ts";
import { registerConsole } from "./console/index.ts";
import { registerApiDocs } from "./api/openapi/api-docs.ts";
import { isReady, migrate, type DatabaseHandle } from "./storage/database.ts";
import { connectorStorageOf } from "./storage/connector-storage.ts";
import { createMetrics, type PgbMetrics } from "./workers/metrics.ts";
import { Reconciler } from "./workers/reconciler.ts";
import { ProcessLease } from "./workers/process-lease.ts";

export type AppConfig = Pick<Config, "publicUrl" | "checkoutTtlMinutes" | "tenants" | "demoHost"> &
  Partial<Pick<Config, "workers" | "supersedeCloseBudgetMs" | "http" | "console">>;

export interface BuildAppOptions {
  config: AppConfig;
  database: DatabaseHandle;
  logger?: Logger;
  factories?: readonly ConnectorFactory[];
  /** The one clock every part of PGB reads the time from (default: the system clock). */
  clock?: Clock;
}

export interface PgbApp {
  app: FastifyInstance;
  deps: CoreDeps;
  database: DatabaseHandle;
  metrics: PgbMetrics;
  /** Answers POST /PGB/Sync; the timed reconciler is started by startWorkers (src/workers). */
  reconciler: Reconciler;
  /** This process's lease on the work it holds; dropped when the app closes. */
  lease: ProcessLease;
}

export { createLogger } from "./logging.ts";

export async function buildApp(options: BuildAppOptions): Promise<PgbApp> {
  const factories = options.factories ?? CONNECTOR_FACTORIES;
  const logger = options.logger ?? createLogger("silent");
  const { config, database } = options;
  const clock = options.clock ?? systemClock;
  // Core migrations always; a connector's only when some tenant configures its PG.
  await migrate(database.db, migrationsFor(factories, config.tenants));

  const metrics = createMetrics(database.db);
  const connectorDeps: ConnectorDeps = { storage: connectorStorageOf(database.db), logger, publicUrl: config.publicUrl, pgCallMetrics: metrics.pgCalls, clock };
  const connectors = new Map<string, Connector>();
  const settingsByPg = new Map<string, Array<{ tenant: string; settings: unknown }>>();
  for (const [tenant, tenantConfig] of Object.entries(config.tenants)) {
    for (const [pg, raw] of Object.entries(tenantConfig.pgs)) {
      const factory = factories.find((f) => f.pg === pg);
      if (factory === undefined) throw new ConfigError(`config tenants.${tenant}.pgs.${pg}: no such PG (known: ${factories.map((f) => f.pg).join(", ")})`);
      const parsed = factory.settingsSchema.safeParse(raw);
      if (!parsed.success) throw new ConfigError(formatZodIssues(parsed.error, `config tenants.${tenant}.pgs.${pg}`));
      connectors.set(`${tenant}\u0000${pg}`, factory.create(parsed.data, { tenant, deps: connectorDeps }));
      settingsByPg.set(pg, [...(settingsByPg.get(pg) ?? []), { tenant, settings: parsed.data }]);
    }
  }

  refuseRoutesBeyondCapabilities(config.tenants, (pg) => factories.find((f) => f.pg === pg)?.capabilities);

  const workersConfig = WorkersConfigSchema.parse(config.workers ?? {});
  const lease = new ProcessLease(database.db, logger, workersConfig.leaseMs);
  await lease.start();
  const deps: CoreDeps = {
    leaseToken: lease.token,
    db: database.db,
    config,
    logger,
    connectorFor: (tenant, pg) => connectors.get(`${tenant}\u0000${pg}`),
    capabilitiesOf: (pg) => factories.find((f) => f.pg === pg)?.capabilities,
    clock,
  };

  const http = config.http ?? HttpConfigSchema.parse({});
  // Node enforces requestTimeout on headers (checked every 30 s); the body's deadline is request-hygiene's.
  // (A shorter connectionsCheckingInterval would keep idle sockets from ever timing out: Node 20.)
  const fastifyOptions: FastifyServerOptions = {
    loggerInstance: logger,
    bodyLimit: 64 * 1024,
    // A PG's ids can be long (the TEST PG's checkout ids are signed tokens of a few hundred characters).
    routerOptions: { maxParamLength: 2048 },
    trustProxy: http.trustProxy,
    genReqId: requestIdOf,
    // One access-log line per request instead (src/api/request-hygiene.ts).
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: http.requestTimeoutMs,
    connectionTimeout: http.connectionTimeoutMs,
    // Answered in the host's result shape instead (src/api/shutdown.ts).
    return503OnClosing: false,
    // Fastify's default compilers, loaded only if a route needs one (src/api/schema-compilers.ts).
    schemaController: { compilersFactory: lazySchemaCompilers },
  };
  const app = Fastify(fastifyOptions);
  registerErrorHandling(app);
  registerRequestHygiene(app, http);
  registerApiDocs(app, config.publicUrl);
  drainOnClose(app, logger, clock, () => lease.stop());
  answerWhileClosing(app);
  app.get("/health/live", async () => ({ status: "ok" }));
  app.get("/health/ready", async (_request, reply) => {
    if (await isReady(database.db)) return { status: "ready" };
    return reply.code(503).send({ status: "not ready" });
  });
  registerHostRoutes(app, deps);
  registerPgRoutes(app, deps, { rateLimit: http.webhookRateLimit, bodyLimits: new Map(factories.map((f) => [f.pg, f.maxWebhookBytes])) });
  const reconciler = new Reconciler(deps, database, metrics, workersConfig.reconciler);
  registerOpsRoutes(app, deps, { metrics, reconciler });
  for (const factory of factories) {
    await factory.registerRoutes?.(app, {
      ...connectorDeps,
      tenantsWithSettings: () => (settingsByPg.get(factory.pg) ?? []) as Array<{ tenant: string; settings: never }>,
      acceptWebhook: (tenant, input) => receiveWebhook(deps, factory.pg, tenant, input),
    });
  }
  if (config.demoHost) registerDemoHost(app, deps);
  if (config.console) await registerConsole(app, deps, { settings: config.console, reconciler });
  await app.ready();
  return { app, deps, database, metrics, reconciler, lease };
}

/**
 * On close, wait for handlers still running before the caller closes the database: a cancel whose
 * client hung up mid-refund must still record what the PG did. (Fastify's close waits for open
 * connections, not for handlers whose connection is already gone.)
 */
function drainOnClose(app: FastifyInstance, logger: Logger, clock: Clock, afterDrain: () => Promise<void>): void {
  let running = 0;
  let idle: (() => void) | undefined;
  const tracked = new WeakSet<object>();
  // Callback-style hooks: these run on every request, and skip a promise each.
  app.addHook("preHandler", (request, _reply, done) => {
    tracked.add(request);
    running++;
    done();
  });
  app.addHook("onSend", (request, _reply, payload, done) => {
    if (tracked.delete(request)) {
      running--;
      if (running === 0) idle?.();
    }
    done(null, payload);
  });
  // server.close() reaps only the connections idle when it is called. One whose request finishes
  // later stays open until its keep-alive time-out, and one whose client left mid-request may never
  // look idle: once no handler has run for a second, every connection left is closed.
  app.addHook("preClose", (done) => {
    let quietSince = clock.nowMs();
    const reaper = setInterval(() => {
      app.server.closeIdleConnections();
      if (running > 0) quietSince = clock.nowMs();
      else if (clock.nowMs() - quietSince >= 1_000) app.server.closeAllConnections();
    }, 100);
    reaper.unref();
    app.server.once("close", () => clearInterval(reaper));
    done();
  });
  app.addHook("onClose", async () => {
    if (running > 0) {
      logger.info({ running }, "waiting for requests still being handled");
      await Promise.race([new Promise<void>((resolve) => (idle = resolve)), new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
    }
    await afterDrain();
  });
}
