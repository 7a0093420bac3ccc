/**
 * Start-up check of every tenant's routes against what each PG's connector declares it can do, so a
 * route that would send a payment its PG cannot take (US/CARD to a KRW-only PG) stops PGB with a
 * message naming the route, instead of failing the customer's PayStart later.
 */
import { routeCapabilityProblem, type PgCapabilities } from "../core/ports/capabilities.ts";
import { ConfigError, type TenantConfig } from "./config.ts";

/** Every route of `tenant` its PG cannot take, as the messages PGB refuses to start with. */
export function routeProblems(tenant: string, tenantConfig: TenantConfig, capabilitiesOf: (pg: string) => PgCapabilities | undefined): string[] {
  return tenantConfig.routes.flatMap((route, i) => {
    const capabilities = capabilitiesOf(route.pg);
    const where = `config tenants.${tenant}.routes[${i}] (${route.nationCode}/${route.payType} → ${route.pg})`;
    if (capabilities === undefined) return [`${where}: no such PG`];
    const problem = routeCapabilityProblem(route, capabilities);
    return problem === undefined ? [] : [`${where}: ${problem}`];
  });
}

export function refuseRoutesBeyondCapabilities(tenants: Record<string, TenantConfig>, capabilitiesOf: (pg: string) => PgCapabilities | undefined): void {
  for (const [tenant, tenantConfig] of Object.entries(tenants)) {
    const [first] = routeProblems(tenant, tenantConfig, capabilitiesOf);
    if (first !== undefined) throw new ConfigError(first);
  }
}
