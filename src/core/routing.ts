import type { TenantConfig } from "../config/config.ts";
import type { PayType } from "./pay-type.ts";

/** The tenant's first route whose nation and pay type match (`*` matches anything) names the PG. */
export function routeFor(routes: TenantConfig["routes"], nationCode: string, payType: PayType): string | undefined {
  const nation = nationCode.toUpperCase();
  return routes.find((r) => (r.nationCode === "*" || r.nationCode === nation) && (r.payType === "*" || r.payType === payType))?.pg;
}
