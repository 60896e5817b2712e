#!/usr/bin/env python3
"""An outside integrator's Homeward client, in Python.

Written from docs/integrating.md and schemas/ alone: it uses no Homeward code.
Each function follows one section of the guide (§N in the comments), so an
integrator can copy the parts they need.

Against a running Homeward site it walks one message through, as two members
of the demo policy:

  kz.mfa       reads and verifies the published policy (§6), builds, validates,
               signs and submits an identity.verification.requested (§7-§9),
               and takes only the receipt the gateway signed (§9);
  kz.security  pulls the delivery, checks it as §11 says, acks it and answers
               with a signed message.processed (§12);
  kz.mfa       pulls that answer from its own deliveries and checks it (§11);
               then submits a deliberately invalid message and reads the
               gateway's rejection from its receipt and rejected_kz_mfa (§10, §14).

Settings, from the environment (examples/run sets them):

  HOMEWARD_NATS_URL   the server, e.g. tls://127.0.0.1:4222
  HOMEWARD_TLS_CA     the CA file the operators gave you (PEM)
  HOMEWARD_KEYS       a folder with <member>.nk (signing seed), <member>.nats.nk
                      (NATS user seed) and policy-authority.pub
  HOMEWARD_SCHEMAS    the schemas/ folder of the published contract

Prints one line per step; on a failure, names the step and exits 1.
All data is synthetic.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import hashlib
import json
import logging
import os
import pathlib
import re
import ssl
import sys
import time
import tomllib

import nacl.exceptions
import nacl.signing
import nats
import nats.errors
import nkeys
import rfc8785
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SENDER = "kz.mfa"          # this client's two members; the TypeScript client uses uz.*
RECIPIENT = "kz.security"
EXAMPLE = "messages/identity.verification.requested/examples/v1/valid/kazakh-family.json"

SCHEMA_BASE = "https://schemas.homeward.example/"
REQUEST_TIMEOUT = 10.0     # seconds, for every NATS request
WAIT_TIMEOUT = 30.0        # seconds, for a receipt or a delivery to come
STEP_TIMEOUT = 60.0        # seconds, for a whole step


class Failure(Exception):
    """A check that did not hold."""


def need(cond: object, what: str) -> None:
    if not cond:
        raise Failure(what)


# ---------------------------------------------------------------- §2 credentials


def read_seed(path: pathlib.Path) -> bytes:
    """A seed file (SU…, mode 0600), without its trailing line break."""
    return path.read_bytes().strip()


# ---------------------------------------------------------------- §7 signing


def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def signing_bytes(obj: dict) -> bytes:
    """The RFC 8785 (JCS) form of the object without `sig`: what is signed."""
    return rfc8785.dumps({k: v for k, v in obj.items() if k != "sig"})


def verify_key(user_key: str) -> nacl.signing.VerifyKey:
    """An nkeys user public key (U…, 56 characters) as an Ed25519 key (§7)."""
    if not isinstance(user_key, str) or not re.fullmatch(r"U[A-Z2-7]{55}", user_key):
        raise ValueError("not an nkeys user public key")
    raw = base64.b32decode(user_key)                    # 56 characters: no padding to add
    if raw[0] != nkeys.PREFIX_BYTE_USER or int.from_bytes(raw[33:], "little") != nkeys.crc16(raw[:33]):
        raise ValueError("not an nkeys user public key")
    return nacl.signing.VerifyKey(raw[1:33])


def verify_signature(obj: dict) -> None:
    """Raises unless `sig` verifies over the canonical form with `sigkey`."""
    sig = obj.get("sig")
    if not isinstance(sig, str) or not re.fullmatch(r"[A-Za-z0-9_-]{86}", sig):
        raise ValueError("sig is not 64 bytes of base64url")
    try:
        verify_key(obj.get("sigkey")).verify(signing_bytes(obj), unb64url(sig))
    except nacl.exceptions.BadSignatureError:
        raise ValueError("the signature does not verify") from None


def sign(obj: dict, kp: nkeys.KeyPair) -> dict:
    """Sets `sigkey`, then `sig` over everything else (§7 steps 1-4)."""
    obj = {k: v for k, v in obj.items() if k != "sig"}
    obj["sigkey"] = kp.public_key.decode()
    obj["sig"] = b64url(kp.sign(signing_bytes(obj)))
    return obj


def check_test_vector(schemas: pathlib.Path) -> str:
    """§7: reproduce the test vector, and verify every signed example, before signing anything."""
    raw = hashlib.sha256(b"homeward example signing key - not a real key").digest()
    need(raw.hex() == "8a1b90f42bc5eabbf34525b2e5effc121f83e3074f7f2dba996a1115d7f8c0d0", "test vector: seed")
    seed = nkeys.encode_seed(raw, nkeys.PREFIX_BYTE_USER)
    need(seed == b"SUAIUG4Q6QV4L2V36NCSLMXF576BEH4D4MDU67ZNXKMWUEIV274MBUEO2M", "test vector: nkeys seed")
    kp = nkeys.from_seed(seed)
    need(kp.public_key == b"UDISHSU5GZJL5O5OKPPCDQBNLZIKVEIAZU3FRIFRETQMUIQZKKGUE235", "test vector: sigkey")
    example = json.loads((schemas / "envelope/v1.json").read_text("utf-8"))["examples"][0]
    canonical = signing_bytes(example)
    need(len(canonical) == 733, f"test vector: canonical form is {len(canonical)} bytes, not 733")
    need(hashlib.sha256(canonical).hexdigest()
         == "2dcb3e2320c236a195d507e45da4224f2b452672d57d0314854976d13cf5ad49", "test vector: canonical SHA-256")
    want_sig = "eNWfjFIvpBvpnr3RHUbg4IQMg3YxgrLRSL5BFnqpaJh3TVNPnuhYrx9AMcspnzyLPJwJVZ_-R7rHMrfwjaAlDA"
    need(sign(example, kp)["sig"] == want_sig == example["sig"], "test vector: sig")
    verify_signature(example)

    # The signed examples: each by the example key of its source member, whose
    # seed is SHA-256 of "homeward example key for <member>" (keys.json lists them).
    listed = json.loads((schemas / "examples/keys.json").read_text("utf-8"))["keys"]
    for member, public in listed.items():
        derived = nkeys.from_seed(nkeys.encode_seed(
            hashlib.sha256(f"homeward example key for {member}".encode()).digest(), nkeys.PREFIX_BYTE_USER))
        need(derived.public_key.decode() == public, f"examples/keys.json: {member}'s key is not its derived key")
    count = unsigned = 0
    for path in sorted(schemas.glob("messages/*/examples/v*/valid/*.json")):
        env = json.loads(path.read_text("utf-8"))
        if "sig" not in env and "sigkey" not in env:    # an example still being written: not signed yet
            unsigned += 1
            continue
        member = env["source"].removeprefix("urn:homeward:")
        need(env.get("sigkey") == listed.get(member), f"{path.relative_to(schemas)}: not signed by {member}'s example key")
        try:
            verify_signature(env)
        except ValueError as e:
            raise Failure(f"{path.relative_to(schemas)}: {e}") from None
        count += 1
    return (f"§7 test vector reproduced (733 canonical bytes, same sig); {count} signed examples verified "
            f"against {len(listed)} example keys" + (f" ({unsigned} unsigned skipped)" if unsigned else ""))


# ---------------------------------------------------------------- §8 schemas (and §11 check 1, 5)


class Schemas:
    """schemas/ indexed by `$id`, resolved offline; formats asserted (schemas/README.md)."""

    ENVELOPE = SCHEMA_BASE + "envelope/v1.json"
    DATASCHEMA = re.compile(r"https://schemas\.homeward\.example/messages/([a-z.]+)/v[0-9]+\.json")

    def __init__(self, root: pathlib.Path):
        self.by_id: dict[str, dict] = {}
        for path in sorted(root.rglob("*.json")):
            if "examples" in path.relative_to(root).parts:
                continue
            schema = json.loads(path.read_text("utf-8"))
            self.by_id[schema["$id"]] = schema
        self.registry = Registry().with_resources(
            (sid, Resource.from_contents(s, default_specification=DRAFT202012)) for sid, s in self.by_id.items())
        self.format_checker = Draft202012Validator.FORMAT_CHECKER
        # jsonschema asserts a format only when its checker's package is installed:
        # make sure none of those the schemas use is silently skipped.
        missing = {"date-time", "date", "uri", "json-pointer"} - set(self.format_checker.checkers)
        need(not missing, f"format checkers missing: {sorted(missing)} (install rfc3339-validator, "
                          "rfc3986-validator, jsonpointer)")
        self.validators = {sid: Draft202012Validator(s, registry=self.registry, format_checker=self.format_checker)
                           for sid, s in self.by_id.items()}

    def knows(self, env: dict) -> bool:
        """`dataschema` is a published schema of this `type` that we hold (§11 check 5)."""
        ds = env.get("dataschema")
        m = self.DATASCHEMA.fullmatch(ds) if isinstance(ds, str) else None
        return bool(m) and m.group(1) == env.get("type") and ds in self.validators

    @staticmethod
    def _errors(validator, instance, prefix=""):
        out = []
        for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
            path = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in e.absolute_path)
            out.append(f"{prefix}{path or ('' if prefix else '/')}: {e.message}")
        return out

    def data_errors(self, env: dict) -> list[str]:
        """`data` against the schema `dataschema` names (§8)."""
        if not self.knows(env):
            return [f"/dataschema: no published schema of type {env.get('type')!r} is {env.get('dataschema')!r}"]
        return self._errors(self.validators[env["dataschema"]], env.get("data"), "/data")

    def envelope_errors(self, env: dict) -> list[str]:
        """The whole event against envelope/v1.json, plus the rules of §8 the schema cannot say."""
        errors = self._errors(self.validators[self.ENVELOPE], env)
        data = env.get("data")
        if isinstance(data, dict) and "caseRef" in data and env.get("subject") != data["caseRef"]:
            errors.append("/subject: differs from data.caseRef")
        if has_control_character(data):
            errors.append("/data: a control character other than tab or a line break")
        return errors

    def errors(self, env: dict) -> list[str]:
        return self.envelope_errors(env) + (self.data_errors(env) if isinstance(env.get("data"), dict) else [])


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_character(value) -> bool:
    if isinstance(value, str):
        return bool(CONTROL.search(value))
    if isinstance(value, dict):
        return any(has_control_character(k) or has_control_character(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_control_character(v) for v in value)
    return False


# ---------------------------------------------------------------- §8 building an envelope

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid() -> str:
    """A fresh, random ULID: 48 bits of milliseconds, 80 random bits."""
    n = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(CROCKFORD[(n >> (5 * i)) & 31] for i in reversed(range(26)))


def now() -> str:
    """Now, RFC 3339 UTC ending in Z."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def traceparent(answering: dict | None = None) -> str:
    """W3C trace context; an answer keeps the trace id of the message it answers."""
    trace = os.urandom(16).hex()
    if answering and isinstance(answering.get("traceparent"), str):
        trace = answering["traceparent"].split("-")[1]
    return f"00-{trace}-{os.urandom(8).hex()}-01"


def envelope(member: str, type_: str, data: dict, causationid: str | None = None,
             answering: dict | None = None, version: int = 1) -> dict:
    """An unsigned envelope (§8): sign it (§7) just before you submit it."""
    env = {"specversion": "1.0", "id": ulid(), "source": f"urn:homeward:{member}",
           "type": type_, "time": now(), "datacontenttype": "application/json",
           "dataschema": f"{SCHEMA_BASE}messages/{type_}/v{version}.json",
           "traceparent": traceparent(answering), "data": data}
    if "caseRef" in data:
        env["subject"] = data["caseRef"]
    if causationid:
        env["causationid"] = causationid
    return env


# ---------------------------------------------------------------- §6 the published policy


def parse_time(value) -> dt.datetime:
    """An RFC 3339 time from the policy (a TOML string or datetime) or an envelope."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class Policy:
    """The policy in force: members, their keys, routes (§6)."""

    def __init__(self, version: int, text: str, keyrings: list[dict]):
        self.version = version
        doc = tomllib.loads(text)
        self.roles = {m["id"]: m["role"] for m in doc.get("member", [])}
        self.keys: dict[str, list[dict]] = {}
        for m in doc.get("member", []):
            self.keys.setdefault(m["id"], []).extend(m.get("key", []))
        for ring in keyrings:
            for k in tomllib.loads(ring["text"]).get("key", []):
                self.keys.setdefault(k["member"], []).append(k)
        self.routes = {r["type"]: r for r in doc.get("route", [])}

    def key_valid(self, member: str, sigkey: str, at: str) -> bool:
        """Is key K valid for member M at time T? (§6)"""
        t = parse_time(at)
        return any(
            k["public"] == sigkey and not k.get("revoked", False) and parse_time(k["valid_from"]) <= t
            and ("valid_until" not in k or t < parse_time(k["valid_until"]))
            for k in self.keys.get(member, []))

    def may_send(self, sender: str, type_: str) -> dict | None:
        """May M send type X? The route, or None (§6)."""
        route, role = self.routes.get(type_), self.roles.get(sender)
        if route and role and any(s in (sender, f"role:{role}") for s in route["senders"]):
            return route
        return None

    def recipients(self, route: dict, sender: str, data: dict) -> list[str]:
        """Whom does a message go to? Raises ValueError for no valid recipient (§6)."""
        out = []
        for r in route["recipients"]:
            member = r["member"].replace("{sender.party}", sender.split(".")[0])
            while "{data." in member:
                start = member.index("{data.")
                end = member.index("}", start)
                value = data
                for part in member[start + 6:end].split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if not isinstance(value, str) or not 0 < len(value) <= 64:
                    raise ValueError("routing field missing")
                member = member[:start] + value.lower() + member[end + 1:]
            role = self.roles.get(member)
            if role in (None, "gateway", "operator") or r.get("role", role) != role:
                raise ValueError("no valid recipient")
            if member not in out:
                out.append(member)
        return out


POLICY_SUBJECT = "$KV.hw_policy.current"
POLICY_GET = "$HW.API.DIRECT.GET.KV_hw_policy.$KV.hw_policy.current"


def verify_policy_document(body: bytes, authority: str, held: int) -> Policy:
    """Take a document only if the authority signed it and it is newer (§6)."""
    doc = json.loads(body)
    need(doc.get("sigkey") == authority, "policy not signed by the policy authority")
    verify_signature(doc)
    need(isinstance(doc.get("version"), int) and doc["version"] > held,
         f"policy version {doc.get('version')!r} is not newer than {held}")
    return Policy(doc["version"], doc["policy"], doc.get("keyrings", []))


async def published_policy(nc, authority: str) -> Policy:
    """The current version, by direct get (§6)."""
    msg = await nc.request(POLICY_GET, b"", timeout=REQUEST_TIMEOUT)
    if msg.headers and msg.headers.get("Status") == "404":
        raise Failure("no policy published yet (use the operators' policy file)")
    return verify_policy_document(msg.data, authority, held=0)


async def follow_policy(member: "Member", authority: str) -> None:
    """Every new version, live: replace the policy when a newer one verifies (§6, §13)."""
    async def on_update(msg):
        try:
            member.policy = verify_policy_document(msg.data, authority, member.policy.version)
            log(f"{member.id}: policy version {member.policy.version} in force")
        except Exception as e:            # keep what we have, and log it
            log(f"{member.id}: ignored a policy update: {e}")
    await member.nc.subscribe(POLICY_SUBJECT, cb=on_update)


# ---------------------------------------------------------------- §3, §5 connecting


def log(line: str) -> None:
    print(f"    ({line})", file=sys.stderr, flush=True)


class Member:
    """One member's connection, keys, consumers and policy."""

    def __init__(self, member_id: str, keys: pathlib.Path):
        self.id = member_id
        self.token = member_id.replace(".", "_")          # §4: <t>
        self.signing = nkeys.from_seed(read_seed(keys / f"{member_id}.nk"))
        self.nats_seed = keys / f"{member_id}.nats.nk"
        self.nc = self.js = self.policy = None
        self._subs: dict[str, object] = {}
        self.applied: set[tuple[str, str]] = set()        # §11 check 9: (sender, id) applied
        self.later_receipts: list[dict] = []              # §9: receipts we were not waiting for

    async def connect(self, url: str, ca_file: str) -> None:
        async def on_error(e):                            # e.g. permissions violations (§14)
            log(f"{self.id}: NATS error: {e}")
        self.nc = await nats.connect(
            servers=[url],                                         # tls://host:port
            tls=ssl.create_default_context(cafile=ca_file),        # §3: this CA only, host name checked
            nkeys_seed=str(self.nats_seed),                        # §2: the NATS user seed, not the signing seed
            inbox_prefix=f"_INBOX_{self.token}",                   # §5
            name=f"homeward-example-python {self.id}",
            connect_timeout=REQUEST_TIMEOUT,
            allow_reconnect=False,                                 # an example fails fast; a service reconnects
            error_cb=on_error,
        )
        self.js = self.nc.jetstream(prefix="$HW.API", timeout=REQUEST_TIMEOUT)   # §5

    async def consumer(self, stream: str, name: str):
        """Bind to a provisioned consumer by stream and name: no look-ups, no creation (§5)."""
        if name not in self._subs:
            self._subs[name] = await self.js.pull_subscribe_bind(durable=name, stream=stream)
        return self._subs[name]

    async def pull(self, stream: str, name: str, deadline: float):
        """Yields messages of a consumer, one at a time, until the deadline."""
        sub = await self.consumer(stream, name)
        while (left := deadline - time.monotonic()) > 0:
            try:
                msgs = await sub.fetch(1, timeout=min(5.0, left))
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                yield msg
        raise Failure(f"nothing more came on {name} within {WAIT_TIMEOUT:.0f} s")

    async def close(self) -> None:
        if self.nc and not self.nc.is_closed:
            try:
                await self.nc.flush(timeout=5)           # acks sent without a confirmation
            finally:
                await self.nc.close()


async def connect(member: Member, url: str, ca_file: str, authority: str) -> str:
    await member.connect(url, ca_file)
    member.policy = await published_policy(member.nc, authority)        # §6
    await follow_policy(member, authority)
    return (f"§5 connected as {member.id} (TLS with the given CA only, nkey, inbox _INBOX_{member.token}, "
            f"JetStream prefix $HW.API); §6 policy version {member.policy.version} verified with the "
            f"authority key: {len(member.policy.roles)} members, {len(member.policy.routes)} routes")


# ---------------------------------------------------------------- §9 submitting, receipts


class Submission:
    """What a receipt is matched against: the publish ack's sequence, the id, the bytes' SHA-256 (§9)."""

    def __init__(self, env: dict, seq: int, body: bytes):
        self.env, self.id, self.seq = env, env["id"], seq
        self.sha256 = hashlib.sha256(body).hexdigest()


async def submit(member: Member, env: dict) -> Submission:
    """A JetStream publish to hw.submit.<m>, Nats-Msg-Id = id (§9)."""
    body = json.dumps(env, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    need(len(body) <= 64 * 1024, "envelope over 64 KiB")
    ack = await member.js.publish(f"hw.submit.{member.id}", body, headers={"Nats-Msg-Id": env["id"]},
                                  timeout=REQUEST_TIMEOUT)
    need(not ack.duplicate, "duplicate id: no new receipt will come (sign again with a new id)")
    need(ack.stream == "HW_SUBMIT", f"stored in {ack.stream}, not HW_SUBMIT")
    return Submission(env, ack.seq, body)


def gateway_receipt(policy: Policy, env: dict) -> dict:
    """Take a receipt only if a gateway member signed it with a key valid at its time (§9)."""
    sender = str(env.get("source", "")).removeprefix("urn:homeward:")
    need(env.get("type") == "gateway.receipt", "not a gateway.receipt")
    need(policy.roles.get(sender) == "gateway", f"{sender} is not a gateway member")
    verify_signature(env)
    need(policy.key_valid(sender, env["sigkey"], env["time"]), "not signed with a key the policy lists for the gateway")
    return env


def matches(receipt: dict, sub: Submission) -> bool:
    data = receipt["data"]
    if data.get("submissionSequence") != str(sub.seq):
        return False
    need(data.get("submissionId") == sub.id, "the receipt's submissionId is not our id")
    need(receipt.get("causationid") == sub.id, "the receipt's causationid is not our id")
    need(data.get("submissionSha256") == sub.sha256, "the receipt's submissionSha256 is not our bytes'")
    return True


async def wait_receipt(member: Member, sub: Submission) -> dict:
    """Pull receipt_<t> until the receipt of this submission comes; ack everything read (§9)."""
    for receipt in member.later_receipts:                        # it may have come already
        if matches(receipt, sub):
            member.later_receipts.remove(receipt)
            return receipt
    deadline = time.monotonic() + WAIT_TIMEOUT
    async for msg in member.pull("HW_RECEIPTS", f"receipt_{member.token}", deadline):
        await msg.ack()
        try:
            receipt = gateway_receipt(member.policy, json.loads(msg.data))
        except Exception as e:
            log(f"{member.id}: skipped a message on its receipt consumer: {e}")
            continue
        if matches(receipt, sub):
            return receipt
        member.later_receipts.append(receipt)                    # keep those we are not waiting for


async def send(member: Member, env: dict, schemas: Schemas) -> Submission:
    """Sign (§7) just before submitting, check the whole envelope (§8), submit (§9)."""
    signed = sign(env, member.signing)
    errors = schemas.errors(signed)
    need(not errors, f"not valid before sending: {errors}")
    return await submit(member, signed)


# ---------------------------------------------------------------- §11 deliveries

MAX_AGE, MAX_SKEW = dt.timedelta(days=7, minutes=10), dt.timedelta(minutes=10)


def parse_strict(body: bytes) -> dict:
    """UTF-8 JSON without duplicate keys, at most 64 KiB (§11 check 1)."""
    need(len(body) <= 64 * 1024, "over 64 KiB")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)
    env = json.loads(body.decode("utf-8"), object_pairs_hook=no_duplicates)
    need(isinstance(env, dict), "not a JSON object")
    return env


class Refuse(Exception):
    """Checks 4-7 failed: refuse back with this rule (§11, §12)."""

    def __init__(self, rule: str, reason: str):
        super().__init__(f"{rule}: {reason}")
        self.rule, self.reason = rule, reason


def check_delivery(member: Member, schemas: Schemas, env: dict, stored_at: dt.datetime) -> None:
    """Checks 1-7 of §11, in order. Raises Failure for 1-3, Refuse for 4-7."""
    policy = member.policy
    errors = schemas.envelope_errors(env)                                          # 1
    need(not errors, f"check 1 (envelope): {errors[:3]}")
    sender = env["source"].removeprefix("urn:homeward:")
    try:
        verify_signature(env)                                                      # 2
    except ValueError as e:
        raise Failure(f"check 2 (signature): {e}") from None
    need(policy.key_valid(sender, env["sigkey"], env["time"]),                      # 3
         f"check 3 (key): the policy gives {sender} no such key valid at {env['time']}")
    t = parse_time(env["time"])                                                    # 4
    if t < stored_at - MAX_AGE:
        raise Refuse("envelope_stale", "time is before the accepted age")
    if t > stored_at + MAX_SKEW:
        raise Refuse("envelope_from_the_future", "time is after the delivery was stored")
    if not schemas.knows(env):                                                     # 5
        raise Refuse("schema_unknown", "dataschema is not a schema of this type that we know")
    problems = schemas.data_errors(env)
    if problems:
        paths = sorted({p.split(":")[0] for p in problems})
        raise Refuse("schema_invalid", f"data does not match its schema at {', '.join(paths)}")
    route = policy.may_send(sender, env["type"])                                   # 6
    if route is None:
        raise Refuse("sender_not_permitted", f"the policy does not let {sender} send {env['type']}")
    try:                                                                           # 7
        named = member.id in policy.recipients(route, sender, env["data"])
    except ValueError:
        named = False
    if not named:
        raise Refuse("not_routed_here", f"the route does not name {member.id}")


async def refuse(member: Member, schemas: Schemas, env: dict, rule: str, reason: str) -> None:
    """A case.refused back to the sender (§12)."""
    data = {"refusedSender": env["source"].removeprefix("urn:homeward:"),
            "refusedMessageId": env["id"], "refusedType": env["type"], "rule": rule, "reason": reason}
    if isinstance(env.get("data"), dict) and isinstance(env["data"].get("caseRef"), str):
        data["caseRef"] = env["data"]["caseRef"]
    await send(member, envelope(member.id, "case.refused", data, causationid=env["id"], answering=env), schemas)


async def receive(member: Member, schemas: Schemas, want_id: str) -> dict:
    """Pull deliver_<t>, check each delivery (§11) and ack it; return the one with want_id."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    async for msg in member.pull("HW_DELIVER", f"deliver_{member.token}", deadline):
        stored_at = msg.metadata.timestamp                   # set by the server, not by the sender
        try:
            env = parse_strict(msg.data)
            check_delivery(member, schemas, env, stored_at)
        except Refuse as r:
            if env["type"] not in ("case.refused", "message.processed"):   # never refuse a refusal
                await refuse(member, schemas, env, r.rule, r.reason)
            await msg.term()
            need(env.get("id") != want_id, f"refused our own message: {r}")
            log(f"{member.id}: refused a delivery: {r}")
            continue
        except Exception as e:                              # checks 1-3: terminate, alarm, send nothing
            await msg.term()
            need(msg.headers is None or msg.headers.get("Hw-Msg-Id") != want_id, f"delivery failed {e}")
            log(f"{member.id}: ALARM, terminated a delivery: {e}")
            continue
        first = (env["source"], env["id"]) not in member.applied       # 9: a redelivery changes nothing
        member.applied.add((env["source"], env["id"]))                  # 8, here: "store" it
        await msg.ack_sync(timeout=REQUEST_TIMEOUT)                     # confirmed ack, once stored
        if env["id"] == want_id and first:
            return {"env": env, "stored_at": stored_at, "redelivered": msg.metadata.num_delivered > 1}
        log(f"{member.id}: acked another delivery: {env['type']} {env['id']}")


# ---------------------------------------------------------------- §10 rejected submissions


async def read_rejected(member: Member, env_id: str) -> tuple[dict, bytes]:
    """The copy of a rejected submission in rejected_<t>, by its Hw-Msg-Id (§10)."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    async for msg in member.pull("HW_REJECTED", f"rejected_{member.token}", deadline):
        await msg.ack()
        headers = msg.headers or {}
        if headers.get("Hw-Msg-Id") == env_id:
            return headers, msg.data
        log(f"{member.id}: another rejected submission: {headers.get('Hw-Msg-Id')}")


# ---------------------------------------------------------------- the walk


def describe(receipt: dict) -> str:
    data = receipt["data"]
    who = receipt["source"].removeprefix("urn:homeward:")
    return (f"receipt seq {data['submissionSequence']} signed by {who} ({receipt['sigkey'][:8]}…): "
            f"{data['decision']}")


async def walk(env_vars: dict) -> None:
    schemas_dir = pathlib.Path(env_vars["HOMEWARD_SCHEMAS"])
    keys = pathlib.Path(env_vars["HOMEWARD_KEYS"])
    url, ca = env_vars["HOMEWARD_NATS_URL"], env_vars["HOMEWARD_TLS_CA"]
    authority = schemas = mfa = security = None
    state: dict = {}
    n = 0

    async def step(title: str, body) -> None:
        nonlocal n
        n += 1
        try:
            line = await asyncio.wait_for(body(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            raise SystemExit(f"FAILED step {n} ({title}): no answer within {STEP_TIMEOUT:.0f} s") from None
        except Exception as e:
            raise SystemExit(f"FAILED step {n} ({title}): {type(e).__name__}: {e}") from None
        print(f"{n:2}. {line}", flush=True)

    # §2, §3, §6: what the operators gave us, and the contract
    async def settings():
        nonlocal authority, schemas, mfa, security
        authority = (keys / "policy-authority.pub").read_text().strip()
        verify_key(authority)
        need(pathlib.Path(ca).is_file(), f"no CA file {ca}")
        schemas = Schemas(schemas_dir)
        mfa, security = Member(SENDER, keys), Member(RECIPIENT, keys)
        return (f"read the settings: server {url}, CA {ca}, policy authority {authority[:8]}…, "
                f"seeds of {SENDER} and {RECIPIENT}, {len(schemas.by_id)} schemas indexed by $id")

    # §7, before signing anything
    async def test_vector():
        return check_test_vector(schemas_dir)

    # 1. kz.mfa connects and reads the published policy (§3, §5, §6)
    async def connect_mfa():
        return await connect(mfa, url, ca, authority)

    # 2. the request: built (§8), data validated, signed (§7), submitted (§9), receipt (§9)
    async def build():
        example = json.loads((schemas_dir / EXAMPLE).read_text("utf-8"))
        env = envelope(SENDER, "identity.verification.requested", example["data"])
        errors = schemas.data_errors(env)
        need(not errors, f"data not valid: {errors}")
        state["request"] = env
        return (f"§8 built {env['type']} {env['id']} for case {env['subject']} at {env['time']}; data valid "
                f"against {env['dataschema'].removeprefix(SCHEMA_BASE)} (formats asserted)")

    async def submit_request():
        sub = await send(mfa, state["request"], schemas)
        state["request"], state["request_sub"] = sub.env, sub
        return (f"§7 signed with {SENDER}'s key {sub.env['sigkey'][:8]}…, whole envelope valid against "
                f"envelope/v1.json; §9 published to hw.submit.{SENDER} with Nats-Msg-Id, stored in "
                f"HW_SUBMIT as seq {sub.seq}")

    async def request_receipt():
        env = state["request"]
        receipt = await wait_receipt(mfa, state["request_sub"])
        data = receipt["data"]
        need(data["decision"] == "accepted", f"rejected: {data.get('reasons')}")
        need(data.get("recipients") == [RECIPIENT], f"recipients {data.get('recipients')}, not [{RECIPIENT}]")
        need(data.get("submissionType") == env["type"], "the receipt names another type")
        return f"§9 {describe(receipt)} for {data['submissionId']}, recipients {data['recipients']}"

    # 3. kz.security pulls, checks and acks (§11)
    async def connect_security():
        return await connect(security, url, ca, authority)

    async def deliver_request():
        env = state["request"]
        got = await receive(security, schemas, env["id"])
        d = got["env"]
        need(signing_bytes(d) == signing_bytes(env), "the delivery is not the envelope kz.mfa signed")
        state["delivered"] = d
        age = (got["stored_at"] - parse_time(d["time"])).total_seconds()
        return (f"§11 {RECIPIENT} pulled {d['type']} {d['id']} from deliver_{security.token}: JSON strict, "
                f"envelope valid, sig by {d['sigkey'][:8]}… valid for {SENDER} at {d['time']}, age {age:.1f} s, "
                f"data valid, {SENDER} may send it, route names {RECIPIENT}; acked")

    # 4. kz.security answers with message.processed (§12); kz.mfa pulls it (§11)
    async def answer():
        d = state["delivered"]
        processed = envelope(RECIPIENT, "message.processed", {
            "originalSender": d["source"].removeprefix("urn:homeward:"),
            "processedMessageId": d["id"], "processedType": d["type"],
            "outcome": "processed", "processedAt": now(), "caseRef": d["data"]["caseRef"],
        }, causationid=d["id"], answering=d)
        sub = await send(security, processed, schemas)
        signed = sub.env
        receipt = await wait_receipt(security, sub)
        data = receipt["data"]
        need(data["decision"] == "accepted", f"rejected: {data.get('reasons')}")
        need(data.get("recipients") == [SENDER], f"recipients {data.get('recipients')}, not [{SENDER}]")
        state["processed"] = signed
        return (f"§12 {RECIPIENT} sent message.processed {signed['id']} (causationid {d['id']}); "
                f"{describe(receipt)}, recipients {data['recipients']}")

    async def deliver_answer():
        sent = state["processed"]
        got = await receive(mfa, schemas, sent["id"])
        p = got["env"]
        need(p["type"] == "message.processed" and p["source"] == f"urn:homeward:{RECIPIENT}", "not kz.security's answer")
        need(p["data"]["processedMessageId"] == state["request"]["id"] == p["causationid"], "answers another message")
        need(p["data"]["outcome"] == "processed", f"outcome {p['data']['outcome']}")
        return (f"§11 {SENDER} pulled message.processed {p['id']} from deliver_{mfa.token}, checks 1-7 passed: "
                f"{RECIPIENT} processed {p['data']['processedMessageId']}; acked")

    # 5. a deliberately invalid message: refused locally, and by the gateway (§10, §14)
    async def invalid():
        example = json.loads((schemas_dir / EXAMPLE).read_text("utf-8"))
        data = copy.deepcopy(example["data"])
        del data["persons"]                                           # a required field
        env = envelope(SENDER, "identity.verification.requested", data)
        local = schemas.data_errors(env)
        need(local, "the local validator passed an invalid message")
        signed = sign(env, mfa.signing)                               # send it anyway, to see the gateway refuse it
        sub = await submit(mfa, signed)
        receipt = await wait_receipt(mfa, sub)
        data = receipt["data"]
        codes = [r["code"] for r in data.get("reasons", [])]
        need(data["decision"] == "rejected" and codes == ["schema_violation"], f"{data['decision']}, codes {codes}")
        headers, body = await read_rejected(mfa, signed["id"])
        need(headers.get("Hw-Decision") == "rejected", f"Hw-Decision {headers.get('Hw-Decision')}")
        need(headers.get("Hw-Codes") == "schema_violation", f"Hw-Codes {headers.get('Hw-Codes')}")
        need(headers.get("Hw-Sender") == SENDER and headers.get("Hw-Submit-Seq") == str(sub.seq), "another submission")
        need(hashlib.sha256(body).hexdigest() == data["submissionSha256"], "the copy is not the bytes we sent")
        need([r["code"] for r in json.loads(headers["Hw-Reasons"])] == codes, "Hw-Reasons differ from the receipt")
        where = ", ".join(f"{r['code']} at {r.get('instancePath', '(none)')}" for r in data["reasons"])
        return (f"§14 without data.persons: local validation fails ({local[0]}); the gateway rejected seq "
                f"{sub.seq}: {where}; §10 rejected_{mfa.token} holds the bytes sent, Hw-Codes {headers['Hw-Codes']}")

    try:
        await step("read the settings", settings)
        await step("§7 test vector", test_vector)
        await step(f"connect as {SENDER}, read the policy", connect_mfa)
        await step("build and validate the envelope", build)
        await step("sign and submit", submit_request)
        await step("the gateway's receipt", request_receipt)
        await step(f"connect as {RECIPIENT}", connect_security)
        await step(f"{RECIPIENT} pulls and checks the delivery", deliver_request)
        await step(f"{RECIPIENT} sends message.processed", answer)
        await step(f"{SENDER} pulls message.processed", deliver_answer)
        await step("an invalid message is rejected", invalid)
    finally:
        for m in (mfa, security):
            if m is None:
                continue
            try:
                await asyncio.wait_for(m.close(), 5)
            except Exception:
                pass


def main() -> None:
    names = ("HOMEWARD_NATS_URL", "HOMEWARD_TLS_CA", "HOMEWARD_KEYS", "HOMEWARD_SCHEMAS")
    missing = [k for k in names if not os.environ.get(k)]
    if missing:
        raise SystemExit(f"set {', '.join(missing)} (see the docstring)")
    # asyncio warns "returning true from eof_received() has no effect when using
    # ssl" when a TLS connection closes: harmless noise.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    started = time.monotonic()
    asyncio.run(walk({k: os.environ[k] for k in names}))
    print(f"python client: all steps passed in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
