// The patient portal. Everything the page changes on the ledger is a
// transaction the node prepares (POST /v1/txs/prepare), the page checks
// (codec.js) and signs with the key unlocked in this tab (keystore.js),
// then submits (POST /v1/txs). Reads are signed transactions too: the
// access history an audit.query, the consents a consent.query, the records
// list a record.query, so the ledger decides and records every one of them.

import { b64encode, b64url, checkPrepared, concat, hexencode } from "./codec.js";
import { KeyError, MIN_PASSPHRASE, NO_SUBTLE, forgetKey, listKeys, parseKeyFile, sign, storeKey, unlock } from "./keystore.js";
import { checkBundle } from "./proof.js";

const $ = (id) => document.getElementById(id);

const PURPOSES = [
  ["TREAT", "Treatment"], ["ETREAT", "Emergency treatment"], ["HPAYMT", "Payment"], ["HOPERAT", "Healthcare operations"],
  ["HRESCH", "Research"], ["PATRQT", "At your request"], ["BTG", "Break-the-glass"],
];
const PURPOSE_NAMES = Object.fromEntries(PURPOSES);
// The sensitive security labels a consent may release (internal/consent/vocab.go).
const SENSITIVE = [
  ["PSY", "Psychiatry"], ["PSYTHPN", "Psychotherapy notes"], ["BH", "Behavioral health"], ["HIV", "HIV/AIDS"],
  ["STD", "Sexually transmitted disease"], ["SUD", "Substance use disorder"], ["ETH", "Substance abuse"],
  ["42CFRPart2", "Substance use treatment (42 CFR Part 2)"], ["SEX", "Sexual and reproductive health"],
  ["PREGNANT", "Pregnancy"], ["GDIS", "Genetic disease"], ["SICKLE", "Sickle cell"], ["SCA", "Sickle cell anemia"],
  ["SDV", "Sexual assault, abuse or domestic violence"], ["MST", "Military sexual trauma"], ["COGN", "Cognitive disability"],
  ["DVD", "Developmental disability"], ["EMOTDIS", "Emotional disturbance"], ["SPI", "Sensitive personal information"],
  ["TBOO", "Taboo"], ["R", "Restricted"], ["V", "Very restricted"],
];
const SENSITIVE_NAMES = Object.fromEntries(SENSITIVE);
const OPERATIONS = [
  ["grant", "Grant consents"], ["revoke", "Revoke consents"], ["manage-delegates", "Add or remove delegates"],
  ["opt-out", "Change the break-the-glass opt-out"], ["read-history", "Read this access history"],
];
const ACTIONS = {
  "record.read": "Read your records", "record.search": "Searched your records", "record.create": "Added a record",
  "record.update": "Updated a record", "record.erase": "Erased a record", "consent.grant": "Granted a consent",
  "consent.update": "Changed a consent", "consent.revoke": "Revoked a consent", "delegate.set": "Named a delegate",
  "delegate.remove": "Removed a delegate", "breakglass": "Emergency access (break-the-glass)",
  "breakglass.optout": "Changed the break-the-glass opt-out", "audit.query": "Read your access history",
  "consent.list": "Read your consents", "consent.read": "Read one of your consents",
  "consent.decide": "Checked what your consents allow",
};
// record.search is a read of the records list, or of one record's
// metadata when it names a record; never of contents.
const RECORD_LOOKUP = ["Looked at your records list", "Looked at a record's details"];

// Why the ledger decided as it did, in words (the rule names of
// internal/consent and internal/app).
const RULES = {
  "patient": "you did it yourself", "patient-self": "your own access", "delegate": "a delegate you named",
  "auditor": "an auditor of the consortium", "not-authorized-for-history": "not allowed to read your history",
  "consent-permit": "a consent of yours permits it", "consent-deny": "a consent of yours denies it",
  "no-consent": "no consent of yours permits it", "author-org": "their organization wrote the record",
  "break-the-glass": "emergency access", "break-the-glass-opted-out": "you opted out of break-the-glass",
  "break-the-glass-not-eligible": "not entitled to emergency access",
  "sensitive-label-not-named": "the record is in a sensitive category you did not share",
  "expired": "your consent had expired", "not-yet-valid": "your consent was not yet valid", "invalid-request": "a malformed request",
  "author": "they wrote the record", "named-in-consent": "the consent names them",
  "requester": "they asked about their own access", "requester-organization": "their organization asked about its staff's access",
  "not-authorized-for-consents": "not allowed to read your consents",
  "not-authorized-for-records": "not allowed to read your records list",
};
// Third-person phrases for notifications: "Dr Who read your records".
const DID = {
  "record.read": "read your records", "record.search": "searched your records", "record.create": "added a record",
  "record.update": "updated a record", "record.erase": "erased a record", "consent.grant": "granted a consent for you",
  "consent.update": "changed one of your consents", "consent.revoke": "revoked one of your consents",
  "delegate.set": "changed your delegates", "delegate.remove": "removed a delegate", "breakglass": "read your records in an emergency (break-the-glass)",
  "breakglass.optout": "changed your break-the-glass opt-out", "audit.query": "read your access history",
  "consent.list": "read your consents", "consent.read": "read one of your consents",
  "consent.decide": "checked what your consents allow", "record.search": "looked at your records list (not their contents)",
};

const TRIED = {
  "record.read": "read your records", "record.search": "look at your records list", "record.update": "update a record",
  "record.erase": "erase a record", "breakglass": "read your records in an emergency", "audit.query": "read your access history",
  "consent.list": "read your consents", "consent.read": "read one of your consents",
  "consent.decide": "check what your consents allow",
};

// Events that change what the consents and delegates views show, and
// those that change the records view. Reads change nothing: reloading on
// them would read again, and record another read, and so on.
const CONSENT_CHANGES = /^(consent\.(grant|update|revoke)|delegate\.(set|remove)|breakglass\.optout)$/;
const RECORD_CHANGES = /^record\.(create|update|erase)$/;
// The reads the page itself makes as it shows things, and how the folded
// line of the patient's own reads names them.
const OWN_READS = { "audit.query": "this history", "consent.list": "the consents", "consent.read": "the consents",
  "consent.decide": "the consents", "record.search": "the records list" };

let session = null; // {id, patient, chainID, key, kind}
let chainID = "";

// ---- talking to the node ----

class ApiError extends Error {
  constructor(status, name, message) { super(message); this.status = status; this.name = name || "error"; }
}

function explain(err) {
  if (err instanceof KeyError) return err.message;
  if (err instanceof ApiError) {
    const hint = {
      access_denied: "The ledger refused this. ",
      unauthorized: "You may not do this for this patient. ",
      nonce_replayed: "Another change from this key was made at the same time; try again. ",
      unknown_signer: "This key is not registered on the ledger. ",
    }[err.name] || "";
    return hint + err.message + (err.name && err.name !== "error" ? " (" + err.name + ")" : "");
  }
  return err && err.message ? err.message : String(err);
}

// The API is the portal's sibling: /ui/ is served beside /v1/, so a node
// behind a reverse proxy under a path prefix works as well as one at the
// root.
const API_BASE = new URL("../", document.baseURI);
function apiURL(path) { return new URL(path.replace(/^\//, ""), API_BASE).href; }

async function api(method, path, body) {
  const opt = { method, headers: {} };
  if (body !== undefined) { opt.body = JSON.stringify(body); opt.headers["Content-Type"] = "application/json"; }
  let resp;
  try { resp = await fetch(apiURL(path), opt); } catch { throw new ApiError(0, "unreachable", "The node cannot be reached. Check your connection and reload."); }
  const text = await resp.text();
  let data = null;
  try { data = JSON.parse(text); } catch { /* not JSON */ }
  if (!resp.ok) {
    if (data && data.code && data.code_name) throw new ApiError(resp.status, data.code_name, data.log || "rejected");
    if (data && data.error) throw new ApiError(resp.status, data.error.name, data.error.message);
    throw new ApiError(resp.status, "http_" + resp.status, text.trim() || resp.statusText);
  }
  return data;
}

// Signed operations run one at a time: each takes the signer's next nonce,
// which the node knows only once the previous one has committed. A Web
// Lock named after the signer extends that to the other tabs of this
// portal that hold the same key.
let queue = Promise.resolve();
function serial(fn) {
  const id = session && session.id;
  const locked = () => (navigator.locks && id ? navigator.locks.request("carechain-sign:" + id, () => fn()) : fn());
  const run = queue.then(locked, locked);
  queue = run.catch(() => {});
  return run;
}

// signed prepares, checks and signs desc; call it inside serial.
async function signed(desc) {
  desc = { ...desc, signer: session.id };
  const p = await api("POST", "/v1/txs/prepare", desc);
  const { unsigned, signBytes } = checkPrepared(p, desc, session);
  const sig = await sign(session.key, signBytes);
  return { raw: concat(unsigned, sig), prepared: p };
}

// The hashes of the changes this tab submitted. Their events come back on
// the live stream; the code that made a change reloads what it changed
// itself, so the stream need not reload it again: every reload is a
// signed read, recorded in the patient's history.
const mine = new Set();

async function txHash(raw) { return hexencode(new Uint8Array(await crypto.subtle.digest("SHA-256", raw))); }

function submit(desc) {
  return serial(async () => {
    const { raw, prepared } = await signed(desc);
    mine.add(await txHash(raw)); // before it is sent: its event may come back before the answer
    const res = await api("POST", "/v1/txs", { tx: b64encode(raw) });
    return { res, prepared };
  });
}

// query signs a read (consent.query, record.query) and posts it to path
// with any other fields of the request; the node answers once the ledger
// has permitted and recorded it.
function query(desc, path, extra = {}) {
  return serial(async () => {
    const { raw } = await signed(desc);
    return api("POST", path, { ...extra, tx: b64encode(raw) });
  });
}

// coalesced wraps a loader so that calls while it runs do not start a
// second read beside it, but one more after it: every caller's promise
// settles after a read that began after the call.
function coalesced(load) {
  let running = null, again = false;
  return function () {
    if (running) { again = true; return running; }
    running = (async () => {
      try { do { again = false; await load(); } while (again); } finally { running = null; }
    })();
    return running;
  };
}

// nameNode shows an actor id, replaced by the ledger's display name for
// it once known (organizations, practitioners, delegates have one;
// patients have none, by design).
function nameNode(id) {
  const span = el("span", {}, el("code", {}, id));
  actorName(id).then((a) => { if (a && a.name) span.replaceChildren(a.name + " ", el("code", { class: "small" }, "(" + id + ")")); });
  return span;
}

async function displayName(id) {
  const a = await actorName(id);
  return a && a.name ? a.name : id;
}

const names = new Map();
function actorName(id) {
  if (!names.has(id)) {
    names.set(id, api("GET", "/v1/actors/" + encodeURIComponent(id) + "?prove=false")
      .then((r) => r.actor).catch(() => null));
  }
  return names.get(id);
}

// ---- small DOM helpers ----

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

function showError(id, err) {
  const p = $(id);
  if (!err) { p.hidden = true; p.textContent = ""; return; }
  p.textContent = explain(err);
  p.hidden = false;
}

async function busy(button, fn) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try { return await fn(); } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

function notice(text, opts = {}) {
  const box = el("div", { class: "notice" + (opts.deny ? " deny" : "") }, el("span", {}, text),
    el("button", { type: "button", class: "close", "aria-label": "Dismiss this notice", onclick: () => box.remove() }, "×"));
  $("notices").prepend(box);
  while ($("notices").children.length > 3) $("notices").lastChild.remove();
  if (opts.timeout) setTimeout(() => box.remove(), opts.timeout);
}

function splitList(s) { return s.split(",").map((x) => x.trim()).filter(Boolean); }
function dayStart(d) { return d ? d + "T00:00:00Z" : undefined; }
function dayEnd(d) { return d ? d + "T23:59:59.999999999Z" : undefined; }
function dateOnly(t) { return t ? t.slice(0, 10) : ""; }
function when(t) {
  const d = new Date(t);
  return isNaN(d) ? t : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function checkboxes(container, items, name) {
  container.replaceChildren(...items.map(([code, label]) => el("div", { class: "field check" },
    el("input", { type: "checkbox", id: name + "-" + code, name, value: code }),
    el("label", { for: name + "-" + code }, label + " ", el("span", { class: "muted small" }, "(" + code + ")")))));
}
function checked(container) { return [...container.querySelectorAll("input:checked")].map((i) => i.value); }
function setChecked(container, values) {
  for (const i of container.querySelectorAll("input")) i.checked = (values || []).includes(i.value);
}

// ---- sign-in ----

async function showSignIn() {
  $("app").hidden = true;
  $("session").hidden = true;
  $("signin").hidden = false;
  delete $("signin").dataset.ready;
  let keys = [];
  try { keys = await listKeys(); } catch (e) { showError("import-error", e); }
  $("unlock-form").hidden = keys.length === 0;
  $("unlock-id").replaceChildren(...keys.map((k) => el("option", { value: k.id },
    k.id + (k.patient !== k.id ? " (for patient " + k.patient + ")" : ""))));
  // Never pull the focus away from a field the patient is already in.
  if (!$("signin").contains(document.activeElement)) (keys.length ? $("unlock-pass") : $("import-file")).focus();
  $("signin").dataset.ready = "true";
}

// startSession checks the unlocked key against the ledger and opens the portal.
async function startSession(rec, key) {
  const me = await api("GET", "/v1/actors/" + encodeURIComponent(rec.id) + "?prove=false").catch((e) => {
    if (e.status === 404) throw new KeyError("Identity " + rec.id + " is not registered on this chain.");
    throw e;
  });
  if (me.actor.sign_key !== rec.pub) throw new KeyError("This key is no longer the signing key of " + rec.id + " (it was rotated or replaced).");
  if (me.actor.revoked) throw new KeyError("Identity " + rec.id + " was revoked on the ledger.");
  if (rec.patient === rec.id && me.actor.kind !== "patient") {
    throw new KeyError("This is the key of a " + me.actor.kind + ". The portal is for patients; a delegate enters the id of the patient they act for.");
  }
  if (rec.patient !== rec.id) {
    const p = await api("GET", "/v1/actors/" + encodeURIComponent(rec.patient) + "?prove=false").catch(() => null);
    if (!p || p.actor.kind !== "patient") throw new KeyError(rec.patient + " is not a registered patient.");
  }
  session = { id: rec.id, patient: rec.patient, chainID, key, kind: me.actor.kind };
  // A delegate sees the patient's portal; the words say whose it is.
  const own = rec.patient === rec.id;
  $("history-title").textContent = own ? "Who accessed your records" : "Who accessed the patient's records";
  $("consents-title").textContent = own ? "Your consents" : "The patient's consents";
  $("delegates-title").textContent = own ? "Delegates" : "The patient's delegates";
  $("records-title").textContent = own ? "Your records" : "The patient's records";
  $("session-id").textContent = rec.id;
  $("session-for").textContent = rec.patient !== rec.id ? " acting for patient " + rec.patient : "";
  $("session").hidden = false;
  $("signin").hidden = true;
  $("app").hidden = false;
  if (!location.hash || location.hash === "#") history.replaceState(null, "", "#history");
  route();
  openStream();
}

async function onImport(ev) {
  ev.preventDefault();
  showError("import-error", null);
  const file = $("import-file").files[0];
  const pass = $("import-pass").value, pass2 = $("import-pass2").value;
  try {
    if (!crypto.subtle) throw new KeyError(NO_SUBTLE);
    if (!file) { $("import-file").focus(); throw new KeyError("Choose your key file."); }
    if (pass.length < MIN_PASSPHRASE) { $("import-pass").focus(); throw new KeyError("Choose a passphrase of at least " + MIN_PASSPHRASE + " characters."); }
    if (pass !== pass2) { $("import-pass2").focus(); throw new KeyError("The two passphrases differ."); }
    await busy($("import-submit"), async () => {
      $("import-submit").textContent = "Encrypting the key…";
      const parsed = parseKeyFile(await file.text());
      try {
        const rec = await storeKey(parsed, pass, $("import-patient").value.trim());
        $("import-form").reset();
        const key = await unlock(rec, pass);
        await startSession(rec, key);
      } finally {
        parsed.seed.fill(0);
      }
    });
  } catch (e) {
    showError("import-error", e);
  }
}

async function onUnlock(ev) {
  ev.preventDefault();
  showError("unlock-error", null);
  try {
    const keys = await listKeys();
    const rec = keys.find((k) => k.id === $("unlock-id").value);
    if (!rec) throw new KeyError("Choose a saved key.");
    await busy($("unlock-submit"), async () => {
      $("unlock-submit").textContent = "Unlocking…";
      const key = await unlock(rec, $("unlock-pass").value);
      $("unlock-pass").value = "";
      await startSession(rec, key);
    });
  } catch (e) {
    showError("unlock-error", e);
    $("unlock-pass").value = "";
    $("unlock-pass").focus();
  }
}

async function onForget() {
  const id = $("unlock-id").value;
  if (!id) return;
  const btn = $("forget");
  if (btn.dataset.confirm !== id) {
    btn.dataset.confirm = id;
    btn.textContent = "Really forget " + id.slice(0, 10) + "…? Press again";
    return;
  }
  delete btn.dataset.confirm;
  btn.textContent = "Forget this key";
  await forgetKey(id);
  notice("The key was removed from this browser. Keep your key file: it is the only copy.");
  showSignIn();
}

function lock() {
  session = null;
  closeStream();
  for (const v of Object.keys(loaded)) delete loaded[v];
  consentData = null;
  recordData = null;
  mine.clear();
  cursor = "";
  historyFilter = {};
  for (const id of ["timeline", "consent-list", "delegate-list", "records", "alerts", "notices"]) $(id).replaceChildren();
  for (const id of ["history-error", "consents-error", "delegates-error", "records-error", "consent-form-error", "delegate-form-error", "btg-error"]) showError(id, null);
  $("filter-form").reset();
  resetConsentForm();
  $("delegate-form").reset();
  $("filter-box").open = false;
  $("filter-count").textContent = "";
  document.title = document.title.replace(/^\(!\) /, "");
  history.replaceState(null, "", location.pathname);
  showSignIn();
}

// ---- routing ----

const VIEWS = ["history", "consents", "delegates", "records"];
const loaded = {};

function route() {
  if (!session) return;
  let view = location.hash.slice(1);
  if (!VIEWS.includes(view)) view = "history";
  for (const v of VIEWS) {
    $("view-" + v).hidden = v !== view;
    if (v === view) $("tab-" + v).setAttribute("aria-current", "page");
    else $("tab-" + v).removeAttribute("aria-current");
  }
  if (route.shown !== view) window.scrollTo(0, 0);
  route.shown = view;
  const heading = $("view-" + view).querySelector("h2");
  heading.tabIndex = -1;
  if (document.activeElement && document.activeElement.closest("nav")) heading.focus();
  if (!loaded[view]) { loaded[view] = true; ({ history: loadHistory, consents: loadConsents, delegates: loadConsents, records: loadRecords })[view](true); }
}

// ---- access history ----

let cursor = "";
let historyFilter = {};

function readFilter() {
  const f = { limit: 50 };
  const v = (id) => $(id).value.trim();
  if (v("f-decision")) f.decision = v("f-decision");
  if (v("f-purpose")) f.purpose = v("f-purpose");
  if (v("f-actor")) f.actor = v("f-actor");
  if (v("f-org")) f.org = v("f-org");
  if (v("f-from")) f.from = dayStart(v("f-from"));
  if (v("f-to")) {
    const d = new Date(v("f-to") + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + 1); // the end of the chosen day: the server's bound is exclusive
    f.to = d.toISOString();
  }
  return f;
}

function localFilter(e) {
  const kind = $("f-kind").value;
  if ($("f-btg").checked && !(e.breakGlass || e.action === "breakglass")) return false;
  if (kind === "record" && !e.action.startsWith("record.") && e.action !== "breakglass") return false;
  if (kind === "consent" && !CONSENT_CHANGES.test(e.action)) return false;
  if (kind === "audit" && !/^(audit\.query|consent\.(list|read|decide))$/.test(e.action)) return false;
  return true;
}

async function loadHistory(reset) {
  if (!session) return;
  showError("history-error", null);
  if (reset) {
    cursor = "";
    historyFilter = readFilter();
    $("timeline").replaceChildren();
    const on = Object.keys(historyFilter).filter((k) => k !== "limit").length + ($("f-kind").value ? 1 : 0) + ($("f-btg").checked ? 1 : 0);
    $("filter-count").textContent = on ? "(" + on + (on === 1 ? " filter on)" : " filters on)") : "";
  }
  const btn = reset ? $("filter-apply") : $("more");
  $("view-history").setAttribute("aria-busy", "true");
  try {
    await busy(btn, () => serial(async () => {
      btn.textContent = "Loading…";
      const { raw } = await signed({ op: "audit.query", patient: session.patient });
      const page = await api("POST", "/v1/audit/history", { tx: b64encode(raw), filter: { ...historyFilter, cursor } });
      for (const e of page.events) if (localFilter(e)) addEvent(e, "append", false);
      cursor = page.next_cursor || "";
    }));
  } catch (e) {
    showError("history-error", e);
  } finally {
    $("view-history").removeAttribute("aria-busy");
  }
  $("more").hidden = !cursor;
  $("timeline-empty").hidden = $("timeline").children.length > 0 || !$("history-error").hidden;
}

function isSelfRead(e) { return e.actor === session.id && e.decision === "permit" && Object.hasOwn(OWN_READS, e.action); }

// selfReadTitle names a run of your own reads: "You read this history and
// the consents (3 times)".
function selfReadTitle(what, n) {
  const names = [...new Set(what)];
  const list = names.length > 1 ? names.slice(0, -1).join(", ") + " and " + names[names.length - 1] : names[0];
  return "You read " + list + (n > 1 ? " (" + n + " times)" : "");
}

// addEvent puts an event in the timeline. Your own reads, one per page of
// history, stream, proof, consents list or records list, are folded into
// one line per run so they do not bury what others did.
function addEvent(e, where, fresh) {
  const tl = $("timeline");
  const next = where === "append" ? tl.lastElementChild : tl.firstElementChild;
  if (isSelfRead(e) && next && next.classList.contains("self")) {
    const n = Number(next.dataset.count || 1) + 1;
    const what = [...next.dataset.what.split("|"), OWN_READS[e.action]];
    next.dataset.count = String(n);
    next.dataset.what = what.join("|");
    next.querySelector(".event-title").textContent = selfReadTitle(what, n);
    if (where === "prepend") {
      const t = next.querySelector("time");
      t.dateTime = e.time;
      t.textContent = when(e.time);
    }
    return;
  }
  tl[where](eventItem(e, fresh));
}

function isBreakGlass(e) { return e.breakGlass || e.action === "breakglass"; }

function eventItem(e, fresh) {
  const btg = isBreakGlass(e);
  const mine = e.actor === session.id;
  const selfRead = isSelfRead(e);
  const title = e.action === "record.search" ? RECORD_LOOKUP[e.recordIds && e.recordIds.length ? 1 : 0] : ACTIONS[e.action] || e.action;
  const who = mine ? el("span", {}, "You") : nameNode(e.actor);
  const org = e.actorOrg ? nameNode(e.actorOrg) : null;
  const decision = e.decision === "permit" ? "Allowed" : "Denied";
  const rule = e.reason.rule ? (RULES[e.reason.rule] || e.reason.rule) + " (" + e.reason.rule + ")" : "";
  const reason = [rule, e.reason.consent && "consent " + e.reason.consent, e.reason.provision].filter(Boolean).join(", ");
  const target = !e.target ? null : e.action.startsWith("delegate.") ? nameNode(e.target) : el("code", {}, e.target);
  const status = el("p", { class: "proof-status", "aria-live": "polite" });
  const proofBtn = el("button", { type: "button", class: "secondary small", "aria-label": "Download the proof of event " + e.seq,
    onclick: () => downloadProof(e.seq, proofBtn, status) }, "Download proof");
  const cls = ["event", e.decision, btg && "breakglass", fresh && "fresh", selfRead && "self"].filter(Boolean).join(" ");
  const newBadge = fresh ? el("span", { class: "badge new" }, "New") : null;
  if (selfRead) {
    return el("li", { class: cls, id: "event-" + e.seq, "data-seq": e.seq, "data-action": e.action, "data-decision": e.decision,
      "data-what": OWN_READS[e.action] },
      el("div", { class: "event-head" }, el("p", { class: "event-title muted" }, selfReadTitle([OWN_READS[e.action]], 1)),
        el("time", { datetime: e.time }, when(e.time))));
  }
  return el("li", { class: cls, id: "event-" + e.seq, "data-seq": e.seq, "data-action": e.action, "data-decision": e.decision },
    el("div", { class: "event-head" },
      el("p", { class: "event-title" }, btg ? el("span", { class: "badge btg" }, "BREAK-THE-GLASS") : null, btg ? " " : null, title, " ",
        el("span", { class: "badge " + e.decision }, decision), newBadge ? " " : null, newBadge),
      el("time", { datetime: e.time }, when(e.time))),
    el("dl", {},
      el("dt", {}, "Who"), el("dd", {}, who),
      org ? [el("dt", {}, "Organization"), el("dd", {}, org)] : null,
      e.recordIds && e.recordIds.length ? [el("dt", {}, "Records"), el("dd", {}, e.recordIds.join(", "))] : null,
      target ? [el("dt", {}, "About"), el("dd", {}, target)] : null,
      e.purpose ? [el("dt", {}, "Purpose"), el("dd", {}, (PURPOSE_NAMES[e.purpose] || e.purpose) + " (" + e.purpose + ")")] : null,
      mine && e.decision === "permit" ? null : [el("dt", {}, "Why"), el("dd", {}, reason || "—")],
      el("dt", {}, "Event"), el("dd", {}, "#" + e.seq + " in block " + e.height)),
    el("div", { class: "actions" }, proofBtn), status);
}

// downloadProof fetches the event's proof bundle with a signed query (a
// proof is read like the history, and recorded), checks what the page can
// of it, and saves the bytes exactly as the node sent them.
async function downloadProof(seq, btn, status) {
  status.className = "proof-status";
  status.textContent = "";
  try {
    await busy(btn, () => serial(async () => {
      btn.textContent = "Fetching proof…";
      const { raw } = await signed({ op: "audit.query", patient: session.patient });
      const resp = await fetch(apiURL("/v1/audit/" + seq + "/proof?tx=" + b64url(raw)));
      const text = await resp.text();
      if (!resp.ok) {
        let msg = text;
        try { const j = JSON.parse(text); msg = j.error.message; } catch { /* keep text */ }
        throw new ApiError(resp.status, "proof", msg);
      }
      const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      const a = el("a", { href: url, download: "carechain-event-" + seq + ".json" });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      try {
        status.textContent = "Saved carechain-event-" + seq + ".json. " + await checkBundle(JSON.parse(text), session.chainID, seq);
        status.classList.add("ok");
      } catch (err) {
        status.textContent = "Saved, but the proof does not check out: " + err.message;
        status.classList.add("bad");
      }
    }));
  } catch (e) {
    status.textContent = "No proof: " + explain(e);
    status.classList.add("bad");
  }
}

// ---- live notifications ----

let stream = null; // the AbortController of the open stream
let retry = 0;
let retryTimer = 0;

function setLive(state, why) {
  const p = $("live-status");
  p.className = "live " + (state === "on" ? "on" : "off");
  p.textContent = { on: "Live updates: on", connecting: "Live updates: connecting…", off: "Live updates: off, retrying",
    refused: "Live updates: not allowed" }[state];
  p.title = why || "";
}

function closeStream() {
  clearTimeout(retryTimer);
  if (stream) { stream.abort(); stream = null; }
}

function scheduleReconnect() {
  clearTimeout(retryTimer);
  const delay = Math.min(60000, 2000 * 2 ** retry++);
  retryTimer = setTimeout(openStream, delay);
}

// openStream opens the access stream with a fresh signed query. It reads
// the server-sent events with fetch rather than EventSource: EventSource
// would reconnect by itself with a used transaction, and hides the status
// of a refusal, which must stop the retries (each one is a denied read on
// the patient's record).
async function openStream() {
  closeStream();
  if (!session) return;
  setLive("connecting");
  const me = session;
  const ctl = new AbortController();
  stream = ctl;
  let resp;
  try {
    resp = await serial(async () => {
      if (session !== me || ctl.signal.aborted) return null;
      const { raw } = await signed({ op: "audit.query", patient: me.patient });
      return fetch(apiURL("/v1/audit/stream?tx=" + b64url(raw)), { signal: ctl.signal, headers: { Accept: "text/event-stream" } });
    });
  } catch {
    if (ctl.signal.aborted) return;
    setLive("off");
    scheduleReconnect();
    return;
  }
  if (!resp) return;
  if (!resp.ok) {
    let msg = resp.statusText;
    try { msg = (await resp.json()).error.message; } catch { /* keep the status */ }
    if (resp.status === 403 || resp.status === 401) { setLive("refused", msg); return; }
    setLive("off", msg);
    scheduleReconnect();
    return;
  }
  retry = 0;
  setLive("on");
  const ended = await readEvents(resp.body, ctl.signal).catch(() => false);
  if (ctl.signal.aborted || session !== me) return;
  if (stream === ctl) stream = null;
  if (ended) { openStream(); return; } // the node ends a stream after an hour
  setLive("off");
  scheduleReconnect();
}

// readEvents parses server-sent events until the stream closes; it
// returns true when the node ended it with "event: end".
async function readEvents(body, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "", kind = "", data = "";
  while (!signal.aborted) {
    const { value, done } = await reader.read();
    if (done) return false;
    buf += value;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      if (line === "") {
        if (kind === "end") return true;
        if (data && (kind === "access" || kind === "breakglass")) {
          try { onLive(JSON.parse(data)); } catch { /* a malformed event is skipped */ }
        }
        kind = data = "";
      } else if (line.startsWith("event:")) kind = line.slice(6).trim();
      else if (line.startsWith("data:")) data += line.slice(5).replace(/^ /, "");
    }
  }
  return false;
}

// matchesShown applies to a live event the filters the node applied to
// the page shown.
function matchesShown(e) {
  const f = historyFilter;
  if (f.decision && e.decision !== f.decision) return false;
  if (f.purpose && e.purpose !== f.purpose) return false;
  if (f.actor && e.actor !== f.actor) return false;
  if (f.org && e.actorOrg !== f.org) return false;
  if (f.from && e.time < f.from) return false;
  if (f.to && e.time >= f.to) return false;
  return localFilter(e);
}

function onLive(e) {
  if (!session) return;
  if (loaded.history && matchesShown(e)) {
    addEvent(e, "prepend", true);
    $("timeline-empty").hidden = true;
  }
  // A change from elsewhere (another tab, a delegate, the CLI, the
  // organization that wrote a record) reloads what it changed; one from
  // this tab was reloaded by the code that made it.
  const elsewhere = !(e.txHash && mine.has(e.txHash));
  if (elsewhere && CONSENT_CHANGES.test(e.action)) {
    loaded.consents = loaded.delegates = false;
    reloadConsentsIfShown();
  }
  if (elsewhere && RECORD_CHANGES.test(e.action)) {
    loaded.records = false;
    reloadRecordsIfShown();
  }
  if (e.actor === session.id) return; // your own doing is no news
  announce(e);
}

async function announce(e) {
  const who = await displayName(e.actor);
  const org = e.actorOrg ? " of " + await displayName(e.actorOrg) : "";
  const did = isBreakGlass(e) ? DID.breakglass : DID[e.action] || e.action;
  const purpose = e.purpose ? ", for " + (PURPOSE_NAMES[e.purpose] || e.purpose) : "";
  if (isBreakGlass(e)) {
    const box = el("div", { class: "alert", "data-seq": e.seq },
      el("span", {}, el("strong", {}, "Emergency access to your records. "),
        who + org + " " + did + " at " + when(e.time) + purpose + ". Review it, and opt out of break-the-glass if you did not expect it."),
      el("span", { class: "actions" },
        el("button", { type: "button", class: "small", onclick: () => { location.hash = "#history"; const li = $("event-" + e.seq); if (li) { li.tabIndex = -1; li.focus(); } } }, "Review"),
        el("button", { type: "button", class: "small", onclick: () => { box.remove(); document.title = document.title.replace(/^\(!\) /, ""); } }, "Dismiss")));
    $("alerts").prepend(box);
    if (!document.title.startsWith("(!) ")) document.title = "(!) " + document.title;
    return;
  }
  if (e.decision === "deny") notice("Refused: " + who + org + " tried to " + (TRIED[e.action] || "act on your data (" + e.action + ")") + " at " + when(e.time) + ".", { deny: true });
  else notice(who + org + " " + did + " at " + when(e.time) + purpose + ".");
}

// ---- consents ----

let consentData = null;

function reloadConsentsIfShown() {
  // Never pull a confirmation away from under the patient's hand: the
  // list reloads when it is answered, or when the view is next opened.
  if (document.querySelector("#view-consents .confirming, #view-delegates .confirming")) return;
  const v = location.hash.slice(1);
  if (v === "consents" || v === "delegates") { loaded.consents = loaded.delegates = true; loadConsents(); }
}

// loadConsents reads the consents, delegations and opt-out with a signed
// consent.query (POST /v1/consents/list): who a patient shares with is
// itself a disclosure, so the ledger decides and records the read.
const loadConsents = coalesced(async () => {
  if (!session) return;
  const me = session;
  loaded.consents = loaded.delegates = true;
  const views = [$("view-consents"), $("view-delegates")];
  for (const v of views) v.setAttribute("aria-busy", "true");
  try {
    const data = await query({ op: "consent.query", patient: me.patient }, "/v1/consents/list");
    if (session !== me) return;
    if (data.patient !== me.patient) throw new Error("The node answered with the consents of another patient.");
    consentData = data;
    showError("consents-error", null);
    showError("delegates-error", null);
    renderConsents();
    renderDelegates();
  } catch (e) {
    if (session !== me) return;
    showError("consents-error", e);
    showError("delegates-error", e);
  } finally {
    for (const v of views) v.removeAttribute("aria-busy");
  }
});

function describeForm(f) {
  const who = f.actors.flatMap((a, i) => [i ? ", " : "", { id: "", org: "everyone in ", role: "everyone with role " }[a.kind],
    a.kind === "role" ? el("code", {}, a.id) : nameNode(a.id)]);
  const parts = [];
  parts.push(f.purposes && f.purposes.length ? "for " + f.purposes.map((p) => PURPOSE_NAMES[p] || p).join(", ") : "for any purpose");
  parts.push(f.types && f.types.length ? "data: " + f.types.join(", ") : "all kinds of data");
  // A provision that names labels applies only to records carrying one of
  // them (internal/consent): say so, rather than suggest it adds them.
  if (f.labels && f.labels.length) parts.push("only records labelled " + labelList(f.labels));
  else if (!f.deny) parts.push("no sensitive categories");
  if (f.from) parts.push("from " + dateOnly(f.from));
  if (f.until) parts.push("until " + dateOnly(f.until));
  return [f.deny ? "Deny " : "Permit ", ...(who.length ? who : ["everyone"]), "; " + parts.join("; ")];
}

function renderConsents() {
  const list = consentData.consents.slice().sort((a, b) => (a.status === b.status ? b.granted_at - a.granted_at : a.status === "active" ? -1 : 1));
  const items = list.map((c) => {
    const active = c.status === "active";
    const actions = el("div", { class: "actions" });
    if (active && c.form) actions.append(el("button", { type: "button", class: "secondary small", onclick: () => editConsent(c),
      "aria-label": "Edit consent " + c.id }, "Edit"));
    if (active) {
      const revoke = el("button", { type: "button", class: "danger secondary small", "aria-label": "Revoke consent " + c.id,
        onclick: () => confirmRevoke(c, actions) }, "Revoke");
      actions.append(revoke);
    }
    return el("article", { class: "item" + (active ? "" : " inactive"), "data-consent": c.id, "aria-label": "Consent " + c.id },
      el("p", {}, el("span", { class: "badge " + (active ? "permit" : "inactive") }, active ? "Active" : "Revoked"), " ",
        el("strong", {}, c.form ? describeForm(c.form) : c.summary)),
      el("p", { class: "muted small" }, "Consent ", el("code", {}, c.id), " · granted in block " + c.granted_at +
        (c.updated_at ? " · changed in block " + c.updated_at : "") + (c.revoked_at ? " · revoked in block " + c.revoked_at : "") +
        (c.grantor !== session.patient ? " · by delegate " + c.grantor : "")),
      actions);
  });
  $("consent-list").replaceChildren(...(items.length ? items : [el("p", { class: "empty" }, "You have granted no consents. Nobody but you (and the organization that wrote a record) can see your records.")]));
  const out = consentData.break_glass_opt_out;
  const who = session.patient === session.id ? "You have" : "The patient has";
  $("btg-state").replaceChildren(el("strong", {}, out ? who + " opted out: nobody may break the glass, even in an emergency." : "Emergency access is possible: clinicians with an emergency role may break the glass."));
  $("btg-toggle").textContent = out ? "Allow break-the-glass again" : "Opt out of break-the-glass";
  $("btg-toggle").className = out ? "secondary" : "danger"; // also ends a pending confirmation
  delete $("btg-toggle").dataset.confirm;
}

function confirmRevoke(c, actions) {
  const yes = el("button", { type: "button", class: "danger small", onclick: async () => {
    showError("consents-error", null);
    try {
      await busy(yes, async () => {
        yes.textContent = "Revoking…";
        await submit({ op: "consent.revoke", patient: session.patient, consent_id: c.id });
      });
      notice("Consent " + c.id + " is revoked. From the next block on it permits nothing.", { timeout: 15000 });
      await loadConsents();
    } catch (e) { showError("consents-error", e); }
  } }, "Yes, revoke");
  const no = el("button", { type: "button", class: "secondary small", onclick: () => { showError("consents-error", null); renderConsents(); } }, "Keep it");
  actions.replaceChildren(el("span", {}, "Revoke this consent? "), yes, no);
  actions.classList.add("confirming");
  yes.focus();
}

function editConsent(c) {
  const f = c.form;
  $("consent-form-title").textContent = "Edit consent " + c.id;
  $("c-id").value = c.id;
  const kinds = [...new Set(f.actors.map((a) => a.kind))];
  $("c-actor-kind").value = kinds[0] || "id";
  $("c-actor").value = f.actors.map((a) => a.id).join(", ");
  $(f.deny ? "c-deny" : "c-permit").checked = true;
  setChecked($("c-purposes"), f.purposes);
  $("c-types").value = (f.types || []).join(", ");
  setChecked($("c-labels"), f.labels);
  $("c-from").value = dateOnly(f.from);
  $("c-until").value = dateOnly(f.until);
  $("consent-submit").textContent = "Save changes";
  $("consent-cancel").hidden = false;
  if (kinds.length > 1) showError("consent-form-error", new Error("This consent names several kinds of actor; saving keeps only the first kind."));
  $("c-actor").focus();
}

function resetConsentForm() {
  $("consent-form").reset();
  $("c-id").value = "";
  $("consent-form-title").textContent = "Grant access";
  $("consent-submit").textContent = "Grant";
  $("consent-cancel").hidden = true;
  showError("consent-form-error", null);
}

async function onConsentSubmit(ev) {
  ev.preventDefault();
  showError("consent-form-error", null);
  const id = $("c-id").value;
  const deny = $("c-deny").checked;
  const kind = $("c-actor-kind").value;
  const actors = splitList($("c-actor").value).map((a) => ({ kind, id: a }));
  const form = { deny, actors, purposes: checked($("c-purposes")), types: splitList($("c-types").value), labels: checked($("c-labels")),
    from: dayStart($("c-from").value), until: dayEnd($("c-until").value) };
  if (id) form.id = id;
  try {
    if (!deny && actors.length === 0) { $("c-actor").focus(); throw new Error("Say whom you permit: enter their id."); }
    if (!deny && form.purposes.length === 0) { $("c-purposes").querySelector("input").focus(); throw new Error("Choose at least one purpose."); }
    if (form.from && form.until && form.from > form.until) { $("c-until").focus(); throw new Error("The end date is before the start date."); }
    const { res, prepared } = await busy($("consent-submit"), async () => {
      $("consent-submit").textContent = id ? "Saving…" : "Granting…";
      return submit({ op: id ? "consent.update" : "consent.grant", patient: session.patient, consent: form });
    });
    notice((id ? "Consent " + id + " changed" : "Consent " + prepared.consent_id + " granted") + " in block " + res.height + ".", { timeout: 15000 });
    resetConsentForm();
    await loadConsents();
  } catch (e) {
    showError("consent-form-error", e);
  }
}

async function onOptOutToggle() {
  const btn = $("btg-toggle");
  const optOut = !consentData.break_glass_opt_out;
  if (btn.dataset.confirm !== "yes") {
    btn.dataset.confirm = "yes";
    btn.classList.add("confirming");
    btn.textContent = optOut ? "Confirm: nobody may break the glass" : "Confirm: allow emergency access again";
    return;
  }
  showError("btg-error", null);
  btn.classList.remove("confirming");
  try {
    await busy(btn, async () => {
      btn.textContent = "Saving…";
      await submit({ op: "breakglass.optout", patient: session.patient, opt_out: optOut });
    });
    await loadConsents();
  } catch (e) {
    showError("btg-error", e);
  }
}

// ---- delegates ----

function renderDelegates() {
  const items = consentData.delegations.map((d) => {
    const actions = el("div", { class: "actions" });
    const remove = el("button", { type: "button", class: "danger secondary small", "aria-label": "Remove delegate " + d.delegate,
      onclick: () => {
        const yes = el("button", { type: "button", class: "danger small", onclick: async () => {
          showError("delegates-error", null);
          try {
            await busy(yes, () => submit({ op: "delegate.remove", patient: session.patient, delegate: d.delegate }));
            notice((await displayName(d.delegate)) + " no longer acts for you.", { timeout: 15000 });
            await loadConsents();
          } catch (e) { showError("delegates-error", e); }
        } }, "Yes, remove");
        actions.replaceChildren(el("span", {}, "Remove this delegate? "), yes,
          el("button", { type: "button", class: "secondary small", onclick: () => renderDelegates() }, "Keep"));
        actions.classList.add("confirming");
        yes.focus();
      } }, "Remove");
    actions.append(remove);
    const ops = d.operations.map((o) => (OPERATIONS.find(([c]) => c === o) || [o, o])[1].toLowerCase()).join(", ");
    return el("article", { class: "item", "data-delegate": d.delegate },
      el("p", {}, nameNode(d.delegate), " may " + ops),
      el("p", { class: "muted small" }, [d.purposes && d.purposes.length ? "purposes " + d.purposes.join(", ") : "any purpose",
        d.types && d.types.length ? "types " + d.types.join(", ") : "any type",
        d.start ? "from " + dateOnly(d.start) : null, d.end ? "until " + dateOnly(d.end) : null].filter(Boolean).join(" · ")),
      actions);
  });
  $("delegate-list").replaceChildren(...(items.length ? items : [el("p", { class: "empty" }, "Nobody acts for you.")]));
}

async function onDelegateSubmit(ev) {
  ev.preventDefault();
  showError("delegate-form-error", null);
  const delegate = $("d-id").value.trim();
  const d = { patient: session.patient, delegate, operations: checked($("d-ops")), purposes: splitList($("d-purposes").value),
    types: splitList($("d-types").value), end: dayEnd($("d-until").value) };
  try {
    if (!delegate) { $("d-id").focus(); throw new Error("Enter the delegate's id."); }
    if (d.operations.length === 0) { $("d-ops").querySelector("input").focus(); throw new Error("Choose at least one thing they may do."); }
    await busy($("delegate-submit"), () => submit({ op: "delegate.set", patient: session.patient, delegation: d }));
    notice((await displayName(delegate)) + " may now act for you within these limits.", { timeout: 15000 });
    $("delegate-form").reset();
    await loadConsents();
  } catch (e) {
    showError("delegate-form-error", e);
  }
}

// ---- records ----

let recordData = null;

function reloadRecordsIfShown() {
  // As with consents: never pull an erasure confirmation from under the
  // patient's hand.
  if (document.querySelector("#records .confirming")) return;
  if (location.hash.slice(1) === "records") loadRecords();
}

// loadRecords reads the records list with a signed record.query (POST
// /v1/records/list). It is metadata, never content, but a type, a label
// or an author says much, so the ledger decides and records the read.
const loadRecords = coalesced(async () => {
  if (!session) return;
  const me = session;
  loaded.records = true;
  const box = $("records");
  if (!recordData) box.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  $("view-records").setAttribute("aria-busy", "true");
  try {
    const data = await query({ op: "record.query", patient: me.patient }, "/v1/records/list");
    if (session !== me) return;
    const records = (data && data.records) || [];
    if (records.some((r) => r.patient !== me.patient)) throw new Error("The node answered with records of another patient.");
    recordData = { records };
    showError("records-error", null);
    renderRecords();
  } catch (e) {
    if (session !== me) return;
    if (!recordData) box.replaceChildren();
    showError("records-error", e);
  } finally {
    $("view-records").removeAttribute("aria-busy");
  }
});

function labelList(labels) {
  if (!labels || labels.length === 0) return "—";
  return labels.map((l) => (SENSITIVE_NAMES[l] ? SENSITIVE_NAMES[l] + " (" + l + ")" : l)).join(", ");
}

// Only the patient (or the organization that wrote a record) may erase
// it; a delegate's request would be refused, so a delegate is not offered
// one.
function mayErase() { return session && session.id === session.patient; }

function renderRecords() {
  const box = $("records");
  const own = mayErase();
  const records = recordData.records.slice().sort((a, b) => String(b.updated || b.created).localeCompare(String(a.updated || a.created)));
  if (records.length === 0) {
    box.replaceChildren(el("p", { class: "empty" }, own ? "No records about you are on the ledger." : "No records about the patient are on the ledger."));
    return;
  }
  const heads = ["Type", "Date", "Author", "Version", "Labels", "Status"].concat(own ? ["Erasure"] : []);
  box.replaceChildren(el("table", {},
    el("caption", { class: "muted small" }, records.length + (records.length === 1 ? " record" : " records") + ", newest first. " +
      "Only their type, labels, dates and authors are on the ledger; the contents are encrypted. " +
      "Reading this list is recorded in the access history." + (own ? "" : " Only the patient can ask for a record's erasure.")),
    el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...records.map((r) => recordRow(r, own)))));
}

function recordRow(r, own) {
  const by = r.erasedBy ? [" by ", r.erasedBy === session.id ? "you" : nameNode(r.erasedBy)] : null;
  const status = r.erased ? [el("span", { class: "badge inactive" }, "Erased"), by] : "Kept";
  const date = [el("time", { datetime: r.updated || r.created }, when(r.updated || r.created)),
    r.version > 1 && r.created ? [el("br"), el("span", { class: "muted small" }, "first written " + when(r.created))] : null];
  const erase = own ? el("td", { "data-label": "Erasure" }, r.erased ? "—" : el("button", { type: "button", class: "danger secondary small",
    "aria-label": "Request erasure of the " + r.type + " record " + r.id, onclick: (ev) => confirmErase(r, ev.currentTarget) }, "Request erasure")) : null;
  return el("tr", { "data-record": r.id, class: r.erased ? "erased" : null },
    el("td", { "data-label": "Type" }, el("strong", {}, r.type), el("br"), el("code", { class: "small" }, r.id)),
    el("td", { "data-label": "Date" }, date),
    el("td", { "data-label": "Author" }, r.author ? nameNode(r.author) : "—", r.authorOrg ? [el("br"), nameNode(r.authorOrg)] : null),
    el("td", { "data-label": "Version" }, String(r.version)),
    el("td", { "data-label": "Labels" }, labelList(r.labels)),
    el("td", { "data-label": "Status" }, status),
    erase);
}

// confirmErase asks, under the record's row, whether to erase it, with
// what erasure means and an optional reason, before anything is signed.
function confirmErase(r, button) {
  const row = button.closest("tr");
  const open = row.nextElementSibling;
  if (open && open.classList.contains("confirm-row")) { open.querySelector("input").focus(); return; }
  const id = "erase-" + r.id;
  const reason = el("input", { type: "text", id: id + "-reason", name: "reason", maxlength: "256", autocomplete: "off",
    "aria-describedby": id + "-what " + id + "-reason-help" });
  const err = el("p", { class: "error", id: id + "-error", role: "alert", hidden: true });
  const cancel = () => { panel.remove(); button.focus(); };
  const no = el("button", { type: "button", class: "secondary", onclick: cancel }, "Keep it");
  const yes = el("button", { type: "button", class: "danger", onclick: async () => {
    showError(err.id, null);
    no.disabled = true;
    try {
      const { res } = await busy(yes, () => {
        yes.textContent = "Erasing…";
        return submit({ op: "record.erase", record_id: r.id, reason: reason.value.trim() });
      });
      notice("The " + r.type + " record " + r.id + " is erased (block " + res.height + "). Every node deletes its contents.", { timeout: 15000 });
      await loadRecords();
      const tr = document.querySelector('#records tr[data-record="' + CSS.escape(r.id) + '"]');
      if (tr) { tr.tabIndex = -1; tr.focus(); }
    } catch (e) {
      no.disabled = false;
      showError(err.id, e);
      // The button was disabled while busy, which dropped the focus; put
      // it back inside the confirmation, where Escape and Tab still work.
      yes.focus();
    }
  } }, "Yes, erase it");
  const panel = el("tr", { class: "confirm-row", "data-confirm": r.id }, el("td", { colspan: String(row.children.length) },
    el("div", { class: "confirming", role: "group", "aria-labelledby": id + "-title",
      onkeydown: (ev) => { if (ev.key === "Escape") cancel(); } },
    el("p", { id: id + "-title" }, el("strong", {}, "Erase the " + r.type + " record " + r.id + "?")),
    el("p", { id: id + "-what" }, "Every node deletes its encrypted contents and the key shares that open them: nobody, you included, " +
      "can read it afterwards, and this cannot be undone. The ledger keeps that the record existed, who wrote it, and that you erased it."),
    el("div", { class: "field" }, el("label", { for: id + "-reason" }, "Reason (optional)"), reason,
      el("p", { class: "help", id: id + "-reason-help" }, "The reason stays on the ledger for good, where every node sees it: write nothing you would not want kept.")),
    err,
    el("div", { class: "actions" }, yes, no))));
  row.after(panel);
  reason.focus();
}

// ---- start ----

async function start() {
  for (const [code, label] of PURPOSES) $("f-purpose").append(el("option", { value: code }, label + " (" + code + ")"));
  checkboxes($("c-purposes"), PURPOSES, "purpose");
  checkboxes($("c-labels"), SENSITIVE, "label");
  checkboxes($("d-ops"), OPERATIONS, "op");
  $("import-form").addEventListener("submit", onImport);
  $("unlock-form").addEventListener("submit", onUnlock);
  $("forget").addEventListener("click", onForget);
  $("lock").addEventListener("click", lock);
  $("filter-form").addEventListener("submit", (e) => { e.preventDefault(); loadHistory(true); });
  $("filter-form").addEventListener("reset", () => setTimeout(() => loadHistory(true)));
  $("more").addEventListener("click", () => loadHistory(false));
  $("consent-form").addEventListener("submit", onConsentSubmit);
  $("consent-cancel").addEventListener("click", resetConsentForm);
  // An emptied form has nothing left to be wrong about.
  $("consent-form").addEventListener("reset", () => showError("consent-form-error", null));
  $("btg-toggle").addEventListener("click", onOptOutToggle);
  $("delegate-form").addEventListener("submit", onDelegateSubmit);
  window.addEventListener("hashchange", route);
  try {
    const st = await api("GET", "/v1/status");
    chainID = st.chain_id;
    $("node-status").textContent = "Node " + (st.moniker || st.node_id.slice(0, 8)) + " · chain " + st.chain_id;
  } catch (e) {
    $("node-status").textContent = "This node does not answer: " + explain(e);
  }
  await showSignIn();
  document.body.dataset.ready = "true";
}

start();
