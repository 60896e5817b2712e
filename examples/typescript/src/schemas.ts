// JSON Schema draft 2020-12 validation of envelopes and data (schemas/README.md,
// "Validating a message"): every *.json outside the examples/ folders, indexed by
// its $id, nothing fetched; formats asserted.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv2020Module from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { ErrorObject, ValidateFunction } from "ajv";

// ajv and ajv-formats are CommonJS modules whose default export is `.default`.
const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;

export const ENVELOPE_ID = "https://schemas.homeward.example/envelope/v1.json";
const DATASCHEMA = /^https:\/\/schemas\.homeward\.example\/messages\/([a-z.]+)\/v[0-9]+\.json$/;

export type Problem = { instancePath: string; message: string };

function jsonFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "examples") out.push(...jsonFiles(p));
    } else if (e.name.endsWith(".json")) out.push(p);
  }
  return out.sort();
}

function problems(errors: ErrorObject[] | null | undefined, prefix = ""): Problem[] {
  return (errors ?? []).map((e) => ({ instancePath: prefix + e.instancePath, message: e.message ?? e.keyword }));
}

export class Schemas {
  private readonly ajv;
  readonly ids: string[] = [];
  private readonly envelope: ValidateFunction;

  constructor(schemasDir: string) {
    // strictSchema: an unknown keyword is an error. Ajv's other strict checks are its own style
    // rules, not JSON Schema: strictRequired refuses the `required` of an if/then branch naming
    // properties defined elsewhere, which several of schemas/ use.
    this.ajv = new Ajv2020({ strictSchema: true, strictTypes: false, strictTuples: false, strictRequired: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv); // date-time, date, uri, json-pointer … asserted, not annotations
    for (const file of jsonFiles(schemasDir)) {
      const schema = JSON.parse(readFileSync(file, "utf8")) as { $id?: string };
      if (typeof schema.$id !== "string") throw new Error(`${file}: no $id`);
      this.ajv.addSchema(schema);
      this.ids.push(schema.$id);
    }
    const envelope = this.ajv.getSchema(ENVELOPE_ID);
    if (!envelope) throw new Error(`no schema ${ENVELOPE_ID} in ${schemasDir}`);
    this.envelope = envelope;
    // compile every schema now, so that a broken reference fails here and not on the first message
    for (const id of this.ids) this.ajv.getSchema(id);
  }

  /** Problems of the whole event against envelope/v1.json. */
  checkEnvelope(env: unknown): Problem[] {
    return this.envelope(env) ? [] : problems(this.envelope.errors);
  }

  /** null when `data` is valid against a published schema of the envelope's own type. */
  checkData(env: { type?: unknown; dataschema?: unknown; data?: unknown }): { kind: "unknown" } | { kind: "invalid"; problems: Problem[] } | null {
    const m = typeof env.dataschema === "string" ? DATASCHEMA.exec(env.dataschema) : null;
    if (!m || m[1] !== env.type || typeof env.dataschema !== "string") return { kind: "unknown" };
    const validate = this.ajv.getSchema(env.dataschema);
    if (!validate) return { kind: "unknown" };
    return validate(env.data) ? null : { kind: "invalid", problems: problems(validate.errors, "/data") };
  }

  /** Both steps, as a sender checks its own message before signing and sending it (§8). */
  checkMessage(env: Record<string, unknown>): Problem[] {
    const out = this.checkEnvelope(env);
    const data = this.checkData(env);
    if (data?.kind === "unknown") out.push({ instancePath: "/dataschema", message: "not a published schema of this type" });
    if (data?.kind === "invalid") out.push(...data.problems);
    const d = env.data as Record<string, unknown> | undefined;
    if (d && typeof d.caseRef === "string" && env.subject !== d.caseRef) {
      out.push({ instancePath: "/subject", message: "must equal data.caseRef" });
    }
    if (hasControlCharacter(env.data)) out.push({ instancePath: "/data", message: "control character" });
    return out;
  }
}

// No control characters but tab and line breaks in any string or key of `data` (§8).
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;
function hasControlCharacter(v: unknown): boolean {
  if (typeof v === "string") return CONTROL.test(v);
  if (Array.isArray(v)) return v.some(hasControlCharacter);
  if (v && typeof v === "object") return Object.entries(v).some(([k, x]) => CONTROL.test(k) || hasControlCharacter(x));
  return false;
}

export function describe(ps: Problem[]): string {
  return ps.map((p) => `${p.instancePath || "/"}: ${p.message}`).join("; ");
}
