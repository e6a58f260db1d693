// The parts of carechain's canonical encoding (internal/codec, internal/tx)
// the page needs to check what the node prepared for it to sign: the
// transaction envelope and the bodies of the messages whose meaning lies
// entirely in their fields. See docs/portal.md for what is checked.

const enc = new TextEncoder();

export const SIGN_DOMAIN = enc.encode("carechain/tx/v1\0");
export const TX_VERSION = 1;

// Message type numbers (internal/tx/messages.go); part of the protocol.
export const TYPES = {
  "consent.grant": 10, "consent.update": 11, "consent.revoke": 12,
  "delegate.set": 13, "delegate.remove": 14, "breakglass.optout": 15,
  "audit.query": 50,
};

export class Writer {
  constructor() { this.parts = []; this.length = 0; }
  push(bytes) { this.parts.push(bytes); this.length += bytes.length; }
  byte(b) { this.push(Uint8Array.of(b)); }
  uvarint(v) {
    let n = BigInt(v);
    if (n < 0n) throw new Error("uvarint of a negative number");
    const out = [];
    while (n >= 0x80n) { out.push(Number(n & 0x7fn) | 0x80); n >>= 7n; }
    out.push(Number(n));
    this.push(Uint8Array.from(out));
  }
  bool(v) { this.byte(v ? 1 : 0); }
  bytes(b) { this.uvarint(b.length); this.push(b); }
  string(s) { this.bytes(enc.encode(s)); }
  fixed(b) { this.push(b); }
  done() {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }
}

export function concat(...arrays) {
  const w = new Writer();
  for (const a of arrays) w.fixed(a);
  return w.done();
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function b64decode(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function b64encode(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin);
}

export function b64url(bytes) {
  return b64encode(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function hexdecode(s) {
  if (s.length % 2 !== 0 || /[^0-9a-fA-F]/.test(s)) throw new Error("not hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
}

export function hexencode(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// envelope encodes a transaction without its signature, as Tx.writeUnsigned does.
export function envelope(chainID, signer, nonce, type, body) {
  const w = new Writer();
  w.byte(TX_VERSION);
  w.string(chainID);
  w.string(signer);
  w.uvarint(nonce);
  w.uvarint(type);
  w.bytes(body);
  return w.done();
}

// expectedBody returns the canonical body of a message the page can encode
// from its own description, or null for those it cannot (a consent or a
// delegation, whose encodings the ledger validates and the page reads back).
export function expectedBody(desc) {
  const w = new Writer();
  switch (desc.op) {
    case "consent.revoke": w.string(desc.patient); w.string(desc.consent_id); break;
    case "delegate.remove": w.string(desc.patient); w.string(desc.delegate); break;
    case "breakglass.optout": w.string(desc.patient); w.bool(!!desc.opt_out); break;
    case "audit.query": w.string(desc.patient); break;
    default: return null;
  }
  return w.done();
}

// bodyPrefix is what the page knows the start of a consent or delegation
// message must be: the patient it is about.
function bodyPrefix(desc) {
  const w = new Writer();
  switch (desc.op) {
    case "consent.grant":
    case "consent.update":
      w.string(desc.patient);
      return w.done();
    case "delegate.set": {
      // SetDelegate is the delegation's length, then version 1, patient, delegate.
      const d = new Writer();
      d.byte(1); d.string(desc.delegation.patient); d.string(desc.delegation.delegate);
      return d.done();
    }
  }
  return null;
}

function startsWith(bytes, prefix, at = 0) {
  if (bytes.length < at + prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

// checkPrepared refuses a prepared transaction that is not what the page
// asked for: another chain, signer or message type, bytes to sign that are
// not the domain prefix followed by the envelope of the fields shown, or a
// body that differs from the one the page encodes itself. It returns the
// unsigned envelope and the bytes to sign.
export function checkPrepared(p, desc, session) {
  const body = b64decode(p.body);
  const unsigned = b64decode(p.unsigned);
  const signBytes = b64decode(p.sign_bytes);
  const fail = (why) => { throw new Error("The node prepared a transaction the page will not sign: " + why + "."); };
  if (p.chain_id !== session.chainID) fail("it is for chain " + p.chain_id + ", not " + session.chainID);
  if (p.signer !== session.id) fail("it names another signer");
  if (p.type !== TYPES[desc.op]) fail("it is not a " + desc.op);
  if (!Number.isSafeInteger(p.nonce) || p.nonce < 1) fail("its nonce is not a positive integer");
  if (!equalBytes(unsigned, envelope(p.chain_id, p.signer, p.nonce, p.type, body))) fail("its envelope does not encode its fields");
  if (!equalBytes(signBytes, concat(SIGN_DOMAIN, unsigned))) fail("the bytes to sign are not its envelope");
  const want = expectedBody(desc);
  if (want && !equalBytes(body, want)) fail("its message differs from what was asked");
  const prefix = bodyPrefix(desc);
  if (prefix) {
    // A delegation is length-prefixed inside SetDelegate: skip the length.
    let at = 0;
    if (desc.op === "delegate.set") { while (at < body.length && body[at] & 0x80) at++; at++; }
    if (!startsWith(body, prefix, at)) fail("its message is about someone else");
  }
  return { unsigned, signBytes };
}
