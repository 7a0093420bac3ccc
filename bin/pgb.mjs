#!/usr/bin/env node
// `npx pgb …`: the command line. Runs the build (dist/) where there is no source tree (the container),
// the TypeScript sources through tsx otherwise, so a checkout never runs a stale build.
import { existsSync } from "node:fs";

const source = new URL("../src/cli/main.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  await import(new URL("../dist/cli/main.js", import.meta.url).href);
}
