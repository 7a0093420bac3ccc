/**
 * Tenant authentication: `Authorization: Bearer <apiKey>`. Keys are looked up by their SHA-256, so
 * the comparison does not leak a key's prefix through timing, and a key may rotate (several per tenant).
 */
import { createHash } from "node:crypto";
import type { Config } from "../config/config.ts";

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
