/**
 * While this process shuts down (SIGTERM), a request that still reaches it — on a keep-alive
 * connection the client reuses — is answered in the host's result shape with 503 SHUTTING_DOWN and
 * a Retry-After, never Fastify's own 503 body; the connection is closed so the client's next try goes
 * to another instance. Answers to requests already running when the close began close their
 * connection too, or a keep-alive client would hold the stopping process open until its idle time-out.
 */
import type { FastifyInstance } from "fastify";
import { sendResult } from "./host-result.ts";

export const RETRY_AFTER_SECONDS = 1;

export function answerWhileClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook("preClose", (done) => {
    closing = true;
    done();
  });
  app.addHook("onRequest", (_request, reply, done) => {
    if (!closing) return done();
    reply.header("retry-after", String(RETRY_AFTER_SECONDS)).header("connection", "close");
    void sendResult(reply, "SHUTTING_DOWN", "this PGB instance is shutting down; retry (another instance will answer)");
  });
  app.addHook("onSend", (_request, reply, payload, done) => {
    if (closing) reply.header("connection", "close");
    done(null, payload);
  });
}
