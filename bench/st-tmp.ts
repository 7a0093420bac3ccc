const t0 = performance.now();
const { PGlite } = await import("@electric-sql/pglite");
const t1 = performance.now();
const { buildApp } = await import("../src/app.ts");
const t2 = performance.now();
const p = new PGlite(process.argv[2]); await p.waitReady;
const t3 = performance.now();
console.log(`import pglite ${(t1 - t0).toFixed(0)} ms, import app ${(t2 - t1).toFixed(0)} ms, open pglite ${(t3 - t2).toFixed(0)} ms, process uptime at start ${(t0).toFixed(0)} ms`);
