import type { FastifyReply } from "fastify";
import { httpStatusOf, type ErrorCode, type Failure } from "../core/errors.ts";

/** Every answer to the host has this shape, success or failure (README, "Host API"). */
export function sendResult(reply: FastifyReply, code: ErrorCode, message: string | null, fields: Record<string, unknown> = {}): FastifyReply {
  return reply
    .code(httpStatusOf(code))
    .type("application/json; charset=utf-8")
    .send({ IsSuccess: code === "OK", ErrorCode: code, ErrorMessage: message, ...fields });
}

export function sendFailure(reply: FastifyReply, failure: Failure, fields: Record<string, unknown> = {}): FastifyReply {
  return sendResult(reply, failure.code, failure.message, fields);
}
