/**
 * POSTs notifications to the hosts over keep-alive connections: node's Agent keeps one pool per
 * origin (host:port) of at most `maxSockets` connections, so a busy tenant does not open a connection
 * per notification and cannot take more than that many. Plain node:http: the global fetch costs
 * several times the CPU per request (measured), and the dispatcher needs none of its features.
 * Redirects are never followed (an answer is an answer); the caller's signal bounds the whole
 * exchange, response body included.
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

export class HostPoster {
  readonly #http: HttpAgent;
  readonly #https: HttpsAgent;

  constructor(maxSocketsPerOrigin: number) {
    const options = { keepAlive: true, maxSockets: maxSocketsPerOrigin, timeout: IDLE_SOCKET_MS, scheduling: "lifo" as const };
    this.#http = new HttpAgent(options);
    this.#https = new HttpsAgent(options);
  }

  /**
   * Sends one POST. A kept-alive connection the host closed just as it was reused fails before any
   * answer: that request is sent once more on a fresh connection (the host deduplicates by
   * webhook-id anyway). Rejects with the signal's reason when it aborts.
   */
  async post(url: string, headers: OutgoingHttpHeaders, body: string, signal: AbortSignal): Promise<HostAnswer> {
    try {
      return await this.#postOnce(url, headers, body, signal, false);
    } catch (error) {
      if (!(error instanceof StaleConnectionError)) throw error;
      return this.#postOnce(url, headers, body, signal, true);
    }
  }

  /** Closes the idle connections. */
  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }

  #postOnce(url: string, headers: OutgoingHttpHeaders, body: string, signal: AbortSignal, retried: boolean): Promise<HostAnswer> {
    return new Promise<HostAnswer>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const target = new URL(url);
      const secure = target.protocol === "https:";
      let settled = false;
      const settle = (error: unknown, answer?: HostAnswer) => {
        if (settled) return;
        settled = true;
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
