/**
 * Operator sign-in: server-side sessions (@fastify/session, stored in operator_sessions), CSRF tokens
 * on every form that changes something (@fastify/csrf-protection), a rate limit on sign-in
 * (@fastify/rate-limit), roles checked on the server for every action.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fastifyCookie from "@fastify/cookie";
import fastifySession from "@fastify/session";
import fastifyCsrf from "@fastify/csrf-protection";
import fastifyRateLimit from "@fastify/rate-limit";
import type { ConsoleConfig } from "../config/config.ts";
import { deleteSession, loadSession, saveSession, findOperator, type ConsoleDb, type Operator, type Role } from "../storage/operator-repository.ts";
import type { Clock } from "../core/ports/clock.ts";

declare module "fastify" {
  interface Session {
    operatorId?: string;
    loginAt?: number;
  }
  interface FastifyRequest {
    operator?: Operator;
  }
}

export const SESSION_COOKIE = "pgb_console";

/** Which roles may do what. Reading is every role's. */
export const PERMISSIONS = {
  sync: ["support", "admin"],
  replay: ["support", "admin"],
  expire: ["support", "admin"],
  acknowledge: ["support", "finance", "admin"],
  refund: ["finance", "admin"],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof PERMISSIONS;

export function can(operator: Operator | undefined, permission: Permission): boolean {
  return operator !== undefined && (PERMISSIONS[permission] as readonly Role[]).includes(operator.role);
}

export function canSeeTenant(operator: Operator, tenant: string): boolean {
  return operator.tenants === null || operator.tenants.includes(tenant);
}

/** Sessions live in the database, so every PGB process behind a load balancer shares them. */
class DatabaseSessionStore {
  constructor(
    private readonly db: ConsoleDb,
    private readonly idleMs: number,
    private readonly clock: Clock,
  ) {}
  set(sessionId: string, session: { operatorId?: string }, callback: (err?: unknown) => void): void {
    // Only signed-in sessions are kept: a visitor to the sign-in page stores nothing.
    if (session.operatorId === undefined) return callback();
    saveSession(this.db, sessionId, session.operatorId, session, new Date(this.clock.nowMs() + this.idleMs)).then(() => callback(), callback);
  }
  get(sessionId: string, callback: (err: unknown, session?: never) => void): void {
    loadSession(this.db, sessionId).then((data) => callback(null, (data ?? null) as never), callback);
  }
  destroy(sessionId: string, callback: (err?: unknown) => void): void {
    deleteSession(this.db, sessionId).then(() => callback(), callback);
  }
}

export async function registerAuthPlugins(scope: FastifyInstance, db: ConsoleDb, settings: ConsoleConfig, publicUrl: string, clock: Clock): Promise<void> {
  const idleMs = settings.idleMinutes * 60_000;
  await scope.register(fastifyCookie);
  await scope.register(fastifySession, {
    secret: settings.sessionSecret.reveal(),
    cookieName: SESSION_COOKIE,
    store: new DatabaseSessionStore(db, idleMs, clock) as never,
    saveUninitialized: false,
    rolling: true,
    cookie: { path: "/console", httpOnly: true, secure: publicUrl.startsWith("https:"), sameSite: "lax", maxAge: idleMs },
  });
  await scope.register(fastifyCsrf, { sessionPlugin: "@fastify/session" });
  await scope.register(fastifyRateLimit, { global: false });
}

/** The signed-in operator, or a redirect to the sign-in page. Runs before every console page but sign-in. */
export function requireOperator(db: ConsoleDb, settings: ConsoleConfig, clock: Clock) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const { operatorId, loginAt } = request.session;
    const tooOld = loginAt === undefined || clock.nowMs() - loginAt > settings.maxHours * 3_600_000;
    const operator = operatorId === undefined || tooOld ? undefined : await findOperator(db, operatorId);
    if (operator === undefined || operator.disabled) {
      if (operatorId !== undefined) await request.session.destroy();
      const next = request.method === "GET" ? `?next=${encodeURIComponent(request.url)}` : "";
      return reply.code(303).redirect(`/console/login${next}`);
    }
    request.operator = operator;
  };
}
