/**
 * Tenant authentication: `Authorization: Bearer <apiKey>`. Keys are looked up by their SHA-256, so
 * the comparison does not leak a key's prefix through timing, and a key may rotate (several per tenant).
 */
import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { Config } from "../config/config.ts";
import { sendResult } from "./host-result.ts";

export class ApiKeyIndex {
  readonly #tenantByKeyHash = new Map<string, string>();

  constructor(tenants: Config["tenants"]) {
    for (const [dbType, tenant] of Object.entries(tenants)) {
      for (const key of tenant.apiKeys) this.#tenantByKeyHash.set(hash(key.reveal()), dbType);
    }
  }

  /** The tenant (DBType) the request's key belongs to, or undefined. */
  tenantOf(authorization: string | undefined): string | undefined {
    if (authorization === undefined) return undefined;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match === null) return undefined;
    return this.#tenantByKeyHash.get(hash(match[1]!));
  }
}

function hash(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/**
 * Authenticates every request of `scope` before its body is even parsed (an unauthenticated caller
 * gets no work out of PGB) and records the key's tenant on the request.
 */
export function requireTenantKey(scope: FastifyInstance, keys: ApiKeyIndex): void {
  // Callback-style: it runs on every request, and skips a promise.
  scope.addHook("onRequest", (request, reply, done) => {
    const tenant = keys.tenantOf(request.headers.authorization);
    if (tenant === undefined) {
      sendResult(reply.header("www-authenticate", 'Bearer realm="PGB"'), "UNAUTHORIZED", "missing or invalid API key (Authorization: Bearer <key>)");
      return;
    }
    request.tenant = tenant;
    done();
  });
}
