// The patient's signing key in this browser: imported once from the key
// file, kept in IndexedDB encrypted under a passphrase (PBKDF2-SHA-256 to
// an AES-256-GCM key), and unlocked into a non-extractable WebCrypto
// Ed25519 key that signs in the page. The key file's HPKE key is not kept:
// nothing in the portal decrypts records yet.

import { b64decode, b64encode, concat, equalBytes } from "./codec.js";

const DB = "carechain-portal";
const STORE = "keys";
// OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
export const PBKDF2_ITERATIONS = 600000;
export const MIN_PASSPHRASE = 10;

// PKCS #8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410): WebCrypto
// imports private keys only in PKCS #8 or JWK.
const PKCS8_ED25519 = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

export class KeyError extends Error {}

// Browsers offer WebCrypto only to secure contexts: HTTPS, or a loopback address.
export const NO_SUBTLE = "This page cannot use the browser's cryptography: open the portal over HTTPS (or on this computer at 127.0.0.1).";

function openDB() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id" });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new KeyError("This browser will not store the key (IndexedDB: " + req.error + ")."));
  });
}

async function withStore(mode, fn) {
  const db = await openDB();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const req = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(req.result);
      t.onerror = () => reject(new KeyError("Key storage failed: " + t.error));
    });
  } finally {
    db.close();
  }
}

export function listKeys() { return withStore("readonly", (s) => s.getAll()); }
export function forgetKey(id) { return withStore("readwrite", (s) => s.delete(id)); }

// parseKeyFile reads a carechain key file (internal/keyfile) and returns
// the actor id, the 32-byte Ed25519 seed and the public key.
export function parseKeyFile(text) {
  let f;
  try { f = JSON.parse(text); } catch { throw new KeyError("That file is not a carechain key file (it is not JSON)."); }
  if (!f || f.version !== 1 || typeof f.id !== "string" || typeof f.sign_private_key !== "string") {
    throw new KeyError("That file is not a carechain key file (no version 1 id and signing key).");
  }
  let seed, pub;
  try {
    seed = b64decode(f.sign_private_key);
    pub = f.sign_public_key ? b64decode(f.sign_public_key) : null;
  } catch { throw new KeyError("The key file's signing key is not base64."); }
  if (seed.length !== 32) throw new KeyError("The key file's signing key has the wrong length.");
  if (pub && pub.length !== 32) throw new KeyError("The key file's public key has the wrong length.");
  return { id: f.id, seed, pub };
}

async function signingKey(seed, extractable) {
  const pkcs8 = concat(PKCS8_ED25519, seed);
  try {
    return await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, extractable, ["sign"]);
  } finally {
    pkcs8.fill(0);
  }
}

// publicKeyOf derives the Ed25519 public key of a seed.
async function publicKeyOf(seed) {
  const k = await signingKey(seed, true);
  const jwk = await crypto.subtle.exportKey("jwk", k);
  return b64decode(jwk.x.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (jwk.x.length % 4)) % 4));
}

async function wrappingKey(passphrase, salt, iterations) {
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, base,
    { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

// storeKey encrypts the seed under passphrase and saves it with what the
// page shows before unlocking (id, public key, patient acted for).
export async function storeKey(parsed, passphrase, patient) {
  if (passphrase.length < MIN_PASSPHRASE) throw new KeyError("Choose a passphrase of at least " + MIN_PASSPHRASE + " characters.");
  if (!crypto.subtle) throw new KeyError(NO_SUBTLE);
  const pub = await publicKeyOf(parsed.seed).catch(() => {
    throw new KeyError("This browser cannot sign with Ed25519 keys; use a current Chromium, Firefox or Safari.");
  });
  if (parsed.pub && !equalBytes(pub, parsed.pub)) throw new KeyError("The key file is damaged: its public key does not match its private key.");
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const wk = await wrappingKey(passphrase, salt, PBKDF2_ITERATIONS);
  const aad = new TextEncoder().encode("carechain/portal-key/v1\0" + parsed.id);
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, wk, parsed.seed));
  const rec = { id: parsed.id, patient: patient || parsed.id, pub: b64encode(pub), salt: b64encode(salt), iv: b64encode(iv),
    ct: b64encode(ct), iterations: PBKDF2_ITERATIONS, kdf: "PBKDF2-SHA256", cipher: "AES-256-GCM", saved: new Date().toISOString() };
  await withStore("readwrite", (s) => s.put(rec));
  return rec;
}

// unlock decrypts a stored key and returns a non-extractable signing key.
export async function unlock(rec, passphrase) {
  const wk = await wrappingKey(passphrase, b64decode(rec.salt), rec.iterations);
  const aad = new TextEncoder().encode("carechain/portal-key/v1\0" + rec.id);
  let seed;
  try {
    seed = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: b64decode(rec.iv), additionalData: aad }, wk, b64decode(rec.ct)));
  } catch {
    throw new KeyError("Wrong passphrase for this key.");
  }
  try {
    return await signingKey(seed, false);
  } finally {
    seed.fill(0);
  }
}

export async function sign(key, bytes) {
  return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, bytes));
}
