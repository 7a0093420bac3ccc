/**
 * What PGB refuses to run with once it faces the public (a publicUrl that is not a loopback address):
 * the demo host, and any secret printed in the example config (anyone can read those, so anyone could
 * mint TEST checkout ids, sign TEST webhooks or call the host API with them).
 */
import { Secret } from "../core/secret.ts";
import { ConfigError } from "./config-error.ts";

/** What of the parsed configuration (config.ts, FileConfig) decides whether PGB may face the public. */
export interface PublicExposure {
  publicUrl: string;
  demoHost: boolean;
  tenants: Record<string, unknown>;
}

/** The secrets config/pgb.example.json falls back to (a test keeps this list in step with the file). */
export const EXAMPLE_SECRETS: readonly string[] = [
  "demo-api-key-change-me",
  "whsec_ZGVtby1ub3RpZnktc2VjcmV0LWNoYW5nZS1tZQ==",
  "whsec_ZGVtby10ZXN0LXBnLXNlY3JldC1jaGFuZ2UtbWU=",
];

/** True for http(s)://localhost, 127.x.x.x and [::1]: only this machine can reach PGB there. */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return false;
  }
  return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function refuseExampleSettingsInPublic(config: PublicExposure): void {
  if (isLoopbackUrl(config.publicUrl)) return;
  if (config.demoHost) {
    throw new ConfigError(`config demoHost: the demo host answers anyone without a key; turn it off (publicUrl ${config.publicUrl} is not a loopback address)`);
  }
  for (const [dbType, tenant] of Object.entries(config.tenants)) {
    const found = exampleSecretIn(tenant, `tenants.${dbType}`);
    if (found !== undefined) {
      throw new ConfigError(
        `config ${found}: this is the example config's secret, public knowledge; set your own (publicUrl ${config.publicUrl} is not a loopback address)`,
      );
    }
  }
}

function exampleSecretIn(value: unknown, path: string): string | undefined {
  const text = value instanceof Secret ? value.reveal() : value;
  if (typeof text === "string") return EXAMPLE_SECRETS.includes(text) ? path : undefined;
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, item] of Object.entries(value)) {
    const found = exampleSecretIn(item, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}
