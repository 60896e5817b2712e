#!/usr/bin/env python3
"""Independent validator of the Homeward schemas and their examples.

A second implementation next to the Rust one: it uses only the Python
`jsonschema` package (draft 2020-12, formats asserted) and resolves every
`$ref` offline from the schema files themselves, by `$id`.

Checks, one line per file:
  * every schema file: valid against the draft 2020-12 metaschema; `$schema`,
    an `$id` matching its path, `title`, `description`, `examples` (each valid
    against the schema itself); a `description` on every property; every
    `$ref` absolute;
  * every message type: a schema, at least 2 valid and 3 invalid examples;
  * every valid example: the whole envelope passes the envelope schema, its
    `type`, `dataschema` and `subject` agree with the folder and the data, and
    `data` passes the schema named by `dataschema`;
  * every invalid example: validation fails, some error (nested errors of
    combinators included) is at `failsAt`, and every error is explained by
    `failsAt` (the example fails for one reason only).

`sigkey` and `sig` are required by the envelope schema. Examples are kept
unsigned in the repository (a tool signs them), so when BOTH are absent from a
file the envelope is validated with those two requirements lifted; when either
is present both must be there and match the schema.

Usage: python3 tests/python/validate_examples.py [SCHEMAS_DIR]
Ends with `N passed, M failed`; exits 1 if anything failed.
"""

import copy
import json
import pathlib
import re
import sys

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

BASE = "https://schemas.homeward.example/"
ENVELOPE_ID = BASE + "envelope/v1.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
SIGNATURE_ATTRIBUTES = ("sigkey", "sig")
MESSAGE_TYPES = [
    "camp.resident.located",
    "identity.verification.requested",
    "identity.verification.completed",
    "repatriation.requested",
    "repatriation.decided",
    "operation.scheduled",
    "transit.requested",
    "transit.decided",
    "handover.completed",
    "handover.acknowledged",
    "arrival.recorded",
    "rehabilitation.admitted",
    "rehabilitation.discharged",
    "security.screening.completed",
    "custody.assigned",
    "documents.issued",
    "reintegration.registered",
    "gateway.receipt",
    "case.refused",
    "message.processed",
]


def pointer(path):
    """RFC 6901 JSON Pointer of a jsonschema error path (a deque of keys)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


class Checker:
    def __init__(self, root):
        self.root = root
        self.passed = 0
        self.failed = 0
        self.schemas = {}  # $id -> (relative path, schema)
        for path in sorted(root.rglob("*.json")):
            rel = path.relative_to(root)
            if "examples" in rel.parts:
                continue
            schema = json.loads(path.read_text(encoding="utf-8"))
            self.schemas[schema.get("$id", str(rel))] = (rel, schema)
        self.registry = Registry().with_resources(
            (sid, Resource.from_contents(s, default_specification=DRAFT202012))
            for sid, (_, s) in self.schemas.items()
        )

    # ---------------------------------------------------------------- output
    def report(self, label, problems):
        if problems:
            self.failed += 1
            print(f"FAIL {label}")
            for p in problems:
                print(f"     - {p}")
        else:
            self.passed += 1
            print(f"ok   {label}")

    def validator(self, schema):
        return Draft202012Validator(
            schema,
            registry=self.registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )

    # ---------------------------------------------------------------- schemas
    def lint(self, node, where, problems):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith(BASE):
                problems.append(f"{where}: $ref {ref!r} is not absolute under {BASE}")
            props = node.get("properties")
            if isinstance(props, dict):
                for name, sub in props.items():
                    if not (isinstance(sub, dict) and isinstance(sub.get("description"), str) and sub["description"].strip()):
                        if sub is not False:  # `false` forbids a property in a conditional
                            problems.append(f"{where}/properties/{name}: no description")
            for key, sub in node.items():
                if key in ("examples", "enum", "const", "default"):
                    continue
                self.lint(sub, f"{where}/{key}", problems)
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                self.lint(sub, f"{where}/{i}", problems)

    def check_schema(self, sid, rel, schema):
        problems = []
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as exc:  # SchemaError
            problems.append(f"not a valid draft 2020-12 schema: {exc.message if hasattr(exc, 'message') else exc}")
        if schema.get("$schema") != DRAFT:
            problems.append(f"$schema is not {DRAFT}")
        if sid != BASE + rel.as_posix():
            problems.append(f"$id {sid!r} does not match its path {rel.as_posix()!r}")
        for key in ("title", "description"):
            if not isinstance(schema.get(key), str) or not schema[key].strip():
                problems.append(f"no {key}")
        examples = schema.get("examples")
        if not isinstance(examples, list) or not examples:
            problems.append("no examples")
        else:
            v = self.validator(schema)
            for i, ex in enumerate(examples):
                for err in v.iter_errors(ex):
                    problems.append(f"examples/{i}{pointer(err.absolute_path)}: {err.message}")
        self.lint(schema, "#", problems)
        self.report(f"schema  {rel.as_posix()}", problems)

    # ---------------------------------------------------------------- envelopes
    def envelope_validator(self, event):
        env_schema = self.schemas[ENVELOPE_ID][1]
        if isinstance(event, dict) and not any(k in event for k in SIGNATURE_ATTRIBUTES):
            env_schema = copy.deepcopy(env_schema)
            env_schema["required"] = [r for r in env_schema["required"] if r not in SIGNATURE_ATTRIBUTES]
        return self.validator(env_schema)

    def errors(self, event):
        """Top-level errors of an event as (prefix, error): "" for envelope errors, "/data" for data errors."""
        out = [("", e) for e in self.envelope_validator(event).iter_errors(event)]
        if isinstance(event, dict) and isinstance(event.get("data"), dict):
            ds = event.get("dataschema")
            if isinstance(ds, str) and ds.startswith(BASE + "messages/") and ds in self.schemas:
                for e in self.validator(self.schemas[ds][1]).iter_errors(event["data"]):
                    out.append(("/data", e))
        return out

    @staticmethod
    def all_paths(prefix, error):
        """Instance paths of an error and of every error nested in its context."""
        paths = {prefix + pointer(error.absolute_path)}
        for sub in error.context or ():
            paths |= Checker.all_paths(prefix, sub)
        return paths

    def check_valid(self, rel, event, msg_type):
        problems = []
        for prefix, err in self.errors(event):
            problems.append(f"{prefix + pointer(err.absolute_path) or '(root)'}: {err.message}")
        if isinstance(event, dict):
            if any(k in event for k in SIGNATURE_ATTRIBUTES) and not all(k in event for k in SIGNATURE_ATTRIBUTES):
                problems.append("signed only halfway: sigkey and sig go together")
            problems += self.consistency(event, msg_type, version_of(rel))
        self.report(f"valid   {rel.as_posix()}", problems)

    def consistency(self, event, msg_type, version=1):
        problems = []
        want_schema = BASE + f"messages/{msg_type}/v{version}.json"
        if event.get("type") != msg_type:
            problems.append(f"type {event.get('type')!r} is not {msg_type!r}")
        if event.get("dataschema") != want_schema:
            problems.append(f"dataschema {event.get('dataschema')!r} is not {want_schema!r}")
        if event.get("dataschema") not in self.schemas:
            problems.append(f"dataschema {event.get('dataschema')!r} names no schema file")
        data = event.get("data")
        if isinstance(data, dict) and "caseRef" in data and event.get("subject") != data["caseRef"]:
            problems.append(f"subject {event.get('subject')!r} differs from data.caseRef {data['caseRef']!r}")
        return problems

    def check_invalid(self, rel, wrapper, msg_type):
        problems = []
        if not (isinstance(wrapper, dict) and set(wrapper) == {"description", "failsAt", "envelope"}):
            self.report(f"invalid {rel.as_posix()}", ["not a {description, failsAt, envelope} wrapper"])
            return
        fails_at, event = wrapper["failsAt"], wrapper["envelope"]
        errs = self.errors(event)
        if not errs:
            problems.append(f"passes, but should fail at {fails_at!r}")
        else:
            hit = False
            for prefix, err in errs:
                if fails_at in self.all_paths(prefix, err):
                    hit = True
                else:
                    at = prefix + pointer(err.absolute_path)
                    problems.append(f"also fails for another reason at {at or '(root)'}: {err.message}")
            if not hit:
                problems.append(f"no error at {fails_at!r}")
        if msg_type and isinstance(event, dict):
            problems += self.consistency(event, msg_type, version_of(rel))
        self.report(f"invalid {rel.as_posix()}", problems)

    # ---------------------------------------------------------------- run
    def run(self):
        if ENVELOPE_ID not in self.schemas:
            print(f"FAIL no envelope schema {ENVELOPE_ID}")
            self.failed += 1
            return
        for sid, (rel, schema) in sorted(self.schemas.items(), key=lambda kv: str(kv[1][0])):
            self.check_schema(sid, rel, schema)

        for path in sorted((self.root / "envelope" / "examples").rglob("*.json")):
            rel = path.relative_to(self.root)
            doc = json.loads(path.read_text(encoding="utf-8"))
            msg_type = doc.get("envelope", {}).get("type") if "invalid" in rel.parts else doc.get("type")
            if "invalid" in rel.parts:
                self.check_invalid(rel, doc, None)
            else:
                self.check_valid(rel, doc, msg_type)

        known = set(MESSAGE_TYPES)
        on_disk = {p.name for p in (self.root / "messages").iterdir() if p.is_dir()}
        for extra in sorted(on_disk - known):
            self.report(f"type    {extra}", ["a message folder for a type this validator does not know"])
        for msg_type in MESSAGE_TYPES:
            folder = self.root / "messages" / msg_type
            problems = []
            if BASE + f"messages/{msg_type}/v1.json" not in self.schemas:
                problems.append("no schema v1.json")
            published = sorted(int(p.stem[1:]) for p in folder.glob("v*.json") if p.stem[1:].isdigit())
            with_examples = sorted(
                int(p.name[1:]) for p in (folder / "examples").glob("v*") if p.is_dir() and p.name[1:].isdigit()
            )
            if published != with_examples:
                problems.append(f"schema versions {published} but examples for versions {with_examples}")
            checks = []
            for version in with_examples:
                valid = sorted((folder / "examples" / f"v{version}" / "valid").glob("*.json"))
                invalid = sorted((folder / "examples" / f"v{version}" / "invalid").glob("*.json"))
                if len(valid) < 2:
                    problems.append(f"v{version}: {len(valid)} valid examples, want at least 2")
                if len(invalid) < 3:
                    problems.append(f"v{version}: {len(invalid)} invalid examples, want at least 3")
                checks.append((valid, invalid))
            self.report(f"type    {msg_type}", problems)
            for valid, invalid in checks:
                for path in valid:
                    self.check_valid(path.relative_to(self.root), json.loads(path.read_text(encoding="utf-8")), msg_type)
                for path in invalid:
                    self.check_invalid(path.relative_to(self.root), json.loads(path.read_text(encoding="utf-8")), msg_type)


def version_of(rel):
    """The schema version an example's folder names (`examples/v2/valid/x.json`: 2); 1 outside one."""
    for part in rel.parts:
        if re.fullmatch(r"v[0-9]+", part):
            return int(part[1:])
    return 1


def main():
    here = pathlib.Path(__file__).resolve()
    root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else here.parents[2] / "schemas"
    checker = Checker(root)
    checker.run()
    print(f"{checker.passed} passed, {checker.failed} failed")
    return 1 if checker.failed else 0


if __name__ == "__main__":
    sys.exit(main())
