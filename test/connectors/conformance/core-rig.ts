/**
 * PGB's core around one connector, for the battery's cases that are about what PGB does with a PG's
 * answer (a mismatch, a race, a late capture): the use cases themselves (PayStart, the browser
 * return, the webhook intake), on the battery's database, with the driver's connector as the
 * tenant's only PG. What the host is told is read from the outbox (`notifications`).
 */
import { pino } from "pino";
import type { Connector } from "../../../src/core/ports/connector.ts";
import type { CoreDeps } from "../../../src/core/deps.ts";
import { payStart } from "../../../src/core/use-cases/pay-start.ts";
import { brand, type PaymentId, type PgTransactionId } from "../../../src/core/ids.ts";
import { systemClock } from "../../../src/core/system-clock.ts";
import type { Db } from "../../../src/storage/database.ts";
import { demoTenant, HOST_ORIGIN, testConfig } from "../../support/pgb.ts";
import type { ConformanceDriver } from "./battery.ts";

export const TENANT = "SHOP";

export interface CoreRig {
  deps: CoreDeps;
  connector: Connector;
  /**
   * From now on, the PG's answers to reads and returns (fetchPayment, handleReturn) are held until two
   * have arrived, so that two paths that each asked the PG go on to settle at the same moment: a race
   * made certain rather than left to scheduling. (A second answer that never comes releases the first
   * after a while: the case then runs unraced, and passes or fails on its own assertions.)
   */
  holdPgAnswersInPairs(): void;
  /** A PayStart through the core; answers PGB's payment id and the PG's checkout id. */
  payStart(orderId: number, amount: ConformanceDriver["amount"]): Promise<{ paymentId: PaymentId; pgTransactionId: PgTransactionId; checkoutUrl: string }>;
  /** PGB's record of a payment. */
  payment(paymentId: string): Promise<{ status: string; pg_transaction_id: string | null; failure_code: string | null }>;
  /** The notification types queued for the host about a payment, oldest first. */
  notified(paymentId: string): Promise<string[]>;
  /** The history events of a payment, oldest first (`to` is the state it moved to). */
  events(paymentId: string): Promise<Array<{ event: string; to: string }>>;
  alerts(paymentId: string): Promise<string[]>;
  /** The last stored webhook's id: `webhooks(after)` lists those taken in since. */
  lastWebhookId(): Promise<string>;
  /** The webhooks taken in after `after`, with how acting on them ended. */
  webhooks(after: string): Promise<Array<{ status: string; error: string | null }>>;
  /** PGB's books for a payment: its money movements. */
  movements(paymentId: string): Promise<Array<{ kind: string; status: string; amount: bigint }>>;
}

export function coreRig(d: ConformanceDriver, db: Db): CoreRig {
  const gate = new PairGate();
  const inner = d.connector();
  const connector = new Proxy(inner, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (property === "fetchPayment" || property === "handleReturn") {
        return async (...args: unknown[]) => gate.pass(await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      }
      return value.bind(target);
    },
  });
  const config = testConfig("http://pgb.test", {
    tenants: { [TENANT]: demoTenant({ routes: [{ nationCode: "*", payType: "*", pg: d.pg }], pgs: { [d.pg]: {} } }) },
  });
  const deps: CoreDeps = {
    db,
    config,
    logger: pino({ level: "silent" }),
    connectorFor: (tenant, pg) => (tenant === TENANT && pg === d.pg ? connector : undefined),
    capabilitiesOf: (pg) => (pg === d.pg ? d.capabilities : undefined),
    clock: systemClock,
  };
  return {
    deps,
    connector,
    holdPgAnswersInPairs: () => gate.start(),
    async payStart(orderId, amount) {
      const payType = d.capabilities.payTypes.includes("CARD") ? "CARD" : d.capabilities.payTypes[0]!;
      const started = await payStart(deps, {
        tenant: TENANT,
        orderId,
        joinerId: 7,
        payType,
        amount,
        nationCode: d.nationCode,
        description: "Conformance order",
        redirectUrl: `${HOST_ORIGIN}/done`,
      });
      if (!started.ok) throw new Error(`PayStart failed: ${started.code} ${started.message}`);
      const row = await db.selectFrom("payments").select(["pg_transaction_id"]).where("id", "=", started.value.paymentId).executeTakeFirstOrThrow();
      return {
        paymentId: brand<PaymentId>(started.value.paymentId),
        pgTransactionId: brand<PgTransactionId>(row.pg_transaction_id ?? started.value.paymentId),
        checkoutUrl: started.value.checkoutUrl,
      };
    },
    payment: (paymentId) =>
      db.selectFrom("payments").select(["status", "pg_transaction_id", "failure_code"]).where("id", "=", paymentId).executeTakeFirstOrThrow(),
    notified: async (paymentId) =>
      (await db.selectFrom("notifications").select("type").where("payment_id", "=", paymentId).orderBy("seq").execute()).map((r) => r.type),
    events: async (paymentId) =>
      (await db.selectFrom("payment_events").select(["event", "to_status"]).where("payment_id", "=", paymentId).orderBy("id").execute()).map((r) => ({
        event: r.event,
        to: r.to_status,
      })),
    lastWebhookId: async () =>
      String(
        (
          await db
            .selectFrom("pg_webhooks")
            .select((eb) => eb.fn.coalesce(eb.fn.max("id"), eb.lit(0)).as("last"))
            .executeTakeFirstOrThrow()
        ).last,
      ),
    webhooks: (after) => db.selectFrom("pg_webhooks").select(["status", "error"]).where("id", ">", after).orderBy("id").execute(),
    alerts: async (paymentId) => (await db.selectFrom("alerts").select("type").where("payment_id", "=", paymentId).execute()).map((r) => r.type),
    movements: async (paymentId) =>
      (await db.selectFrom("money_movements").select(["kind", "status", "amount"]).where("payment_id", "=", paymentId).orderBy("created_at").execute()).map(
        (r) => ({ kind: r.kind, status: r.status, amount: BigInt(r.amount) }),
      ),
  };
}

/** Holds the first answer until a second has arrived (or a while has passed), then lets both go together; later ones pass. */
class PairGate {
  #on = false;
  #waiting: Array<() => void> = [];

  start(): void {
    this.#on = true;
  }

  async pass<T>(answer: T): Promise<T> {
    if (!this.#on) return answer;
    const released = new Promise<void>((resolve) => this.#waiting.push(resolve));
    const releaseAll = () => {
      this.#on = false;
      for (const release of this.#waiting.splice(0)) release();
    };
    if (this.#waiting.length >= 2) releaseAll();
    const timer = setTimeout(releaseAll, 3_000);
    await released;
    clearTimeout(timer);
    return answer;
  }
}
