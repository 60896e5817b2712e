// An outside integrator's Homeward client in TypeScript (nats.js 3.x), written from
// docs/integrating.md and schemas/ alone: uz.mfa asks uz.security to verify the identity
// of a (synthetic) family, reads the gateway's receipt; uz.security pulls, checks and acks
// the delivery and answers with a signed message.processed, which uz.mfa pulls, checks and
// acks; then an invalid submission is rejected with its documented code.
//
// Environment: HOMEWARD_NATS_URL (tls://host:port), HOMEWARD_TLS_CA (the CA's PEM file),
// HOMEWARD_KEYS (<member>.nk signing seeds, <member>.nats.nk NATS seeds,
// policy-authority.pub), HOMEWARD_SCHEMAS (the schemas/ folder).
// One line per step; on failure, a line naming the step and exit status 1.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, type Consumer, type JetStreamClient, type JsMsg, type PubAck } from "@nats-io/jetstream";
import type { KeyPair } from "@nats-io/nkeys";
import { memberOf, signNow, traceIdOf, unsignedEnvelope, type Envelope } from "./envelope.js";
import { nanos, Policy, publishedPolicy } from "./policy.js";
import { describe, Schemas } from "./schemas.js";
import { checkTestVector, keyPairFromSeedFile, verifySignature } from "./signing.js";
import { MAX_ENVELOPE_BYTES, parseStrict } from "./strictjson.js";

const SENDER = "uz.mfa";
const RECIPIENT = "uz.security";
const REQUEST_TIMEOUT_MS = 10_000; // one NATS request, publish or pull
const STEP_TIMEOUT_MS = 60_000; // one whole step
const RECEIPT_WAIT_MS = 30_000; // a receipt or a delivery to arrive

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const token = (member: string) => member.replaceAll(".", "_");
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

class Refusal extends Error {
  constructor(
    readonly rule: string,
    reason: string,
  ) {
    super(`${rule}: ${reason}`);
  }
}

/** One member's session: its NATS connection, its JetStream view under $HW.API, its signing key. */
class Session {
  private constructor(
    readonly member: string,
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly kp: KeyPair,
    public policy: Policy,
    readonly schemas: Schemas,
  ) {}
  readonly applied = new Set<string>(); // (sender, id) already handled: check 9

  static async open(member: string, schemas: Schemas): Promise<Session> {
    const keys = env("HOMEWARD_KEYS");
    const natsSeed = new TextEncoder().encode(readFileSync(join(keys, `${member}.nats.nk`), "utf8").trim());
    const nc = await connect({
      servers: env("HOMEWARD_NATS_URL"),
      tls: { caFile: env("HOMEWARD_TLS_CA") }, // this CA only: it replaces Node's default roots
      authenticator: nkeyAuthenticator(natsSeed), // the NATS user seed, not the signing seed
      inboxPrefix: `_INBOX_${token(member)}`, // the only subjects we may subscribe to
      name: `homeward-example-ts ${member}`,
      timeout: REQUEST_TIMEOUT_MS,
      reconnect: false,
    });
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "error") console.error(`  ${member}: ${errText(s.error)}`);
      }
    })();
    const js = jetstream(nc, { apiPrefix: "$HW.API", timeout: REQUEST_TIMEOUT_MS });
    const authority = readFileSync(join(keys, "policy-authority.pub"), "utf8").trim();
    const policy = await publishedPolicy(nc, authority, REQUEST_TIMEOUT_MS);
    const kp = keyPairFromSeedFile(join(keys, `${member}.nk`));
    return new Session(member, nc, js, kp, policy, schemas);
  }

  consumer(stream: string, prefix: string): Promise<Consumer> {
    // binds to the provisioned durable: one CONSUMER.INFO, which our permissions allow
    return withTimeout(this.js.consumers.get(stream, `${prefix}_${token(this.member)}`), REQUEST_TIMEOUT_MS, `${prefix}_${token(this.member)}`);
  }

  /** Sign (time = now) after checking locally, then submit with Nats-Msg-Id = id (§9). */
  async submit(unsigned: Omit<Envelope, "sigkey" | "sig">, opts: { skipLocalCheck?: boolean } = {}): Promise<{ env: Envelope; ack: PubAck }> {
    const signed = signNow(unsigned, this.kp);
    if (!opts.skipLocalCheck) {
      const problems = this.schemas.checkMessage(signed);
      if (problems.length) throw new Error(`own message invalid: ${describe(problems)}`);
      if (!verifySignature(signed)) throw new Error("own signature does not verify");
      if (!this.policy.keyValid(this.member, signed.sigkey, signed.time)) {
        throw new Error("the published policy does not list our signing key now");
      }
    }
    const body = JSON.stringify(signed);
    if (Buffer.byteLength(body) > MAX_ENVELOPE_BYTES) throw new Error("envelope over 64 KiB");
    const ack = await this.js.publish(`hw.submit.${this.member}`, body, { msgID: signed.id, timeout: REQUEST_TIMEOUT_MS });
    if (ack.duplicate) throw new Error("publish ack says duplicate: no new receipt will come");
    return { env: signed, ack };
  }

  /** A receipt we take: a gateway.receipt envelope from a gateway member, with a key valid for it then. */
  gatewayReceipt(m: JsMsg): Envelope {
    const r = parseStrict(m.data) as Envelope;
    const shape = this.schemas.checkEnvelope(r);
    if (shape.length) throw new Error(`receipt envelope: ${describe(shape)}`);
    const sender = memberOf(r.source);
    if (r.type !== "gateway.receipt" || this.policy.roleOf(sender) !== "gateway") throw new Error(`not a gateway receipt (from ${sender})`);
    if (!verifySignature(r)) throw new Error("receipt signature does not verify");
    if (!this.policy.keyValid(sender, r.sigkey, r.time)) throw new Error("receipt not signed with a key the policy lists for the gateway");
    const data = this.schemas.checkData(r);
    if (data) throw new Error(`receipt data: ${data.kind === "unknown" ? "unknown schema" : describe(data.problems)}`);
    return r;
  }

  /** Pull receipt_<t> until the receipt for this submission; ack all we read, skip what is not the gateway's. */
  async receiptFor(sent: Envelope, ack: PubAck): Promise<Record<string, unknown>> {
    const receipts = await this.consumer("HW_RECEIPTS", "receipt");
    const deadline = Date.now() + RECEIPT_WAIT_MS;
    while (Date.now() < deadline) {
      const m = await receipts.next({ expires: Math.max(1000, Math.min(5000, deadline - Date.now())) });
      if (!m) continue;
      let receipt: Envelope;
      try {
        receipt = this.gatewayReceipt(m);
      } catch (e) {
        console.error(`  ${this.member}: skipped a message on receipt_${token(this.member)}: ${errText(e)}`);
        await m.ackAck({ timeout: REQUEST_TIMEOUT_MS });
        continue;
      }
      await m.ackAck({ timeout: REQUEST_TIMEOUT_MS });
      const data = receipt.data;
      const bySeq = data.submissionSequence === String(ack.seq);
      const byId = data.submissionId === sent.id;
      if (bySeq && byId) {
        if (receipt.causationid !== sent.id) throw new Error("the receipt's causationid is not our envelope's id");
        if (sent.subject !== undefined && receipt.subject !== sent.subject) throw new Error("the receipt's subject is not our case");
        return data;
      }
      if (bySeq || byId) throw new Error(`receipt matches by ${bySeq ? "sequence" : "id"} only`);
      // an earlier submission's receipt: not the one we wait for
    }
    throw new Error(`no receipt for ${sent.id} within ${RECEIPT_WAIT_MS / 1000} s`);
  }

  /** §11 checks 1-7 on one delivery; returns the envelope, throws Refusal (4-7) or Error (1-3). */
  checkDelivery(m: JsMsg): Envelope {
    // 1. it parses: at most 64 KiB, UTF-8 JSON without duplicate keys, a valid envelope
    if (m.data.length > MAX_ENVELOPE_BYTES) throw new Error("over 64 KiB");
    const e = parseStrict(m.data) as Envelope;
    const shape = this.schemas.checkEnvelope(e);
    if (shape.length) throw new Error(`not a valid envelope: ${describe(shape)}`);
    // 2. the signature verifies with sigkey
    if (!verifySignature(e)) throw new Error("signature does not verify");
    // 3. the policy in force lists sigkey for the sender, valid at the envelope's time
    const sender = memberOf(e.source);
    if (!this.policy.keyValid(sender, e.sigkey, e.time)) throw new Error(`key not valid for ${sender} at ${e.time}`);
    // 4. age, against when the server stored the delivery (not a header, not the sender's word)
    const stored = m.timestampNanos; // BigInt nanoseconds (m.time: the same as a Date)
    const t = nanos(e.time);
    const minute = 60n * 1_000_000_000n;
    if (t < stored - (7n * 24n * 60n + 10n) * minute) throw new Refusal("envelope_stale", "time is before the accepted age");
    if (t > stored + 10n * minute) throw new Refusal("envelope_from_the_future", "time is after the delivery was stored");
    // 5. a published schema of this type, data valid against it with formats asserted
    const data = this.schemas.checkData(e);
    if (data?.kind === "unknown") throw new Refusal("schema_unknown", "dataschema is not a known schema of this type");
    if (data?.kind === "invalid") throw new Refusal("schema_invalid", `data breaks its schema at ${data.problems.map((p) => p.instancePath).join(", ")}`);
    // 6. the sender may send this type
    const route = this.policy.maySend(sender, e.type);
    if (!route) throw new Refusal("sender_not_permitted", "the policy does not let the sender send this type");
    // 7. the route, resolved from the sender and data, names us
    let named: string[] = [];
    try {
      named = this.policy.recipients(route, sender, e.data);
    } catch {
      named = [];
    }
    if (!named.includes(this.member)) throw new Refusal("not_routed_here", `the route does not name ${this.member}`);
    return e;
  }

  /** Refuse back (§11, §12): a case.refused to the sender; never for a refusal or a processing receipt. */
  async refuseBack(e: Envelope, r: Refusal): Promise<void> {
    if (e.type === "case.refused" || e.type === "message.processed") return;
    const data: Record<string, unknown> = {
      refusedSender: memberOf(e.source),
      refusedMessageId: e.id,
      refusedType: e.type,
      rule: r.rule,
      reason: r.message.slice(r.rule.length + 2),
    };
    if (typeof e.data.caseRef === "string") data.caseRef = e.data.caseRef;
    await this.submit(unsignedEnvelope(this.member, "case.refused", data, { causationid: e.id, traceId: traceIdOf(e.traceparent) }));
  }

  /**
   * Pull deliver_<t>, check each delivery (§11), ack or terminate, until `wanted` is found and
   * passes. Earlier deliveries that pass are acked; a refused one is refused back and terminated.
   */
  async receive(wanted: (e: Envelope) => boolean): Promise<{ env: Envelope; msg: JsMsg }> {
    const deliveries = await this.consumer("HW_DELIVER", "deliver");
    const deadline = Date.now() + RECEIPT_WAIT_MS;
    while (Date.now() < deadline) {
      const m = await deliveries.next({ expires: Math.max(1000, Math.min(5000, deadline - Date.now())) });
      if (!m) continue;
      let e: Envelope;
      try {
        e = this.checkDelivery(m);
      } catch (err) {
        let what = "unknown";
        try {
          const p = JSON.parse(m.string()) as Envelope;
          what = `${p.type} ${p.id}`;
          if (err instanceof Refusal) await this.refuseBack(p, err);
        } catch {
          /* checks 1-3: nothing to answer */
        }
        m.term(err instanceof Error ? err.message.slice(0, 100) : "check failed");
        if (wanted({ id: m.headers?.get("Hw-Msg-Id") } as Envelope)) throw new Error(`delivery failed its checks: ${errText(err)}`);
        console.error(`  ${this.member}: terminated delivery ${what}: ${errText(err)}`);
        continue;
      }
      // 8. our own case rules: this example keeps no cases, so there are none.
      // 9. (sender, id) applied before: a redelivery, change nothing, ack.
      const key = `${e.source} ${e.id}`;
      const redelivered = this.applied.has(key);
      this.applied.add(key);
      if (wanted(e) && !redelivered) return { env: e, msg: m }; // the caller acks once it is handled
      await m.ackAck({ timeout: REQUEST_TIMEOUT_MS });
      console.error(`  ${this.member}: acked earlier delivery ${e.type} ${e.id} from ${memberOf(e.source)}`);
    }
    throw new Error(`no such delivery within ${RECEIPT_WAIT_MS / 1000} s`);
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}

/** Verify every signed valid example under schemas/messages/ (§7: before you talk to a server). */
function verifyExamples(schemas: Schemas, dir: string): number {
  const keys = (JSON.parse(readFileSync(join(dir, "examples", "keys.json"), "utf8")) as { keys: Record<string, string> }).keys;
  let n = 0;
  for (const type of readdirSync(join(dir, "messages"))) {
    const examples = join(dir, "messages", type, "examples");
    let versions: string[] = [];
    try {
      versions = readdirSync(examples).filter((v) => /^v[0-9]+$/.test(v));
    } catch {
      continue;
    }
    for (const v of versions) {
      const valid = join(examples, v, "valid");
      let files: string[] = [];
      try {
        files = readdirSync(valid).filter((f) => f.endsWith(".json"));
      } catch {
        continue;
      }
      for (const f of files) {
        const e = parseStrict(readFileSync(join(valid, f))) as Envelope;
        const problems = schemas.checkMessage(e);
        if (problems.length) throw new Error(`${type}/${v}/${f}: ${describe(problems)}`);
        if (e.sigkey !== keys[memberOf(e.source)] || !verifySignature(e)) throw new Error(`${type}/${v}/${f}: signature`);
        n++;
      }
    }
  }
  return n;
}

// A synthetic Uzbek family in a camp: a mother and two children (case HOL-ANX-000311,
// as in schemas/messages/repatriation.requested/examples/v1/valid/uzbek-family.json).
// The registry numbers are made up: 14 digits, the form of an Uzbek personal number.
function verificationRequest(): Record<string, unknown> {
  const due = new Date(Date.now() + 21 * 24 * 3600 * 1000).toISOString().slice(0, 10);
  const scan = createHash("sha256").update("synthetic passport scan HOL-ANX-000311-01").digest("hex");
  return {
    caseRef: "HOL-ANX-000311",
    persons: [
      { personRef: "HOL-ANX-000311-01", methods: ["documents", "interview", "civil-registry"] },
      { personRef: "HOL-ANX-000311-02", methods: ["dna-relative-match"], relatives: [{ relationship: "grandmother", registryRef: "41503650270018" }] },
      { personRef: "HOL-ANX-000311-03", methods: ["dna-relative-match"], relatives: [{ relationship: "grandmother", registryRef: "41503650270018" }] },
    ],
    dueBy: due,
    evidence: [{ uri: "https://records.camps.aanes.example/documents/hol-anx-000311-01-passport.jpg", sha256: scan, mediaType: "image/jpeg" }],
  };
}

async function main(): Promise<void> {
  const schemasDir = env("HOMEWARD_SCHEMAS");
  let current = "setup";
  const sessions: Session[] = [];
  const step = async <T>(n: string, name: string, fn: () => Promise<T>): Promise<T> => {
    current = `step ${n} (${name})`;
    return withTimeout(fn(), STEP_TIMEOUT_MS, current);
  };
  try {
    const schemas = new Schemas(schemasDir);

    const mfa = await step("1", "connect as uz.mfa and read the signed policy", async () => {
      const s = await Session.open(SENDER, schemas);
      sessions.push(s);
      console.log(
        `step 1 ok: connected as ${SENDER}; published policy version ${s.policy.version} verified with the policy authority key ` +
          `(${s.policy.members.size} members, ${s.policy.routes.size} routes)`,
      );
      return s;
    });

    const { env: request, receipt } = await step("2", "submit identity.verification.requested, read the receipt", async () => {
      const vector = checkTestVector(schemasDir);
      const examples = verifyExamples(schemas, schemasDir);
      const unsigned = unsignedEnvelope(SENDER, "identity.verification.requested", verificationRequest());
      const { env: sent, ack } = await mfa.submit(unsigned);
      const r = await mfa.receiptFor(sent, ack);
      if (r.decision !== "accepted") throw new Error(`rejected: ${JSON.stringify(r.reasons)}`);
      if (!Array.isArray(r.recipients) || !r.recipients.includes(RECIPIENT)) throw new Error(`recipients ${JSON.stringify(r.recipients)} lack ${RECIPIENT}`);
      console.log(
        `step 2 ok: test vector reproduced (${vector}); ${examples} signed examples verified; ` +
          `${sent.type} ${sent.id} submitted as seq ${ack.seq}; gateway receipt verified: accepted for ${(r.recipients as string[]).join(", ")}`,
      );
      return { env: sent, receipt: r };
    });
    void receipt;

    const sec = await step("3", "as uz.security pull, check and ack the delivery", async () => {
      const s = await Session.open(RECIPIENT, schemas);
      sessions.push(s);
      const { env: got, msg } = await s.receive((e) => e.id === request.id);
      if (got.source !== request.source || got.sig !== request.sig) throw new Error("the delivery is not the envelope uz.mfa signed");
      // handled (this example only records it in memory): confirmed ack
      await msg.ackAck({ timeout: REQUEST_TIMEOUT_MS });
      console.log(
        `step 3 ok: ${RECIPIENT} pulled ${got.type} ${got.id} (delivery ${msg.info.deliveryCount}); ` +
          `signature, key of ${SENDER} at its time, age, schema, permission and route checked; acked`,
      );
      return s;
    });

    await step("4", "message.processed from uz.security back to uz.mfa", async () => {
      const processed = unsignedEnvelope(
        RECIPIENT,
        "message.processed",
        {
          originalSender: memberOf(request.source),
          processedMessageId: request.id,
          processedType: request.type,
          outcome: "processed",
          processedAt: new Date().toISOString(),
          caseRef: request.data.caseRef,
        },
        { causationid: request.id, traceId: traceIdOf(request.traceparent) },
      );
      const { env: sent, ack } = await sec.submit(processed);
      const r = await sec.receiptFor(sent, ack);
      if (r.decision !== "accepted") throw new Error(`message.processed rejected: ${JSON.stringify(r.reasons)}`);
      if (!Array.isArray(r.recipients) || !r.recipients.includes(SENDER)) throw new Error(`recipients ${JSON.stringify(r.recipients)} lack ${SENDER}`);
      const { env: got, msg } = await mfa.receive((e) => e.id === sent.id);
      if (got.type !== "message.processed" || got.data.processedMessageId !== request.id || got.causationid !== request.id) {
        throw new Error("the processing receipt does not answer our request");
      }
      if (memberOf(got.source) !== RECIPIENT || got.data.outcome !== "processed") throw new Error("not processed by uz.security");
      await msg.ackAck({ timeout: REQUEST_TIMEOUT_MS });
      console.log(`step 4 ok: ${RECIPIENT} sent message.processed ${sent.id} (receipt: accepted for ${SENDER}); ${SENDER} pulled it, checked it and acked`);
    });

    await step("5", "an invalid submission is rejected with schema_violation", async () => {
      const data = verificationRequest();
      (data.persons as { methods: string[] }[])[0]!.methods = ["documents", "telepathy"]; // not in the enum
      const unsigned = unsignedEnvelope(SENDER, "identity.verification.requested", data);
      const local = schemas.checkMessage({ ...unsigned });
      if (!local.some((p) => p.instancePath === "/data/persons/0/methods/1")) throw new Error(`local validation did not catch it: ${describe(local)}`);
      const { env: sent, ack } = await mfa.submit(unsigned, { skipLocalCheck: true });
      const r = await mfa.receiptFor(sent, ack);
      const reasons = (r.reasons ?? []) as { code: string; instancePath?: string }[];
      if (r.decision !== "rejected") throw new Error(`decision ${String(r.decision)}`);
      if (!reasons.length || reasons.some((x) => x.code !== "schema_violation")) throw new Error(`codes ${reasons.map((x) => x.code).join(",")}`);
      // §10: a copy of the rejected submission on rejected_<t>, with the codes in Hw-Codes
      const rejected = await mfa.consumer("HW_REJECTED", "rejected");
      const deadline = Date.now() + RECEIPT_WAIT_MS;
      let codes: string | undefined;
      while (codes === undefined && Date.now() < deadline) {
        const m = await rejected.next({ expires: Math.max(1000, Math.min(5000, deadline - Date.now())) });
        if (!m) continue;
        if (m.headers?.get("Hw-Msg-Id") === sent.id) codes = m.headers.get("Hw-Codes");
        await m.ackAck({ timeout: REQUEST_TIMEOUT_MS });
      }
      if (codes !== "schema_violation") throw new Error(`rejected_uz_mfa copy: Hw-Codes ${String(codes)}`);
      console.log(
        `step 5 ok: invalid ${sent.type} ${sent.id} rejected by the gateway: ` +
          `${reasons.map((x) => `${x.code} at ${x.instancePath ?? "?"}`).join(", ")}; copy on rejected_${token(SENDER)} with Hw-Codes ${codes}`,
      );
    });
  } catch (e) {
    console.error(`FAILED at ${current}: ${errText(e)}`);
    process.exitCode = 1;
  } finally {
    await Promise.all(sessions.map((s) => withTimeout(s.close(), 5000, "close").catch(() => undefined)));
  }
  process.exit(process.exitCode ?? 0);
}

await main();
