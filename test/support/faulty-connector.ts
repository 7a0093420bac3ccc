/**
 * The TEST connector with faults on demand: the next call to a method can throw a ConnectorError (or
 * a plain bug), or wait on a gate first. Used to drive PGB through every PG failure class.
 */
import type { Connector, ConnectorFactory } from "../../src/connectors/connector.ts";
import { testConnector } from "../../src/connectors/test/index.ts";

type Method = "createCheckout" | "refund" | "fetchPayment" | "handleReturn" | "expireCheckout";
type Fault = { kind: "throw"; error: Error } | { kind: "gate"; until: Promise<void> };

export class Faults {
  readonly #queue = new Map<Method, Fault[]>();
  calls: Record<Method, number> = { createCheckout: 0, refund: 0, fetchPayment: 0, handleReturn: 0, expireCheckout: 0 };

  throwNext(method: Method, error: Error): void {
    this.#queue.set(method, [...(this.#queue.get(method) ?? []), { kind: "throw", error }]);
  }

  /** The next call waits until the returned function is called. */
  holdNext(method: Method): () => void {
    let release!: () => void;
    const until = new Promise<void>((resolve) => (release = resolve));
    this.#queue.set(method, [...(this.#queue.get(method) ?? []), { kind: "gate", until }]);
    return release;
  }

  async apply(method: Method): Promise<void> {
    this.calls[method]++;
    const fault = this.#queue.get(method)?.shift();
    if (fault === undefined) return;
    if (fault.kind === "throw") throw fault.error;
    await fault.until;
  }
}

/** `withLookup`: also offer the TEST PG's refund lookup (left out by default: PGB then re-sends). */
export function faultyTestConnector(faults: Faults, options: { withLookup?: boolean } = {}): ConnectorFactory {
  return {
    ...testConnector,
    create(settings, context) {
      const inner: Connector = testConnector.create(settings as never, context);
      const wrapped: Connector = {
        pg: inner.pg,
        createCheckout: async (input) => (await faults.apply("createCheckout"), inner.createCheckout(input)),
        parseWebhook: (input) => inner.parseWebhook(input),
        fetchPayment: async (ref) => (await faults.apply("fetchPayment"), inner.fetchPayment(ref)),
        handleReturn: async (input) => (await faults.apply("handleReturn"), inner.handleReturn(input)),
        refund: async (input) => (await faults.apply("refund"), inner.refund(input)),
        expireCheckout: async (ref) => (await faults.apply("expireCheckout"), inner.expireCheckout(ref)),
      };
      if (options.withLookup === true && inner.lookupRefund) wrapped.lookupRefund = (ref) => inner.lookupRefund!(ref);
      return wrapped;
    },
  };
}
