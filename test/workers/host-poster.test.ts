/** The host POST's bounds: its time-out and the sender's abort end a POST the host never answers. */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { HostPoster } from "../../src/workers/host-poster.ts";

describe("a POST to a host that never answers", { timeout: 10_000 }, () => {
  let server: Server;
  let url: string;
  const poster = new HostPoster(4);
  before(async () => {
    // Reads the request, never answers it.
    server = createServer((request) => request.resume());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`;
  });
  after(async () => {
    poster.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("rejects with a TimeoutError once its time-out has passed", async () => {
    const started = performance.now();
    await assert.rejects(poster.post(url, {}, "{}", 150, new AbortController().signal), { name: "TimeoutError" });
    const took = performance.now() - started;
    assert.ok(took >= 140 && took < 2_000, `took ${took} ms`);
  });

  it("rejects with the signal's reason when the signal aborts first, at once when it had already aborted", async () => {
    const abort = new AbortController();
    const posting = poster.post(url, {}, "{}", 10_000, abort.signal);
    setTimeout(() => abort.abort(new Error("shutting down")), 50);
    await assert.rejects(posting, { message: "shutting down" });
    await assert.rejects(poster.post(url, {}, "{}", 10_000, abort.signal), { message: "shutting down" });
    await assert.rejects(poster.post(url, {}, "{}", 100, new AbortController().signal), { name: "TimeoutError" });
  });
});
