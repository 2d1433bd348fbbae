// The portal's shell: operator branding from the host name, header/nav/footer, and a small router on
// location.pathname (history.pushState). Each page is a module in pages/ with a default export
// render(ctx) that fills <main> through ctx.show(title, ...nodes).

import * as api from "./api.js";
import { toLogin as toStaffLogin } from "./backoffice.js";
import { fmt } from "./dates.js";
import { h, link } from "./dom.js";
import { partnerStatus, roleLabel } from "./labels.js";

const ROUTES = {
  "/": { page: "start" },
  "/antrag": { page: "antrag" },
  "/antrag/gesendet": { page: "antrag-gesendet" },
  "/zugang": { page: "zugang" },
  "/zugang/bestaetigen": { page: "zugang-bestaetigen" },
  "/passwort-vergessen": { page: "passwort-vergessen" },
  "/passwort-neu": { page: "passwort-neu" },
  "/anmelden": { page: "anmelden" },
  "/partner-waehlen": { page: "partner-waehlen", signedIn: true },
  "/verbrauch": { page: "verbrauch", signedIn: true, partner: true },
  "/konto": { page: "konto", signedIn: true },
  "/freigabe": { page: "freigabe", signedIn: true }, // a third party's request for data (OAuth authorisation endpoint)
  "/barrierefreiheit": { page: "barrierefreiheit" },
  "/entwicklung": { page: "entwicklung", devOnly: true },
  // back-office (staff session of identity; each page sends to /backoffice/anmelden without one)
  "/backoffice": { page: "backoffice" },
  "/backoffice/anmelden": { page: "backoffice-anmelden" },
  "/backoffice/einrichten": { page: "backoffice-einrichten" },
  "/backoffice/antraege": { page: "backoffice-antraege" },
  "/backoffice/pruefung": { page: "backoffice-pruefung" },
  "/backoffice/briefe": { page: "backoffice-briefe" },
  "/backoffice/ruecklaeufer": { page: "backoffice-ruecklaeufer" },
  "/backoffice/stoerungen": { page: "backoffice-stoerungen" },
  "/backoffice/marktkommunikation": { page: "backoffice-marktkommunikation" },
};

const isDevelopment = location.hostname === "localhost" || location.hostname.endsWith(".localhost");

const main = document.getElementById("inhalt");
const announcer = document.getElementById("announcer");
let tenant = null; // display data of the operator, or null (unknown host)
let navigation = 0; // increases with every route change: a late render of an old page is dropped
let focusOnShow = false;

function normalisePath(pathname) {
  return pathname.length > 1 ? pathname.replace(/\/+$/, "") : pathname;
}

/** Says something to screen readers without moving focus. */
function announce(text) {
  announcer.textContent = "";
  setTimeout(() => {
    announcer.textContent = text;
  }, 50);
}

// ---------------------------------------------------------------- tenant branding

async function loadTenant() {
  const match = /^(\d{6})\./.exec(location.hostname);
  const portalNumber = match ? match[1] : null;
  let tenants = {};
  try {
    const response = await fetch("/tenants.json", { cache: "no-cache" });
    if (response.ok) tenants = await response.json();
  } catch {
    // without branding data the portal still works, with neutral colours
  }
  const found = portalNumber ? tenants[portalNumber] : null;
  if (found) {
    document.body.classList.add(`tenant-${found.portal_number}`);
    // The operator's web app manifest (stack/webconfig.py): the portal installs under its name and colour.
    document.head.append(h("link", { rel: "manifest", href: `/manifests/${found.portal_number}.webmanifest` }));
  }
  return { tenant: found || null, unknownPortal: Boolean(portalNumber && !found) };
}

function portalName() {
  return tenant ? `Kundenportal ${tenant.short_name}` : "Kundenportal";
}

function renderBrand() {
  const brand = document.getElementById("brand-name");
  brand.textContent = tenant ? tenant.name : "Kundenportal";
}

function renderFooter() {
  const footer = document.getElementById("site-footer");
  if (!tenant) {
    footer.replaceChildren(h("p", null, "Kundenportal für Netzkunden"));
    return;
  }
  footer.replaceChildren(
    h(
      "div",
      { class: "site-footer__contact" },
      h("h2", { class: "site-footer__title" }, "Fragen? Unser Kundenservice hilft Ihnen."),
      h(
        "ul",
        { class: "site-footer__list" },
        h("li", null, "Telefon: ", link(`tel:${tenant.service_phone.replace(/\s+/g, "")}`, tenant.service_phone), ` (${tenant.service_hours}, kostenlos)`),
        h("li", null, "E-Mail: ", link(`mailto:${tenant.service_email}`, tenant.service_email)),
      ),
    ),
    h("p", { class: "site-footer__operator" }, `${tenant.name} · Kundenportal für Netzkunden · `, link("/barrierefreiheit", "Erklärung zur Barrierefreiheit")),
  );
}

// ---------------------------------------------------------------- offline: the app shell and the last values

/** Installs the service worker (web/sw.js): the shell and the last answers stay viewable without a network. */
function keepForOffline() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js").catch(() => {
    // no worker (private mode, an old browser): the portal works as before, only not offline
  });
}

/** The banner that says values come from the device, not from the network (api.onOffline). */
function renderOffline(storedAt) {
  const banner = document.getElementById("offline-banner");
  if (storedAt === null) {
    banner.hidden = true;
    banner.replaceChildren();
    return;
  }
  const when = fmt.dateTime(storedAt);
  banner.replaceChildren(
    h("p", null, h("strong", null, "Keine Verbindung. "), `Sie sehen die zuletzt geladenen Werte (Stand: ${when} Uhr). Neue Werte erscheinen, sobald Sie wieder online sind.`),
  );
  banner.hidden = false;
}

// ---------------------------------------------------------------- header: navigation and session

function navItems(view) {
  if (normalisePath(location.pathname).startsWith("/backoffice")) return [["/backoffice", "Back-Office"]];
  const items = [["/", "Start"]];
  if (view) {
    if (view.partner_number) items.push(["/verbrauch", "Messwerte"]);
    else items.push(["/partner-waehlen", "Geschäftspartner-Nr. wählen"]);
    items.push(["/konto", "Konto"]);
  } else {
    items.push(["/antrag", "Geschäftspartner-Nr. anfordern"], ["/zugang", "Zugang beantragen"], ["/anmelden", "Anmelden"]);
  }
  if (isDevelopment) items.push(["/entwicklung", "Entwicklung"]);
  return items;
}

function renderNav() {
  const here = normalisePath(location.pathname);
  const list = document.getElementById("site-nav");
  list.replaceChildren(
    ...navItems(api.session()).map(([href, text]) =>
      h("li", { class: "site-nav__item" }, link(href, text, { class: "site-nav__link", "aria-current": href === here ? "page" : null })),
    ),
  );
}

function partnerSwitch(view) {
  const select = h(
    "select",
    { id: "partner-switch", name: "partner_number", class: "session-bar__select" },
    view.partners.map((p) =>
      h("option", { value: p.partner_number, selected: p.partner_number === view.partner_number }, `${p.partner_number} – ${roleLabel(p.role)}${p.moved_out ? ` – ${partnerStatus(p)}` : ""}`),
    ),
  );
  const status = h("p", { class: "session-bar__error", role: "alert" });
  const form = h(
    "form",
    { class: "session-bar__switch" },
    h("label", { for: "partner-switch", class: "session-bar__label" }, "Angezeigte Geschäftspartner-Nr."),
    select,
    h("button", { type: "submit", class: "button button--small" }, "Wechseln"),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    try {
      const next = await api.choosePartner(select.value);
      announce(`Sie sehen jetzt die Geschäftspartner-Nr. ${next.partner_number} (${roleLabel(next.role)}).`);
      const here = normalisePath(location.pathname);
      navigate(here === "/partner-waehlen" ? "/verbrauch" : location.pathname + location.search, { replace: true });
    } catch (error) {
      status.textContent = error.message;
    }
  });
  return form;
}

function renderSessionBar() {
  const bar = document.getElementById("session-bar");
  const view = api.session();
  if (!view) {
    bar.replaceChildren();
    return;
  }
  const current = view.partners.find((p) => p.partner_number === view.partner_number);
  const logoutStatus = h("p", { class: "session-bar__error", role: "alert" });
  const logout = h("button", { type: "button", class: "button button--secondary button--small" }, "Abmelden");
  logout.addEventListener("click", async () => {
    logoutStatus.textContent = "";
    try {
      await api.logout();
      navigate("/anmelden?abgemeldet=1");
    } catch (error) {
      logoutStatus.textContent = error.message;
    }
  });
  let partner = null;
  if (view.partner_number && view.partners.length > 1) partner = partnerSwitch(view);
  else if (current) partner = h("p", { class: "session-bar__partner" }, `Geschäftspartner-Nr. ${current.partner_number} · ${roleLabel(current.role)}${current.moved_out ? ` · ${partnerStatus(current)}` : ""}`);
  bar.replaceChildren(
    ...[
      h("p", { class: "session-bar__who" }, h("span", { class: "session-bar__label" }, "Angemeldet: "), view.email),
      partner,
      logout,
      logoutStatus,
    ].filter(Boolean),
  );
}

function renderChrome() {
  renderNav();
  renderSessionBar();
}

// ---------------------------------------------------------------- router

/** Goes to an in-portal path (with optional query and fragment). */
function navigate(path, { replace = false, state = null } = {}) {
  if (replace) history.replaceState(state, "", path);
  else history.pushState(state, "", path);
  focusOnShow = true;
  route();
}

function contextFor(id) {
  const params = new URLSearchParams(location.search);
  return {
    tenant,
    portalName: portalName(),
    params,
    state: history.state,
    session: api.session,
    navigate,
    announce,
    isDevelopment,
    isCurrent: () => id === navigation,
    /** Replaces the page content: a visible <h1> (focused after navigation) and the given nodes. */
    show(title, ...nodes) {
      if (id !== navigation) return;
      const heading = h("h1", { class: "page-title", tabindex: "-1" }, title);
      main.replaceChildren(heading, ...nodes.filter((node) => node !== null && node !== undefined && node !== false));
      document.title = `${title} – ${portalName()}`;
      if (focusOnShow) heading.focus();
      focusOnShow = true; // later view changes on the same page (form sent, …) move focus as well
    },
  };
}

async function route() {
  navigation += 1;
  const id = navigation;
  renderChrome();
  const path = normalisePath(location.pathname);
  let spec = ROUTES[path];
  if (spec && spec.devOnly && !isDevelopment) spec = null;
  const view = api.session();
  if (spec && spec.signedIn && !view) {
    const next = encodeURIComponent(path + location.search);
    history.replaceState(null, "", `/anmelden?weiter=${next}`);
    spec = ROUTES["/anmelden"];
  } else if (spec && spec.partner && view && !view.partner_number) {
    history.replaceState(null, "", "/partner-waehlen");
    spec = ROUTES["/partner-waehlen"];
  }
  if (spec !== ROUTES[path]) renderNav();
  const ctx = contextFor(id);
  try {
    const module = await import(`./pages/${spec ? spec.page : "nicht-gefunden"}.js`);
    if (id !== navigation) return;
    await module.default(ctx);
  } catch (error) {
    console.error(error);
    if (id !== navigation) return;
    const offline = error instanceof TypeError || (error instanceof api.ApiError && error.isNetwork);
    ctx.show(
      "Diese Seite konnte nicht geladen werden",
      h("p", null, offline ? api.MESSAGES.network : error.message || api.MESSAGES.other),
      h("p", null, "Bitte laden Sie die Seite neu. ", link("/", "Zur Startseite")),
    );
  }
}

function isPlainClick(event) {
  return event.button === 0 && !event.metaKey && !event.ctrlKey && !event.shiftKey && !event.altKey && !event.defaultPrevented;
}

function interceptLinks() {
  document.addEventListener("click", (event) => {
    const anchor = event.target instanceof Element ? event.target.closest("a[href]") : null;
    if (!anchor || !isPlainClick(event) || anchor.target || anchor.hasAttribute("download")) return;
    const url = new URL(anchor.href, location.href);
    if (url.origin !== location.origin) return;
    if (anchor.classList.contains("skip-link") || (url.pathname === location.pathname && url.hash && !url.search && anchor.getAttribute("href").startsWith("#"))) {
      // in-page jump (skip link): move focus without touching the URL (it may carry a token)
      const target = document.getElementById(url.hash.slice(1));
      if (target) {
        event.preventDefault();
        if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
        target.focus();
      }
      return;
    }
    if (!ROUTES[normalisePath(url.pathname)]) return; // /dev/mail/, files: the browser loads them
    event.preventDefault();
    navigate(url.pathname + url.search + url.hash);
  });
  window.addEventListener("popstate", () => {
    focusOnShow = true;
    route();
  });
}

async function start() {
  const branding = await loadTenant();
  tenant = branding.tenant;
  renderBrand();
  renderFooter();
  if (branding.unknownPortal) {
    document.title = "Portal nicht gefunden";
    main.replaceChildren(
      h("h1", { class: "page-title" }, "Dieses Portal gibt es nicht"),
      h("p", null, "Bitte prüfen Sie die Adresse. Sie steht in dem Brief Ihres Netzbetreibers."),
    );
    return;
  }
  api.onUnauthorized(() => {
    const path = normalisePath(location.pathname);
    const next = path === "/anmelden" ? "" : `&weiter=${encodeURIComponent(path + location.search)}`;
    navigate(`/anmelden?abgelaufen=1${next}`, { replace: true });
  });
  api.onStaffRefused(() => toStaffLogin(navigate, "abgelaufen"));
  api.onSessionChange(() => renderChrome());
  api.onOffline(renderOffline);
  keepForOffline();
  try {
    await api.loadSession();
  } catch {
    // identity not reachable: the public pages still work; signed-in pages send to /anmelden
  }
  interceptLinks();
  focusOnShow = false; // first page: the browser reads from the top
  await route();
}

start();
