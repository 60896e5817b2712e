// Building an envelope (docs/integrating.md §8).
import { randomBytes } from "node:crypto";
import type { KeyPair } from "@nats-io/nkeys";
import { sign } from "./signing.js";

export type Envelope = {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
  dataschema: string;
  time: string;
  subject?: string;
  datacontenttype: "application/json";
  data: Record<string, unknown>;
  traceparent?: string;
  causationid?: string;
  sigkey: string;
  sig: string;
};

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A fresh, random ULID: 48 bits of milliseconds, 80 random bits, Crockford base32. */
export function ulid(): string {
  let n = (BigInt(Date.now()) << 80n) | BigInt(`0x${randomBytes(10).toString("hex")}`);
  let s = "";
  for (let i = 0; i < 26; i++) {
    s = CROCKFORD[Number(n & 31n)] + s;
    n >>= 5n;
  }
  return s;
}

/** Now, RFC 3339 UTC with milliseconds, ending in Z. */
export const now = (): string => new Date().toISOString();

/** A W3C traceparent; an answer keeps the trace id of what it answers. */
export function traceparent(traceId?: string): string {
  return `00-${traceId ?? randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;
}
export const traceIdOf = (tp: string | undefined): string | undefined => tp?.split("-")[1];

export const sourceOf = (member: string) => `urn:homeward:${member}`;
export const memberOf = (source: string) => source.replace(/^urn:homeward:/, "");

export function unsignedEnvelope(
  member: string,
  type: string,
  data: Record<string, unknown>,
  opts: { causationid?: string; traceId?: string; version?: number } = {},
): Omit<Envelope, "sigkey" | "sig"> {
  const env: Omit<Envelope, "sigkey" | "sig"> = {
    specversion: "1.0",
    id: ulid(),
    source: sourceOf(member),
    type,
    dataschema: `https://schemas.homeward.example/messages/${type}/v${opts.version ?? 1}.json`,
    time: now(),
    datacontenttype: "application/json",
    traceparent: traceparent(opts.traceId),
    data,
  };
  if (typeof data.caseRef === "string") env.subject = data.caseRef;
  if (opts.causationid) env.causationid = opts.causationid;
  return env;
}

/** Sets `time` to now and signs: sign just before you submit (§8, `stale`). */
export function signNow(env: Omit<Envelope, "sigkey" | "sig">, kp: KeyPair): Envelope {
  return sign({ ...env, time: now() }, kp) as unknown as Envelope;
}
