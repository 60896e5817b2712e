// The published policy (docs/integrating.md §6): read by direct get, verified with
// the policy authority's key, parsed, and the rules the gateway applies.
import type { NatsConnection } from "@nats-io/transport-node";
import { parse as parseToml } from "smol-toml";
import { parseStrict } from "./strictjson.js";
import { verifySignature } from "./signing.js";

export const POLICY_SUBJECT = "$HW.API.DIRECT.GET.KV_hw_policy.$KV.hw_policy.current";

type KeyEntry = { public: string; valid_from: unknown; valid_until?: unknown; revoked?: boolean; member?: string };
type Member = { id: string; name?: string; role: string; key?: KeyEntry[] };
type Recipient = { member: string; role?: string };
type Route = { type: string; senders: string[]; recipients: Recipient[] };

/** RFC 3339 (or a TOML date-time) as nanoseconds since the epoch, to compare times exactly. */
export function nanos(t: unknown): bigint {
  if (t instanceof Date) return BigInt(t.getTime()) * 1_000_000n;
  if (typeof t !== "string") throw new Error("not a time");
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i.exec(t);
  if (!m) throw new Error(`not an RFC 3339 time: ${t}`);
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) throw new Error(`not an RFC 3339 time: ${t}`);
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

export class Policy {
  readonly members = new Map<string, Member>();
  readonly keys = new Map<string, KeyEntry[]>();
  readonly routes = new Map<string, Route>();

  constructor(
    readonly version: number,
    policyToml: string,
    keyrings: { name: string; text: string }[],
  ) {
    const p = parseToml(policyToml) as { member?: Member[]; route?: Route[] };
    for (const m of p.member ?? []) {
      this.members.set(m.id, m);
      this.keys.set(m.id, [...(this.keys.get(m.id) ?? []), ...(m.key ?? [])]);
    }
    for (const ring of keyrings) {
      for (const k of ((parseToml(ring.text) as { key?: KeyEntry[] }).key ?? [])) {
        if (typeof k.member !== "string") continue;
        this.keys.set(k.member, [...(this.keys.get(k.member) ?? []), k]);
      }
    }
    for (const r of p.route ?? []) this.routes.set(r.type, r);
  }

  roleOf(member: string): string | undefined {
    return this.members.get(member)?.role;
  }

  /** Is key K valid for member M at time T? (§6) */
  keyValid(member: string, sigkey: string, at: string): boolean {
    const t = nanos(at);
    return (this.keys.get(member) ?? []).some(
      (k) =>
        k.public === sigkey &&
        k.revoked !== true &&
        nanos(k.valid_from) <= t &&
        (k.valid_until === undefined || t < nanos(k.valid_until)),
    );
  }

  /** May M send type X? The route, if so. */
  maySend(member: string, type: string): Route | undefined {
    const route = this.routes.get(type);
    const role = this.roleOf(member);
    if (!route || !role) return undefined;
    return route.senders.some((s) => s === member || s === `role:${role}`) ? route : undefined;
  }

  /** Whom does a message go to? Throws when there is no valid recipient. */
  recipients(route: Route, sender: string, data: unknown): string[] {
    const out: string[] = [];
    for (const r of route.recipients) {
      const member = r.member.replace(/\{([^}]*)\}/g, (_all, expr: string) => {
        if (expr === "sender.party") return sender.split(".")[0]!;
        if (!expr.startsWith("data.")) throw new Error(`unknown template {${expr}}`);
        let v: unknown = data;
        for (const part of expr.slice(5).split(".")) {
          v = v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>)[part] : undefined;
        }
        if (typeof v !== "string" || v.length < 1 || v.length > 64) throw new Error(`routing field ${expr} missing`);
        return v.toLowerCase();
      });
      const role = this.roleOf(member);
      if (role === undefined || role === "gateway" || role === "operator") throw new Error("no valid recipient");
      if (r.role !== undefined && r.role !== role) throw new Error("no valid recipient");
      if (!out.includes(member)) out.push(member);
    }
    return out;
  }
}

/** Direct get of `current` in `hw_policy`; only a document the authority signed is taken. */
export async function publishedPolicy(nc: NatsConnection, authority: string, timeoutMs: number): Promise<Policy> {
  const msg = await nc.request(POLICY_SUBJECT, new Uint8Array(0), { timeout: timeoutMs });
  if (msg.headers?.code === 404 || msg.headers?.get("Status") === "404") throw new Error("no policy published yet");
  if (msg.headers?.hasError) throw new Error(`direct get failed: ${msg.headers.code} ${msg.headers.description}`);
  const doc = parseStrict(msg.data) as { version: unknown; policy: unknown; keyrings: unknown; sigkey: unknown; sig: unknown };
  if (doc.sigkey !== authority) throw new Error("the published policy is not signed by the policy authority");
  if (!verifySignature(doc)) throw new Error("the published policy's signature does not verify");
  if (typeof doc.version !== "number" || typeof doc.policy !== "string" || !Array.isArray(doc.keyrings)) {
    throw new Error("the published policy is not shaped as §6 says");
  }
  return new Policy(doc.version, doc.policy, doc.keyrings as { name: string; text: string }[]);
}
