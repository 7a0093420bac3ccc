/** The Stripe simulator (test tree) as its own process for the benchmark: prints "ready <url>". */
import { StripeSimulator } from "../test/simulators/stripe/simulator.ts";

const simulator = await StripeSimulator.start({ secretKey: process.env.BENCH_STRIPE_KEY ?? "sk_test_benchmark0000000000000000" });
process.stdout.write(`ready ${simulator.url}\n`);
process.on("SIGTERM", () => process.exit(0));
