// Checks, in the page, the first links of an audit proof bundle
// (docs/proof-bundle.md): that the event's bytes are leaf seq of the RFC
// 6962 log whose size and root the bundle names, and that the audit head
// the state proof covers holds that same size and root. The ICS23 state
// proof and the validators' signatures are left to `carechain verify`,
// which checks the whole bundle against the genesis.

import { concat, equalBytes, hexdecode } from "./codec.js";

async function sha256(bytes) { return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)); }

// readUvarint reads a minimal unsigned varint at offset o.
function readUvarint(b, o) {
  let v = 0n, shift = 0n, i = o;
  for (;;) {
    if (i >= b.length || shift > 63n) throw new Error("bad varint");
    const x = b[i++];
    v |= BigInt(x & 0x7f) << shift;
    if (!(x & 0x80)) break;
    shift += 7n;
  }
  return [v, i];
}

function bigEndian64(b, o) {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(b[o + i]);
  return v;
}

// verifyInclusion is RFC 9162 section 2.1.3.2.
async function verifyInclusion(index, size, leafHash, path, root) {
  if (index >= size) return false;
  let fn = index, sn = size - 1n, r = leafHash;
  for (const p of path) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await sha256(concat(Uint8Array.of(1), p, r));
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
      }
    } else {
      r = await sha256(concat(Uint8Array.of(1), r, p));
    }
    fn >>= 1n; sn >>= 1n;
  }
  return sn === 0n && equalBytes(r, root);
}

// checkBundle returns a sentence saying what was checked, or throws.
export async function checkBundle(bundle, chainID, seq) {
  if (bundle.version !== 1) throw new Error("unknown bundle version " + bundle.version);
  if (bundle.chain_id !== chainID) throw new Error("the bundle is for chain " + bundle.chain_id);
  if (BigInt(bundle.seq) !== BigInt(seq)) throw new Error("the bundle is for event " + bundle.seq);
  const ev = hexdecode(bundle.audit.event);
  if (ev[0] !== 1) throw new Error("unknown event encoding");
  const [evSeq] = readUvarint(ev, 1);
  if (evSeq !== BigInt(seq)) throw new Error("the proven event is event " + evSeq);
  const size = BigInt(bundle.audit.size);
  const root = hexdecode(bundle.audit.root);
  const head = hexdecode(bundle.state.head);
  if (head.length !== 56) throw new Error("the audit head is not 56 bytes");
  if (bigEndian64(head, 0) !== size || !equalBytes(head.subarray(24), root)) throw new Error("the audit head names another log");
  const leaf = await sha256(concat(Uint8Array.of(0), ev));
  const path = bundle.audit.proof.map(hexdecode);
  if (!(await verifyInclusion(evSeq, size, leaf, path, root))) throw new Error("the inclusion proof does not lead to the log's root");
  return "Included in the audit log of " + size + " events (checked in this page). For full proof against the validators' signatures, run carechain verify.";
}
