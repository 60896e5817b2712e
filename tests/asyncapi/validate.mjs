#!/usr/bin/env node
// Validates Homeward's AsyncAPI document with the official parser (@asyncapi/parser),
// offline: every $ref to https://schemas.homeward.example/… is read from the repo's
// schemas/ folder, and nothing else outside the document may be referenced.
//
//   node tests/asyncapi/validate.mjs docs/asyncapi.json
//
// Fails (exit 1) on any diagnostic of severity error, and prints the warnings count.
// Then, because @asyncapi/parser does not check payload schemas in the
// `application/schema+json;version=draft-2020-12` format (it has no parser for that
// format and passes such schemas through unread), it compiles each payload schema with
// ajv's draft 2020-12 validator against schemas/, and validates each message type's
// signed valid examples against its payload. Last, a self-test: broken copies of the
// document must each be reported as an error, so this check can fail.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
const addFormats = addFormatsModule.default ?? addFormatsModule;

const HERE = dirname(fileURLToPath(import.meta.url));
const SCHEMAS = resolve(HERE, '..', '..', 'schemas');
const BASE = 'https://schemas.homeward.example/';
const DRAFT_2020_12 = 'application/schema+json;version=draft-2020-12';

const file = process.argv[2];
if (!file) {
  console.error('usage: node tests/asyncapi/validate.mjs docs/asyncapi.json');
  process.exit(2);
}

// ---------------------------------------------------------------- offline resolution

/** The file under schemas/ that a https://schemas.homeward.example/… reference names (without fragment). */
function schemaFile(ref) {
  if (!ref.startsWith(BASE)) return undefined;
  const path = ref.slice(BASE.length).split('#')[0];
  const full = resolve(SCHEMAS, path);
  if (!full.startsWith(SCHEMAS + sep) || relative(SCHEMAS, full).split(sep).includes('examples')) return undefined;
  return full;
}

/**
 * Every $ref in the document, and transitively in the schema files it names, is either local
 * (#…, the parser checks those) or a schemas.homeward.example file that exists in schemas/.
 * So the parser's default http(s) resolvers are never reached: the check runs offline.
 */
function externalRefProblems(doc) {
  const problems = [];
  const seen = new Set();
  const walk = (node, where) => {
    if (Array.isArray(node)) return node.forEach((v, i) => walk(v, `${where}/${i}`));
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && !v.startsWith('#')) {
        const f = schemaFile(v);
        if (!f) problems.push(`${where}/$ref: ${v} is neither local nor a file of schemas/`);
        else if (!existsSync(f) || !statSync(f).isFile()) problems.push(`${where}/$ref: ${v}: no such file ${relative(process.cwd(), f)}`);
        else if (!seen.has(f)) {
          seen.add(f);
          walk(JSON.parse(readFileSync(f, 'utf8')), relative(process.cwd(), f));
        }
      } else walk(v, `${where}/${k}`);
    }
  };
  walk(doc, '#');
  return { problems, files: seen.size };
}

const homewardResolver = {
  schema: 'https',
  order: 1, // before the parser's own https resolver
  canRead: (uri) => uri.hostname() === 'schemas.homeward.example',
  read: (uri) => {
    const f = schemaFile(`${BASE}${uri.path().replace(/^\//, '')}`);
    if (!f || !existsSync(f)) throw new Error(`${uri.toString()}: no such file in schemas/`);
    return readFileSync(f, 'utf8');
  },
};

const parser = new Parser({ __unstable: { resolver: { resolvers: [homewardResolver] } } });

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

async function parse(text, source) {
  const { document, diagnostics } = await parser.parse(text, { source });
  const count = (s) => diagnostics.filter((d) => d.severity === s).length;
  return {
    document,
    diagnostics,
    errors: count(DiagnosticSeverity.Error),
    warnings: count(DiagnosticSeverity.Warning),
    infos: count(DiagnosticSeverity.Information) + count(DiagnosticSeverity.Hint),
  };
}

const line = (d) =>
  `  ${SEVERITY[d.severity] ?? d.severity} ${d.code}: ${d.message}` +
  ` at ${d.path.length ? '/' + d.path.join('/') : '/'}` +
  (d.range ? ` (line ${d.range.start.line + 1})` : '');

// ---------------------------------------------------------------- payload schemas, draft 2020-12

function schemaFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'examples') out.push(...schemaFiles(p));
    } else if (e.name.endsWith('.json')) out.push(p);
  }
  return out;
}

/** Compile every message payload with ajv (draft 2020-12, formats asserted) and run the valid examples. */
function checkPayloads(doc) {
  const ajv = new Ajv2020({ strictSchema: true, strictTypes: false, strictTuples: false, strictRequired: false, allErrors: true });
  addFormats(ajv);
  for (const f of schemaFiles(SCHEMAS)) ajv.addSchema(JSON.parse(readFileSync(f, 'utf8')));
  const problems = [];
  let messages = 0;
  let examples = 0;
  for (const [name, message] of Object.entries(doc.components?.messages ?? {})) {
    const where = `#/components/messages/${name}/payload`;
    const payload = message.payload;
    // No schemaFormat: an AsyncAPI Schema Object, which the parser validates itself
    // (rejected.submission: the submitted bytes, which may not be JSON).
    if (payload === undefined || payload.schemaFormat === undefined) continue;
    if (payload?.schemaFormat !== DRAFT_2020_12) {
      problems.push(`${where}/schemaFormat: ${payload?.schemaFormat} is not ${DRAFT_2020_12}`);
      continue;
    }
    let validate;
    try {
      validate = ajv.compile(payload.schema);
    } catch (e) {
      problems.push(`${where}/schema: ${e.message}`);
      continue;
    }
    messages++;
    const m = /^(.+)\.v([0-9]+)$/.exec(name);
    const dir = m && join(SCHEMAS, 'messages', m[1], 'examples', `v${m[2]}`, 'valid');
    if (!dir || !existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
      const example = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      examples++;
      if (!validate(example)) {
        const why = validate.errors.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
        problems.push(`${where}: the valid example ${relative(process.cwd(), join(dir, f))} fails: ${why}`);
      }
    }
  }
  return { problems, messages, examples };
}

// ---------------------------------------------------------------- the document

const text = readFileSync(file, 'utf8');
const doc = JSON.parse(text);
let failed = false;

const refs = externalRefProblems(doc);
if (refs.problems.length) {
  console.error(`${file}: references the parser could only fetch over the network, or not at all:`);
  for (const p of refs.problems) console.error(`  ${p}`);
  process.exit(1);
}

const result = await parse(text, resolve(file));
for (const d of result.diagnostics) {
  if (d.severity <= DiagnosticSeverity.Warning) console.log(line(d));
}
if (result.errors || !result.document) {
  failed = true;
  console.log(`${file}: FAILED: @asyncapi/parser reports ${result.errors} error(s), ${result.warnings} warning(s)`);
} else {
  const d = result.document;
  console.log(
    `${file}: AsyncAPI ${d.version()} parsed by @asyncapi/parser: 0 errors, ${result.warnings} warnings, ` +
      `${result.infos} infos/hints; ${d.channels().length} channels, ${d.operations().length} operations, ` +
      `${d.components().messages().length} messages; ${refs.files} files of schemas/ resolved offline`,
  );
  for (const i of result.diagnostics.filter((x) => x.severity > DiagnosticSeverity.Warning)) console.log(line(i));
}

const payloads = checkPayloads(doc);
for (const p of payloads.problems) console.log(`  error ${p}`);
if (payloads.problems.length) failed = true;
console.log(
  `${file}: payload schemas (${DRAFT_2020_12}, which the parser passes through unchecked): ` +
    `${payloads.messages} compiled with ajv draft 2020-12, ${payloads.examples} valid examples pass, ` +
    `${payloads.problems.length} problems`,
);

// ---------------------------------------------------------------- self-test: broken copies must fail

const clone = () => structuredClone(doc);
const firstOp = (d) => Object.values(d.operations)[0];
const firstMessage = (d) => Object.values(d.components.messages)[0];
const mutations = [
  {
    what: 'an operation pointing at a missing channel',
    by: 'parser',
    make: (d) => (firstOp(d).channel = { $ref: '#/channels/no-such-channel' }),
  },
  {
    what: "an operation sending a message its channel does not carry",
    by: 'parser',
    make: (d) => {
      const op = firstOp(d);
      const channel = op.channel.$ref.split('/').pop();
      const other = Object.keys(d.channels).find((c) => c !== channel);
      const msg = Object.keys(d.channels[other].messages)[0];
      op.messages.push({ $ref: `#/channels/${other}/messages/${msg}` });
    },
  },
  {
    what: 'a payload $ref to a definition missing from an existing file of schemas/',
    by: 'parser',
    make: (d) => (firstMessage(d).payload.schema.properties.data = { $ref: `${BASE}defs/case/v1.json#/$defs/noSuchDefinition` }),
  },
  {
    what: 'a payload schema that is not valid JSON Schema ("type": 42)',
    by: 'ajv',
    make: (d) => (firstMessage(d).payload.schema.properties.type = { type: 42 }),
  },
];

console.log('self-test: each broken copy must be reported as an error');
for (const m of mutations) {
  const broken = clone();
  m.make(broken);
  const refsOk = externalRefProblems(broken).problems.length === 0;
  const r = refsOk ? await parse(JSON.stringify(broken, null, 2), resolve(file)) : { errors: 1, diagnostics: [] };
  const first = r.diagnostics.find((x) => x.severity === DiagnosticSeverity.Error);
  const ajvProblems = m.by === 'ajv' ? checkPayloads(broken).problems : [];
  const caught = m.by === 'parser' ? r.errors > 0 : ajvProblems.length > 0;
  const detail =
    m.by === 'parser'
      ? first ? `${first.code}: ${first.message}` : 'no error'
      : `${ajvProblems[0] ?? 'no error'} (the parser itself: ${r.errors} errors)`;
  console.log(`  ${caught ? 'ok' : 'NOT CAUGHT'}: ${m.what}: ${detail}`);
  if (!caught) failed = true;
}

console.log(failed ? 'asyncapi check: FAILED' : 'asyncapi check: passed');
process.exit(failed ? 1 : 0);
