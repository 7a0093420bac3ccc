/**
 * Anything that escapes a route is rendered in the host's result shape, with the failure class in
 * the HTTP status. Faults inside PGB are logged with the request id and never leak details.
 */
import type { FastifyError, FastifyInstance } from "fastify";
import { sendResult } from "./host-result.ts";

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    switch (error.code) {
      case "FST_ERR_CTP_BODY_TOO_LARGE":
        return sendResult(reply, "BODY_TOO_LARGE", "the body exceeds the size limit");
      case "FST_ERR_CTP_INVALID_JSON_BODY":
      case "FST_ERR_CTP_EMPTY_JSON_BODY":
        return sendResult(reply, "INVALID_JSON", "the body is not valid JSON");
      case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
        return sendResult(reply, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json");
      case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
        return sendResult(reply, "INVALID_JSON", "the body does not match its Content-Length");
    }
    if (error instanceof SyntaxError || (error.statusCode === 400 && error.code?.startsWith("FST_ERR_CTP"))) {
      return sendResult(reply, "INVALID_JSON", "the body is not valid JSON");
    }
    request.log.error({ err: error }, "unhandled error");
    return sendResult(reply, "INTERNAL_ERROR", `internal error (request ${request.id})`);
  });
  app.setNotFoundHandler((request, reply) => sendResult(reply, "NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0]}`));
}
