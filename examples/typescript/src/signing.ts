// Signing and verifying envelopes and the published policy (docs/integrating.md §7):
// Ed25519 over the RFC 8785 (JCS) form of the object without `sig`, `sigkey` included;
// `sig` in base64url without padding; `sigkey` an nkeys user public key.
import { createHash, createPublicKey, verify as edVerify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import canonicalize from "canonicalize";
import { fromSeed, type KeyPair } from "@nats-io/nkeys";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Signed = { sigkey: string; sig: string; [k: string]: unknown };

export function signingBytes(o: Record<string, unknown>): Uint8Array {
  const { sig: _sig, ...unsigned } = o;
  const text = canonicalize(unsigned);
  if (text === undefined) throw new Error("not canonicalisable");
  return new TextEncoder().encode(text);
}

export function sign<T extends Record<string, unknown>>(o: T, kp: KeyPair): Omit<T, "sig"> & Signed {
  const { sig: _sig, ...rest } = o;
  const unsigned = { ...rest, sigkey: kp.getPublicKey() };
  const sig = Buffer.from(kp.sign(signingBytes(unsigned))).toString("base64url");
  return { ...unsigned, sig } as Omit<T, "sig"> & Signed;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32Decode(s: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let acc = 0;
  for (const ch of s) {
    const v = BASE32.indexOf(ch);
    if (v < 0) throw new Error("not base32");
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  return Uint8Array.from(out);
}

export function crc16Xmodem(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The 32 Ed25519 key bytes of an nkeys user public key (`U…`, 56 characters), checked as §7 says. */
export function userKeyBytes(userKey: string): Uint8Array {
  if (typeof userKey !== "string" || userKey.length !== 56) throw new Error("not an nkeys user public key");
  const raw = base32Decode(userKey);
  if (raw.length !== 35 || raw[0] !== 20 << 3) throw new Error("not an nkeys user public key");
  const crc = raw[33]! | (raw[34]! << 8);
  if (crc !== crc16Xmodem(raw.subarray(0, 33))) throw new Error("nkeys checksum mismatch");
  return raw.subarray(1, 33);
}

function edPublicKey(userKey: string): KeyObject {
  const x = Buffer.from(userKeyBytes(userKey)).toString("base64url");
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
}

/** True when `sig` verifies with `sigkey` over the canonical form (node:crypto's Ed25519, i.e. OpenSSL). */
export function verifySignature(o: unknown): boolean {
  if (typeof o !== "object" || o === null) return false;
  const r = o as Record<string, unknown>;
  if (typeof r.sig !== "string" || typeof r.sigkey !== "string" || !/^[A-Za-z0-9_-]{86}$/.test(r.sig)) return false;
  try {
    const sig = Buffer.from(r.sig, "base64url");
    return sig.length === 64 && edVerify(null, signingBytes(r), edPublicKey(r.sigkey), sig);
  } catch {
    return false;
  }
}

export function keyPairFromSeedFile(path: string): KeyPair {
  return fromSeed(new TextEncoder().encode(readFileSync(path, "utf8").trim()));
}

const sha256hex = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

/**
 * §7's test vector: the example of schemas/envelope/v1.json, signed with a throwaway key.
 * Throws unless the canonical bytes, the key and the signature come out exactly as published.
 */
export function checkTestVector(schemasDir: string): string {
  const schema = JSON.parse(readFileSync(join(schemasDir, "envelope", "v1.json"), "utf8")) as { examples: Signed[] };
  const example = schema.examples[0]!;
  const seedHex = "8a1b90f42bc5eabbf34525b2e5effc121f83e3074f7f2dba996a1115d7f8c0d0";
  if (sha256hex("homeward example signing key - not a real key") !== seedHex) throw new Error("test vector: seed");
  const seed = "SUAIUG4Q6QV4L2V36NCSLMXF576BEH4D4MDU67ZNXKMWUEIV274MBUEO2M";
  const seedRaw = base32Decode(seed); // 2 prefix bytes, the 32 seed bytes, CRC-16
  if (Buffer.from(seedRaw.subarray(2, 34)).toString("hex") !== seedHex) throw new Error("test vector: nkeys seed encoding");
  const kp = fromSeed(new TextEncoder().encode(seed));
  if (kp.getPublicKey() !== "UDISHSU5GZJL5O5OKPPCDQBNLZIKVEIAZU3FRIFRETQMUIQZKKGUE235") throw new Error("test vector: sigkey");
  const bytes = signingBytes(example);
  if (bytes.length !== 733) throw new Error(`test vector: canonical form is ${bytes.length} bytes, not 733`);
  if (sha256hex(bytes) !== "2dcb3e2320c236a195d507e45da4224f2b452672d57d0314854976d13cf5ad49") {
    throw new Error("test vector: canonical form's SHA-256 differs");
  }
  const resigned = sign(example, kp);
  const expected = "eNWfjFIvpBvpnr3RHUbg4IQMg3YxgrLRSL5BFnqpaJh3TVNPnuhYrx9AMcspnzyLPJwJVZ_-R7rHMrfwjaAlDA";
  if (resigned.sig !== expected || example.sig !== expected) throw new Error("test vector: signature differs");
  if (!verifySignature(example)) throw new Error("test vector: does not verify");
  if (verifySignature({ ...example, time: "2019-04-08T07:00:01Z" })) throw new Error("test vector: a changed envelope verifies");
  return "canonical form 733 bytes, SHA-256 and signature as published";
}
