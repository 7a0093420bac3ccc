/** Reads the CPU profile a server wrote with --cpu-prof (the benchmark's `--profile`). */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** Prints the functions with the most self time in the newest CPU profile. */
export function summariseProfile(dir: string, log: (line: string) => void): void {
  // tsx adds a loader thread with its own profile: the main thread's is the largest.
  const file = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => ({ f, size: statSync(join(dir, f)).size, mtime: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime)
    .slice(0, 2)
    .sort((a, b) => b.size - a.size)[0]?.f;
  if (file === undefined) return;
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as {
    nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
    samples: number[];
    timeDeltas: number[];
  };
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const t = self.get(node.id) ?? 0;
    total += t;
    const where = node.callFrame.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/src\//, "src/");
    const name = `${node.callFrame.functionName || "(anonymous)"} ${where}:${node.callFrame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + t);
  }
  log(`    CPU profile ${join(dir, file)} — top self time:`);
  for (const [name, t] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 15)) log(`      ${((100 * t) / total).toFixed(1).padStart(5)}%  ${name}`);
}
