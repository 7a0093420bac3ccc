/**
 * POSTs notifications to the hosts over keep-alive connections: node's Agent keeps one pool per
 * origin (host:port) of at most `maxSockets` connections, so a busy tenant does not open a connection
 * per notification and cannot take more than that many. Plain node:http: the global fetch costs
 * several times the CPU per request (measured), and the dispatcher needs none of its features.
 * Redirects are never followed (an answer is an answer); the caller's time-out bounds the whole
 * exchange, response body included, and its signal ends it early. The time-out is one timer per
 * POST, not an AbortSignal.timeout combined with AbortSignal.any: those cost a signal, a timer that
 * cannot be cleared and weak references for the collector on every notification.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

export interface HostAnswer {
  status: number;
  /** The start of the body, for the attempt record. */
  text: string;
}

/** An idle connection is closed before a host's usual keep-alive time-out (node's server: 5 s) would. */
const IDLE_SOCKET_MS = 4_000;
/** Only the start of an answer is kept; the rest is read and dropped so the connection can be reused. */
const KEPT_ANSWER_CHARS = 1_024;

/** What a POST that got no answer within its time-out rejects with (named as AbortSignal.timeout's reason is). */
export class HostTimeoutError extends Error {
  override readonly name = "TimeoutError";
}

export class HostPoster {
  readonly #http: HttpAgent;
  readonly #https: HttpsAgent;
  /** Hosts' URLs parsed once: a tenant's notify URL is the same string for every notification. */
  readonly #targets = new Map<string, URL>();

  constructor(maxSocketsPerOrigin: number) {
    const options = { keepAlive: true, maxSockets: maxSocketsPerOrigin, timeout: IDLE_SOCKET_MS, scheduling: "lifo" as const };
    this.#http = new HttpAgent(options);
    this.#https = new HttpsAgent(options);
  }

  /**
   * Sends one POST. A kept-alive connection the host closed just as it was reused fails before any
   * answer: that request is sent once more on a fresh connection (the host deduplicates by
   * webhook-id anyway). Rejects with a HostTimeoutError once timeoutMs have passed since the call
   * (the retry included), and with the signal's reason when it aborts.
   */
  async post(url: string, headers: OutgoingHttpHeaders, body: string, timeoutMs: number, signal: AbortSignal): Promise<HostAnswer> {
    const deadline = performance.now() + timeoutMs;
    try {
      return await this.#postOnce(url, headers, body, deadline, timeoutMs, signal, false);
    } catch (error) {
      if (!(error instanceof StaleConnectionError)) throw error;
      return this.#postOnce(url, headers, body, deadline, timeoutMs, signal, true);
    }
  }

  /** Closes the idle connections. */
  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }

  #targetOf(url: string): URL {
    let target = this.#targets.get(url);
    if (target === undefined) {
      target = new URL(url);
      this.#targets.set(url, target);
    }
    return target;
  }

  #postOnce(
    url: string,
    headers: OutgoingHttpHeaders,
    body: string,
    deadline: number,
    timeoutMs: number,
    signal: AbortSignal,
    retried: boolean,
  ): Promise<HostAnswer> {
    return new Promise<HostAnswer>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const target = this.#targetOf(url);
      const secure = target.protocol === "https:";
      let settled = false;
      const settle = (error: unknown, answer?: HostAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        if (answer === undefined) reject(error);
        else resolve(answer);
      };
      const onResponse = (response: IncomingMessage) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          if (text.length < KEPT_ANSWER_CHARS) text += chunk;
        });
        response.on("end", () => settle(undefined, { status: response.statusCode ?? 0, text: text.slice(0, KEPT_ANSWER_CHARS) }));
        response.on("error", (error) => settle(error));
        // After "end" this changes nothing; before it, the host hung up mid-answer.
        response.on("close", () => settle(new Error("the host closed the connection during its answer")));
      };
      const send = secure ? httpsRequest : httpRequest;
      const request = send(
        target,
        { method: "POST", agent: secure ? this.#https : this.#http, headers: { ...headers, "content-length": Buffer.byteLength(body) } },
        onResponse,
      );
      const onAbort = () => {
        settle(signal.reason);
        request.destroy();
      };
      const timer = setTimeout(
        () => {
          settle(new HostTimeoutError(`no answer within ${timeoutMs} ms`));
          request.destroy();
        },
        Math.max(0, deadline - performance.now()),
      );
      signal.addEventListener("abort", onAbort, { once: true });
      request.on("error", (error: NodeJS.ErrnoException) => {
        const stale = !retried && request.reusedSocket && (error.code === "ECONNRESET" || error.code === "EPIPE");
        settle(stale ? new StaleConnectionError() : error);
      });
      request.end(body);
    });
  }
}

class StaleConnectionError extends Error {}
