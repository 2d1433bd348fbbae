// The portal's service worker: the app shell (HTML, scripts, styles) and the customer's last answers of meter data
// and of the session stay viewable without a network. Both network first: online, everything is as fresh as
// without this worker; offline, the last copy answers, marked with the header X-Plusportal-Offline (when it was
// stored, ms since 1970) so that the page can say it shows older values. Only same-origin GETs are touched.
// The data cache holds personal data: web/api.js deletes it when the customer signs out or the session ends.

const SHELL_CACHE = "plusportal-shell-v1";
const DATA_CACHE = "plusportal-data"; // also named in web/api.js
const OFFLINE_HEADER = "X-Plusportal-Offline"; // also read in web/api.js
// Stored at install: the pages a signed-in customer opens offline and every module they import (a unit test,
// tests/unit/test_web_offline.py, checks that no import is missing).
const SHELL = [
  "/",
  "/alerts.js",
  "/app.js",
  "/api.js",
  "/backoffice.js",
  "/chart.js",
  "/currentvalues.js",
  "/dates.js",
  "/dom.js",
  "/forms.js",
  "/grants.js",
  "/gridfees.js",
  "/labels.js",
  "/passwords.js",
  "/roles.js",
  "/styles.css",
  "/tenants.json",
  "/tokens.js",
  "/favicon.svg",
  "/icon.svg",
  "/pages/start.js",
  "/pages/anmelden.js",
  "/pages/verbrauch.js",
  "/pages/partner-waehlen.js",
  "/pages/konto.js",
  "/pages/nicht-gefunden.js",
];
// What a signed-in customer reads: kept for offline use. Everything else of /api/ is never stored.
const KEPT_ANSWERS = [/^\/api\/identity\/session$/, /^\/api\/meterdata\/partners\/[^/]+\/(intervals|billing-periods|registers|grid-fees)$/];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  const old = (names) => names.filter((name) => name.startsWith("plusportal-shell-") && name !== SHELL_CACHE);
  event.waitUntil(
    caches.keys().then((names) => Promise.all(old(names).map((name) => caches.delete(name)))).then(() => self.clients.claim()),
  );
});

async function networkFirst(request, cacheName, key = request) {
  try {
    const response = await fetch(request);
    if (response.ok) {
      const copy = new Headers(response.headers);
      copy.set(OFFLINE_HEADER, String(Date.now()));
      const stored = new Response(await response.clone().arrayBuffer(), { status: response.status, headers: copy });
      const cache = await caches.open(cacheName);
      await cache.put(key, stored);
    }
    return response;
  } catch (error) {
    const cached = await caches.match(key, { cacheName });
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/dev/")) return;
  if (url.pathname.startsWith("/api/")) {
    if (KEPT_ANSWERS.some((pattern) => pattern.test(url.pathname))) event.respondWith(networkFirst(request, DATA_CACHE));
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(networkFirst(request, SHELL_CACHE, "/")); // every route is the single-page app
    return;
  }
  event.respondWith(networkFirst(request, SHELL_CACHE));
});
