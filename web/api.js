// Fetch helpers for the portal's APIs. Everything is same-origin behind the gateway:
// /api/onboarding/…, /api/identity/…, /api/meterdata/… (paths as in the README).
// The session lives in an HttpOnly cookie set by identity; state changes send the session's
// CSRF token in X-CSRF-Token; meter data wants a short-lived Bearer token from identity. The back-office
// pages sign in at identity (e-mail, password, TOTP code: cookie __Host-plusportal-staff-session) and call
// /api/{onboarding,letters,meterdata}/backoffice/… with a short-lived staff access token from identity (kept in memory only).

const BASES = {
  onboarding: "/api/onboarding",
  identity: "/api/identity",
  meterdata: "/api/meterdata",
  letters: "/api/letters",
};

export const MESSAGES = {
  network:
    "Wir erreichen das Kundenportal gerade nicht. Bitte prüfen Sie Ihre Internetverbindung und versuchen Sie es " +
    "in ein paar Minuten noch einmal. Ihre Eingaben bleiben erhalten.",
  server:
    "Das Kundenportal ist gerade gestört. Bitte versuchen Sie es in ein paar Minuten noch einmal. " +
    "Ihre Eingaben bleiben erhalten.",
  expired: "Der Link ist abgelaufen oder wurde schon benutzt.",
  unauthorized: "Bitte melden Sie sich an.",
  forbidden: "Kein Zugriff auf diese Daten.",
  tooMany: "Zu viele Versuche.",
  unknownPortal: "Dieses Portal gibt es nicht. Bitte prüfen Sie die Adresse.",
  validation: "Bitte prüfen Sie die markierten Angaben.",
  staffRefused: "Ihre Anmeldung im Back-Office ist abgelaufen. Bitte melden Sie sich an.",
  changedMeanwhile: "Der Antrag hat inzwischen einen anderen Status.",
  other: "Das hat leider nicht geklappt. Bitte versuchen Sie es noch einmal.",
};

/** An answer other than 2xx, or no answer at all (status 0). */
export class ApiError extends Error {
  constructor(status, message, { body = null, retryAfter = null, errors = [] } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter; // seconds, from the Retry-After header
    this.errors = errors; // [{field, message, type}] from a 422 body
  }

  get isNetwork() {
    return this.status === 0;
  }
}

// ---------------------------------------------------------------- session state

let current = null; // SessionView of identity, or null when signed out
let token = null; // {value, expiresAt} — access token for meter data
const listeners = new Set();
let unauthorized = () => {};

export function session() {
  return current;
}

export function setSession(view) {
  current = view;
  token = null;
  if (view === null) forgetKeptAnswers();
  for (const listener of listeners) listener(view);
}

// ---------------------------------------------------------------- offline (web/sw.js)

const KEPT_ANSWERS_CACHE = "plusportal-data"; // web/sw.js keeps the customer's last answers there
const OFFLINE_HEADER = "X-Plusportal-Offline"; // set by web/sw.js on an answer from that cache: when it was stored
let offlineListener = () => {};
let offlineSince = null;

/** ``listener(storedAt | null)``: called when answers start or stop coming from the device instead of the network. */
export function onOffline(listener) {
  offlineListener = listener;
}

function noteAnswerSource(response) {
  const stored = Number.parseInt(response.headers.get(OFFLINE_HEADER) || "", 10);
  const since = Number.isNaN(stored) ? null : stored; // web/sw.js sends the header only on a kept answer
  if (since !== offlineSince) {
    offlineSince = since;
    offlineListener(since);
  }
}

/** Signed out (or the session ended): the kept answers are personal data and leave the device's cache. */
function forgetKeptAnswers() {
  if (typeof caches !== "undefined") caches.delete(KEPT_ANSWERS_CACHE).catch(() => {});
}

export function onSessionChange(listener) {
  listeners.add(listener);
}

/** Called when a call that needs a session gets 401: the app sends the customer to /anmelden. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

// ---------------------------------------------------------------- back-office staff session

let staffCurrent = null; // StaffSessionView of identity, or null when signed out
let staffAccess = null; // {value, expiresAt} — staff access token for onboarding and letters
let staffRefused = () => {};

export function staffSession() {
  return staffCurrent;
}

function setStaffSession(view) {
  staffCurrent = view;
  staffAccess = null;
}

/** Called when the staff session has ended (401/403 on a back-office call): the app sends to the login. */
export function onStaffRefused(handler) {
  staffRefused = handler;
}

// ---------------------------------------------------------------- plumbing

function detailOf(body) {
  if (body && typeof body.detail === "string") return body.detail;
  return null;
}

function retryText(seconds) {
  if (!seconds) return "";
  const at = new Date(Date.now() + seconds * 1000);
  const time = at.toLocaleTimeString("de-DE", { hour: "2-digit", minute: "2-digit" });
  if (seconds < 90) return ` Sie können es in ${seconds} Sekunden wieder versuchen (ab ${time} Uhr).`;
  return ` Sie können es ab ${time} Uhr wieder versuchen.`;
}

function errorOf(response, body, { staff = false } = {}) {
  const status = response.status;
  const detail = detailOf(body);
  if (staff && (status === 401 || status === 403)) return new ApiError(status, MESSAGES.staffRefused, { body });
  if (staff && status === 409) return new ApiError(status, detail || MESSAGES.changedMeanwhile, { body });
  if (status === 422) {
    const errors = Array.isArray(body?.errors) ? body.errors : [];
    return new ApiError(status, detail || MESSAGES.validation, { body, errors });
  }
  if (status === 429) {
    const retryAfter = Number.parseInt(response.headers.get("Retry-After") || "", 10) || null;
    const text = (detail || MESSAGES.tooMany) + retryText(retryAfter);
    return new ApiError(status, text, { body, retryAfter });
  }
  if (status === 410) return new ApiError(status, detail || MESSAGES.expired, { body });
  if (status === 401) return new ApiError(status, detail || MESSAGES.unauthorized, { body });
  if (status === 403) return new ApiError(status, detail || MESSAGES.forbidden, { body });
  if (status === 404 && detail) return new ApiError(status, detail, { body });
  if (status >= 500) return new ApiError(status, MESSAGES.server, { body });
  return new ApiError(status, detail || MESSAGES.other, { body });
}

async function readJson(response) {
  const type = response.headers.get("Content-Type") || "";
  if (!type.includes("json")) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/**
 * One request. Options: json (body), csrf (send X-CSRF-Token), auth (401 means "signed out"),
 * bearer (meter data: send the access token, fetch a fresh one once when refused),
 * staff (back-office: true sends the kept staff token and forgets it when refused; a string is a token
 * to check, never forgotten). Returns the Response (ok) or throws ApiError.
 */
async function send(service, method, path, { json, csrf = false, auth = false, bearer = false, staff = false, staffCsrf = false, accept } = {}) {
  const headers = { Accept: accept || "application/json" };
  if (json !== undefined) headers["Content-Type"] = "application/json";
  if (csrf && current) headers["X-CSRF-Token"] = current.csrf_token;
  if (staffCsrf && staffCurrent) headers["X-CSRF-Token"] = staffCurrent.csrf_token;
  const init = {
    method,
    headers,
    credentials: staff ? "omit" : "same-origin", // the staff token alone: no cookie goes along
    cache: "no-store",
    body: json === undefined ? undefined : JSON.stringify(json),
  };
  for (let attempt = 0; ; attempt += 1) {
    if (bearer) {
      try {
        headers.Authorization = `Bearer ${await accessToken(attempt > 0)}`;
      } catch (error) {
        // Offline no token can be fetched; a read may still be answered by web/sw.js from the device.
        if (!(error instanceof ApiError && error.isNetwork && method === "GET")) throw error;
        delete headers.Authorization;
      }
    }
    if (staff) headers.Authorization = `Bearer ${await staffAccessToken(attempt > 0)}`;
    let response;
    try {
      response = await fetch(BASES[service] + path, init);
    } catch {
      throw new ApiError(0, MESSAGES.network);
    }
    if (response.ok) {
      noteAnswerSource(response);
      return response;
    }
    // An access token may have expired between fetching and using it: fetch a fresh one once.
    if (bearer && (response.status === 401 || response.status === 403) && attempt === 0) continue;
    if (staff && response.status === 401 && attempt === 0) continue;
    const error = errorOf(response, await readJson(response), { staff: Boolean(staff) });
    if (error.status === 401 && (auth || bearer)) {
      setSession(null);
      unauthorized();
    }
    if (staff && error.status === 401) {
      setStaffSession(null);
      staffRefused();
    }
    throw error;
  }
}

async function call(service, method, path, options = {}) {
  const response = await send(service, method, path, options);
  if (response.status === 204) return null;
  return readJson(response);
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null) search.set(key, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}

function filenameOf(response, fallback) {
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  return match ? match[1] : fallback;
}

/** Offers a Blob as a download through a temporary link. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = filename;
  anchor.hidden = true;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

// ---------------------------------------------------------------- onboarding

export function submitRequest(form) {
  return call("onboarding", "POST", "/requests", { json: form });
}

// ---------------------------------------------------------------- identity

export function requestAccess(form) {
  return call("identity", "POST", "/access-requests", { json: form });
}

export function inspectLink(linkToken) {
  return call("identity", "POST", "/links/inspect", { json: { token: linkToken } });
}

export function completeAccess(linkToken, password) {
  return call("identity", "POST", "/access-requests/complete", { json: { token: linkToken, password } });
}

export function requestReset(email) {
  return call("identity", "POST", "/password-resets", { json: { email } });
}

export function completeReset(linkToken, password) {
  return call("identity", "POST", "/password-resets/complete", { json: { token: linkToken, password } });
}

/** The current session, or null when signed out (no redirect: used at start). */
export async function loadSession() {
  try {
    setSession(await call("identity", "GET", "/session"));
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    setSession(null);
  }
  return current;
}

export async function login(email, password) {
  const view = await call("identity", "POST", "/sessions", { json: { email, password } });
  setSession(view);
  return view;
}

export async function choosePartner(partnerNumber) {
  const view = await call("identity", "POST", "/session/partner", {
    json: { partner_number: partnerNumber },
    csrf: true,
    auth: true,
  });
  setSession(view);
  return view;
}

export async function logout() {
  try {
    await call("identity", "DELETE", "/session", { csrf: true });
  } catch (error) {
    // Already gone (401) is as good as logged out; anything else is reported.
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  } finally {
    setSession(null);
  }
}

export function changePassword(currentPassword, newPassword) {
  return call("identity", "POST", "/account/password", {
    json: { current_password: currentPassword, new_password: newPassword },
    csrf: true,
    auth: true,
  });
}

export function accountSessions() {
  return call("identity", "GET", "/account/sessions", { auth: true });
}

export function endOtherSessions() {
  return call("identity", "POST", "/account/sessions/end-others", { csrf: true, auth: true });
}

export async function downloadAccountData() {
  const response = await send("identity", "GET", "/account/export", { csrf: true, auth: true });
  const blob = new Blob([await response.text()], { type: "application/json" });
  saveBlob(blob, `kundenportal-meine-daten-${new Date().toISOString().slice(0, 10)}.json`);
}

export async function deleteAccount(password) {
  await call("identity", "POST", "/account/delete", { json: { password }, csrf: true, auth: true });
  setSession(null);
}

/** A valid access token for meter data (5 minutes; refreshed 30 s before it ends). */
async function accessToken(fresh = false) {
  if (!fresh && token && token.expiresAt - Date.now() > 30_000) return token.value;
  const answer = await call("identity", "POST", "/session/token", { csrf: true, auth: true });
  token = { value: answer.access_token, expiresAt: Date.now() + (answer.expires_in || 300) * 1000 };
  return token.value;
}

// ---------------------------------------------------------------- meter data

function partnerPath(partnerNumber, what) {
  return `/partners/${encodeURIComponent(partnerNumber)}/${what}`;
}

export function intervals(partnerNumber, { from, to, resolution }) {
  return call("meterdata", "GET", partnerPath(partnerNumber, "intervals") + query({ from, to, resolution }), {
    bearer: true,
  });
}

/** Consumption or feed-in per billing period (the last three years), and how far back the values reach. */
export function billingPeriods(partnerNumber) {
  return call("meterdata", "GET", partnerPath(partnerNumber, "billing-periods"), { bearer: true });
}

/** Consumption and grid fee per price level of the time-variable grid fee (Modul 3); 404: not chosen. */
export function gridFees(partnerNumber, { from, to }) {
  return call("meterdata", "GET", partnerPath(partnerNumber, "grid-fees") + query({ from, to }), { bearer: true });
}

/** The partner number's alerts ("Benachrichtigungen"), web/alerts.js. */
export function alerts(partnerNumber) {
  return call("meterdata", "GET", partnerPath(partnerNumber, "alerts"), { bearer: true });
}

export function addAlert(partnerNumber, { kind, threshold }) {
  return call("meterdata", "POST", partnerPath(partnerNumber, "alerts"), { bearer: true, json: { kind, threshold } });
}

export function removeAlert(partnerNumber, alertId) {
  return call("meterdata", "DELETE", partnerPath(partnerNumber, `alerts/${encodeURIComponent(alertId)}`), { bearer: true });
}

/** The partner number's raised alerts, newest first. */
export function alertOccurrences(partnerNumber) {
  return call("meterdata", "GET", partnerPath(partnerNumber, "alerts/occurrences"), { bearer: true });
}

export function registers(partnerNumber, { from, to }) {
  return call("meterdata", "GET", partnerPath(partnerNumber, "registers") + query({ from, to }), { bearer: true });
}

export async function downloadReadings(partnerNumber, { from, to, resolution, format }) {
  const path = partnerPath(partnerNumber, "export") + query({ from, to, resolution, format });
  const response = await send("meterdata", "GET", path, { bearer: true, accept: "*/*" });
  const extension = format === "xlsx" ? "xlsx" : "csv";
  saveBlob(await response.blob(), filenameOf(response, `messwerte-${from}-${to}.${extension}`));
}

/** The partner's personal access tokens (never their secrets): web/tokens.js. */
export function personalTokens(partnerNumber) {
  return call("meterdata", "GET", partnerPath(partnerNumber, "personal-tokens"), { bearer: true });
}

/** A new personal access token; its secret (`token`) is in this answer only. */
export function createPersonalToken(partnerNumber, { name, expires_on }) {
  return call("meterdata", "POST", partnerPath(partnerNumber, "personal-tokens"), { bearer: true, json: { name, expires_on } });
}

export function revokePersonalToken(partnerNumber, tokenId) {
  return call("meterdata", "DELETE", partnerPath(partnerNumber, `personal-tokens/${encodeURIComponent(tokenId)}`), { bearer: true });
}

// ---------------------------------------------------------------- consent for third parties (web/grants.js)

/** What a third party asks for (the consent page): who, which data, for how long; 400 when the request is invalid. */
export function inspectConsent(query) {
  return call("identity", "POST", "/oauth/consent/inspect", { json: { query }, auth: true });
}

/** Approve or refuse: where the browser goes next ({redirect_to}: the third party, with a code or an error). */
export function decideConsent(decision) {
  return call("identity", "POST", "/oauth/consent", { json: decision, csrf: true, auth: true });
}

/** The login's grants to third parties: pending, active, ended. */
export function grants() {
  return call("identity", "GET", "/account/grants", { auth: true });
}

export function revokeGrant(grantId) {
  return call("identity", "POST", `/account/grants/${encodeURIComponent(grantId)}/revoke`, { csrf: true, auth: true });
}

/** What third parties read with the chosen partner number's grants (newest first). */
export function grantAccesses(partnerNumber) {
  return call("meterdata", "GET", partnerPath(partnerNumber, "grant-accesses"), { bearer: true });
}

// ---------------------------------------------------------------- current values on request (web/currentvalues.js)

/** Ask the metering point operator for the meter's current values: the request ({id, state, …}); 409/429 say why not. */
export function requestCurrentValues(partnerNumber) {
  return call("meterdata", "POST", partnerPath(partnerNumber, "current-values"), { bearer: true });
}

/** The request's state: open, answered or timed_out. */
export function currentValuesRequest(partnerNumber, requestId) {
  return call("meterdata", "GET", partnerPath(partnerNumber, `current-values/${encodeURIComponent(requestId)}`), { bearer: true });
}

/**
 * Follow the request's server-sent events until it is over: onState(request) for each state. Read with fetch (the
 * access token goes in the Authorization header, never into a URL as EventSource would need). Resolves with the last
 * state; rejects when the stream is not available or breaks (the caller falls back to polling).
 */
export async function followCurrentValuesRequest(partnerNumber, requestId, onState, signal) {
  const path = partnerPath(partnerNumber, `current-values/${encodeURIComponent(requestId)}/events`);
  const response = await send("meterdata", "GET", path, { bearer: true, accept: "text/event-stream" });
  if (!response.body || typeof TextDecoderStream === "undefined") throw new ApiError(0, MESSAGES.network);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const stop = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", stop);
  let buffer = "";
  let last = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter((line) => line.startsWith("data: ")).map((line) => line.slice(6)).join("\n");
        if (data) {
          last = JSON.parse(data);
          onState(last);
        }
      }
    }
  } finally {
    signal?.removeEventListener("abort", stop);
  }
  if (!last || last.state === "open") throw new ApiError(0, MESSAGES.network); // ended early: poll instead
  return last;
}

// ---------------------------------------------------------------- back-office

function staffCall(service, method, path, options = {}) {
  return call(service, method, `/backoffice${path}`, { staff: true, ...options });
}

/** The staff session of the cookie, or null when signed out (no redirect). */
export async function loadStaffSession() {
  try {
    setStaffSession(await call("identity", "GET", "/staff/session"));
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    setStaffSession(null);
  }
  return staffCurrent;
}

export async function staffLogin(email, password, code) {
  const view = await call("identity", "POST", "/staff/sessions", { json: { email, password, code } });
  setStaffSession(view);
  return view;
}

export async function staffLogout() {
  try {
    await call("identity", "DELETE", "/staff/session", { staffCsrf: true });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  } finally {
    setStaffSession(null);
  }
}

/** Set-up link of a new staff member: whose it is and the authenticator's secret. */
export function inspectStaffSetup(linkToken) {
  return call("identity", "POST", "/staff/setup/inspect", { json: { token: linkToken } });
}

export function completeStaffSetup(linkToken, password, code) {
  return call("identity", "POST", "/staff/setup/complete", { json: { token: linkToken, password, code } });
}

/** A valid staff access token (5 minutes; refreshed 30 s before it ends) from the staff session. */
async function staffAccessToken(fresh = false) {
  if (!fresh && staffAccess && staffAccess.expiresAt - Date.now() > 30_000) return staffAccess.value;
  if (!staffCurrent) await loadStaffSession();
  let answer;
  try {
    answer = await call("identity", "POST", "/staff/session/token", { staffCsrf: true });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      setStaffSession(null);
      staffRefused();
      throw new ApiError(401, MESSAGES.staffRefused);
    }
    throw error;
  }
  staffAccess = { value: answer.access_token, expiresAt: Date.now() + (answer.expires_in || 300) * 1000 };
  return staffAccess.value;
}

/** Requests of this operator, optionally with one status. */
export function staffRequests({ status } = {}) {
  return staffCall("onboarding", "GET", "/requests" + query({ status: status || null, limit: 500 }));
}

/** The master-data record of a meter (404 when there is none). */
export function meterPoint(meterNumber) {
  return staffCall("onboarding", "GET", `/meter-points/${encodeURIComponent(meterNumber)}`);
}

export function approveRequest(requestId, meterNumber, partnerNumbers) {
  return staffCall("onboarding", "POST", `/requests/${encodeURIComponent(requestId)}/approve`, {
    json: { meter_number: meterNumber, partner_numbers: partnerNumbers },
  });
}

export function rejectRequest(requestId, reason) {
  return staffCall("onboarding", "POST", `/requests/${encodeURIComponent(requestId)}/reject`, { json: { reason } });
}

/** Letter jobs, optionally with one status. */
export function letterJobs({ status } = {}) {
  return staffCall("letters", "GET", "/letters" + query({ status: status || null, limit: 500 }));
}

/** Open tasks about returned or failed letters. */
/** Meters whose access requests guesses hold (identity's staff API, with the staff cookie). */
export function accessAlerts() {
  return call("identity", "GET", "/staff/alerts");
}

export function letterTasks() {
  return staffCall("letters", "GET", "/tasks");
}

export function resolveTask(taskId) {
  return staffCall("letters", "POST", `/tasks/${encodeURIComponent(taskId)}/resolve`);
}

// Dead letters: each service keeps its own (kit/deadletter.py); identity's behind the staff cookie, the others'
// behind the staff token.
export const DEAD_LETTER_SERVICES = ["onboarding", "letters", "identity", "meterdata"];

export function deadLetters(service) {
  return service === "identity"
    ? call("identity", "GET", "/backoffice/dead-letters")
    : staffCall(service, "GET", "/dead-letters");
}

export function replayDeadLetter(service, id) {
  const path = `/dead-letters/${encodeURIComponent(id)}/replay`;
  return service === "identity"
    ? call("identity", "POST", `/backoffice${path}`, { staffCsrf: true })
    : staffCall(service, "POST", path);
}

// Received MSCONS interchanges (meter data): what was accepted and refused, the answers sent; processed again once
// the cause of a refusal is fixed.
export function interchanges() {
  return staffCall("meterdata", "GET", "/interchanges");
}

export function reprocessInterchange(id) {
  return staffCall("meterdata", "POST", `/interchanges/${encodeURIComponent(id)}/reprocess`);
}
