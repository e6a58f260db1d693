// The parts of carechain's canonical encoding (internal/codec, internal/tx,
// internal/consent) the page needs to check what the node prepared for it
// to sign: the transaction envelope and the body of every message the
// portal sends, consents and delegations included, and the queries it
// reads with. See docs/portal.md.

const enc = new TextEncoder();

export const SIGN_DOMAIN = enc.encode("carechain/tx/v1\0");
export const TX_VERSION = 1;

// Message type numbers (internal/tx/messages.go); part of the protocol.
export const TYPES = {
  "consent.grant": 10, "consent.update": 11, "consent.revoke": 12,
  "delegate.set": 13, "delegate.remove": 14, "breakglass.optout": 15,
  "consent.query": 16, "record.erase": 32, "record.query": 33, "audit.query": 50,
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
  // varint writes a zig-zag signed varint, as codec.Writer.Varint does.
  varint(v) {
    const n = BigInt(v);
    this.uvarint(n >= 0n ? n << 1n : ((-n) << 1n) - 1n);
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

// strings writes a set of strings as the consent encoding does: sorted
// by bytes, without duplicates (ids and codes are ASCII, so JavaScript's
// ordering is the byte order).
function stringSet(w, list) {
  const set = [...new Set(list || [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  w.uvarint(set.length);
  for (const s of set) w.string(s);
}

// parseTime reads an RFC 3339 UTC time as seconds and nanoseconds.
export function parseTime(s) {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$/.exec(s);
  if (!m) throw new Error("not an RFC 3339 UTC time: " + s);
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  // Date.UTC maps years 0-99 to 1900-1999; FHIR years start at 1.
  const d = new Date(ms);
  if (+m[1] < 100) d.setUTCFullYear(+m[1]);
  return { seconds: BigInt(Math.floor(d.getTime() / 1000)), nanos: Number((m[7] || "").padEnd(9, "0")) };
}

function time(w, s) {
  if (!s) { w.byte(0); return; }
  const t = parseTime(s);
  w.byte(1);
  w.varint(t.seconds);
  w.uvarint(t.nanos);
}

const ACTOR_KINDS = { id: 1, org: 2, role: 3 };
const STATUS_ACTIVE = 3;

// consentBytes encodes the active consent a ConsentForm describes, as
// client.ConsentForm.Consent and consent.Encode build it; agreed is the
// agreement time (seconds and nanoseconds), which the node chooses.
export function consentBytes(form, patient, agreed) {
  const w = new Writer();
  w.byte(1);
  w.string(form.id || "");
  w.byte(STATUS_ACTIVE);
  w.string(patient);
  w.string(""); // grantor: the ledger records the signer
  w.byte(1); w.varint(agreed.seconds); w.uvarint(agreed.nanos);
  w.byte(form.deny ? 2 : 1);
  time(w, form.from); time(w, form.until);
  const actors = [];
  for (const a of form.actors || []) {
    if (!ACTOR_KINDS[a.kind]) throw new Error("unknown actor kind " + a.kind);
    if (!actors.some((b) => b.kind === a.kind && b.id === a.id)) actors.push(a);
  }
  actors.sort((a, b) => ACTOR_KINDS[a.kind] - ACTOR_KINDS[b.kind] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  w.uvarint(actors.length);
  for (const a of actors) { w.byte(ACTOR_KINDS[a.kind]); w.string(a.id); }
  const actions = form.actions && form.actions.length ? form.actions : form.deny ? [] : ["access"];
  stringSet(w, actions);
  stringSet(w, form.types);
  stringSet(w, []); // codes
  stringSet(w, form.labels);
  stringSet(w, form.purposes);
  w.byte(0); w.byte(0); // data period
  stringSet(w, []); // records
  w.string(""); // condition
  w.uvarint(0); // exceptions
  return w.done();
}

// delegationBytes encodes a delegation as consent.EncodeDelegation does.
export function delegationBytes(d) {
  const w = new Writer();
  w.byte(1);
  w.string(d.patient);
  w.string(d.delegate);
  stringSet(w, d.operations);
  stringSet(w, d.purposes);
  stringSet(w, d.types);
  time(w, d.start); time(w, d.end);
  return w.done();
}

// agreedTime reads the agreement time the node put in a consent message:
// it sits after the patient and the consent's version, id, status, patient
// and grantor, all of which the page knows.
function agreedTime(body, desc) {
  const w = new Writer();
  w.string(desc.patient);
  const head = w.done();
  const c = new Writer();
  c.byte(1); c.string(desc.consent.id || ""); c.byte(STATUS_ACTIVE); c.string(desc.patient); c.string("");
  const chead = c.done();
  // body = str patient | uvarint len | consent; skip the length.
  let at = head.length;
  while (at < body.length && body[at] & 0x80) at++;
  at++;
  if (!startsWith(body, head) || !startsWith(body, chead, at) || body[at + chead.length] !== 1) return null;
  let o = at + chead.length + 1, shift = 0n, v = 0n;
  for (;;) { const b = body[o++]; if (b === undefined) return null; v |= BigInt(b & 0x7f) << shift; shift += 7n; if (!(b & 0x80)) break; }
  const seconds = v & 1n ? -((v + 1n) >> 1n) : v >> 1n;
  let nanos = 0, mul = 1;
  for (;;) { const b = body[o++]; if (b === undefined) return null; nanos += (b & 0x7f) * mul; mul *= 128; if (!(b & 0x80)) break; }
  return { seconds, nanos };
}

// AGREED_SKEW bounds how far the node's clock, which dates a consent's
// agreement, may be from this browser's.
const AGREED_SKEW = 10 * 60;

// expectedBody returns the canonical body of the message desc describes,
// or throws if the node's choice of agreement time is implausible.
export function expectedBody(desc, body) {
  const w = new Writer();
  switch (desc.op) {
    case "consent.grant":
    case "consent.update": {
      const agreed = agreedTime(body, desc);
      if (!agreed) return null;
      const now = BigInt(Math.floor(Date.now() / 1000));
      const skew = agreed.seconds > now ? agreed.seconds - now : now - agreed.seconds;
      if (skew > BigInt(AGREED_SKEW)) throw new Error("The node dates the consent " + skew + " s away from this computer's clock.");
      w.string(desc.patient);
      w.bytes(consentBytes(desc.consent, desc.patient, agreed));
      break;
    }
    case "delegate.set": w.bytes(delegationBytes(desc.delegation)); break;
    case "consent.revoke": w.string(desc.patient); w.string(desc.consent_id); break;
    case "delegate.remove": w.string(desc.patient); w.string(desc.delegate); break;
    case "breakglass.optout": w.string(desc.patient); w.bool(!!desc.opt_out); break;
    case "audit.query": w.string(desc.patient); break;
    // Fields a query or an erasure leaves out are empty strings in the
    // body, as internal/tx encodes them, so the page signs exactly what it
    // meant: a node cannot turn the list into one consent's read, nor the
    // erasure of one record into that of another.
    case "consent.query": w.string(desc.patient); w.string(desc.consent_id || ""); w.string(desc.requester || ""); break;
    case "record.query": w.string(desc.patient || ""); w.string(desc.record_id || ""); break;
    case "record.erase": w.string(desc.record_id || ""); w.string(desc.reason || ""); break;
    default: return null;
  }
  return w.done();
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
  const fail = (why) => { throw new Error("The node prepared a transaction the page will not sign: " + why.replace(/\.$/, "") + "."); };
  if (p.chain_id !== session.chainID) fail("it is for chain " + p.chain_id + ", not " + session.chainID);
  if (p.signer !== session.id) fail("it names another signer");
  if (p.type !== TYPES[desc.op]) fail("it is not a " + desc.op);
  if (!Number.isSafeInteger(p.nonce) || p.nonce < 1) fail("its nonce is not a positive integer");
  if (!equalBytes(unsigned, envelope(p.chain_id, p.signer, p.nonce, p.type, body))) fail("its envelope does not encode its fields");
  if (!equalBytes(signBytes, concat(SIGN_DOMAIN, unsigned))) fail("the bytes to sign are not its envelope");
  let want;
  try { want = expectedBody(desc, body); } catch (e) { fail(e.message); }
  if (!want || !equalBytes(body, want)) fail("its message differs from what was asked");
  return { unsigned, signBytes };
}
