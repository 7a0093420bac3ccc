/**
 * `pgb config check`: loads the configuration as the server would (environment included), checks
 * every PG's settings with its connector, and every route with the check the server starts with
 * (so the configuration is valid exactly when the server would start on it); prints, per tenant,
 * which PG sells which pay types in which nations, and warns of a nation and pay type a route sends
 * to a PG that does not take it (a `*` route does; such a PayStart fails at the PG).
 */
import type { Command } from "commander";
import { formatZodIssues, type Config } from "../config/config.ts";
import { routeProblems } from "../config/route-capabilities.ts";
import { CONNECTOR_FACTORIES } from "../connectors/registry.ts";
import { SUPPORTED_NATIONS } from "../core/currency.ts";
import { PAY_TYPES, type PayType } from "../core/pay-type.ts";
import { routeCapabilityProblem } from "../core/ports/capabilities.ts";
import { routeFor } from "../core/routing.ts";
import { CliError, configFor, EXIT, globalOptions, print } from "./context.ts";

export interface TenantOffer {
  pg: string;
  payTypes: PayType[];
  nations: string[];
}

export interface ConfigReport {
  valid: boolean;
  config: string;
  publicUrl: string;
  database: "postgres" | "pglite";
  /** `problems` stop the server from starting; `warnings` are PayStarts the routes send where they fail. */
  tenants: Record<string, { offers: TenantOffer[]; problems: string[]; warnings: string[] }>;
}

export function checkConfig(config: Config): ConfigReport {
  const tenants: ConfigReport["tenants"] = {};
  for (const [tenant, tenantConfig] of Object.entries(config.tenants)) {
    const problems: string[] = [];
    const warnings: string[] = [];
    const capabilitiesOf = (pg: string) => CONNECTOR_FACTORIES.find((f) => f.pg === pg)?.capabilities;
    for (const [pg, settings] of Object.entries(tenantConfig.pgs)) {
      const factory = CONNECTOR_FACTORIES.find((f) => f.pg === pg);
      if (factory === undefined) {
        problems.push(`pgs.${pg}: no such PG (known: ${CONNECTOR_FACTORIES.map((f) => f.pg).join(", ")})`);
        continue;
      }
      const parsed = factory.settingsSchema.safeParse(settings);
      if (!parsed.success) problems.push(formatZodIssues(parsed.error, `pgs.${pg}`));
    }
    problems.push(...routeProblems(tenant, tenantConfig, capabilitiesOf));
    // Every nation × pay type the host could send: which PG the routes pick, and whether it can sell it.
    const offers = new Map<string, TenantOffer>();
    for (const nation of SUPPORTED_NATIONS) {
      const byPg = new Map<string, PayType[]>();
      for (const payType of PAY_TYPES) {
        const pg = routeFor(tenantConfig.routes, nation, payType);
        if (pg === undefined) continue;
        const capabilities = capabilitiesOf(pg);
        if (capabilities === undefined) continue; // a route problem above
        const problem = routeCapabilityProblem({ nationCode: nation, payType, pg }, capabilities);
        if (problem !== undefined) {
          warnings.push(`routes send ${nation}/${payType} to ${pg}: ${problem}`);
          continue;
        }
        byPg.set(pg, [...(byPg.get(pg) ?? []), payType]);
      }
      for (const [pg, payTypes] of byPg) {
        const key = `${pg}:${payTypes.join(",")}`;
        const offer = offers.get(key) ?? { pg, payTypes, nations: [] };
        offer.nations.push(nation);
        offers.set(key, offer);
      }
    }
    tenants[tenant] = { offers: [...offers.values()], problems, warnings };
  }
  return {
    valid: Object.values(tenants).every((t) => t.problems.length === 0),
    config: config.configPath,
    publicUrl: config.publicUrl,
    database: config.databaseUrl ? "postgres" : "pglite",
    tenants,
  };
}

export function registerConfigCommands(program: Command): void {
  const group = program.command("config").description("the configuration file");
  group
    .command("check")
    .description("validate the configuration (PGB_CONFIG or --config) and its routes; print what each tenant can sell where")
    .action((_options, command: Command) => {
      const options = globalOptions(command);
      const report = checkConfig(configFor(options));
      print(options, report, () => {
        const lines = [`${report.config}: ${report.valid ? "valid" : "INVALID"} (publicUrl ${report.publicUrl}, database ${report.database})`];
        for (const [tenant, t] of Object.entries(report.tenants)) {
          lines.push(`\n${tenant}`);
          if (t.offers.length === 0) lines.push("  sells nothing: no route matches any nation and pay type");
          for (const o of t.offers)
            lines.push(
              `  ${o.pg.padEnd(8)} ${o.payTypes.join(", ")} in ${o.nations.length === SUPPORTED_NATIONS.length ? "every supported nation" : o.nations.join(", ")}`,
            );
          for (const p of t.problems) lines.push(`  problem: ${p}`);
          for (const w of t.warnings) lines.push(`  warning: ${w}`);
        }
        return lines.join("\n");
      });
      if (!report.valid) throw new CliError("the configuration has problems (listed above)", EXIT.USAGE);
    });
}
