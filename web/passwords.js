// Shared pieces of the pages that set or prove a password with a link from an e-mail.
import { h, link } from "./dom.js";
import { field } from "./forms.js";
import * as api from "./api.js";

export const PASSWORD_HINT =
  "Mindestens 12 Zeichen. Am besten ein Satz oder mehrere Wörter, die nur Sie kennen – Sonderzeichen sind nicht nötig. Nicht erlaubt: sehr häufige Passwörter und Ihre E-Mail-Adresse.";

/** The link token: from the fragment (#token=…), then removed from the address bar but kept in history.state. */
export function linkToken() {
  const fromFragment = new URLSearchParams(location.hash.replace(/^#/, "")).get("token");
  if (fromFragment) {
    history.replaceState({ ...(history.state || {}), token: fromFragment }, "", location.pathname + location.search);
    return fromFragment;
  }
  return history.state?.token || null;
}

/**
 * The link's token and what it allows, or null when the page already shows why it cannot go on
 * (no token, expired or used link, identity unreachable — with `retry` to try again).
 */
export async function inspectedLink(ctx, again, retry) {
  const token = linkToken();
  if (!token) {
    showMissingToken(ctx, again);
    return null;
  }
  try {
    const info = await api.inspectLink(token);
    return ctx.isCurrent() ? { token, info } : null;
  } catch (error) {
    if (error.status === 410 || error.status === 422) showExpired(ctx, error.status === 410 ? error.message : null, again);
    else showUnreachable(ctx, error, retry);
    return null;
  }
}

export function accountField(email) {
  return field({ name: "username", label: "E-Mail-Adresse", type: "email", value: email, readonly: true, autocomplete: "username" });
}

export function newPasswordFields() {
  return [
    field({ name: "password", label: "Neues Passwort", type: "password", autocomplete: "new-password", hint: PASSWORD_HINT, width: "medium" }),
    field({ name: "password_repeat", label: "Neues Passwort wiederholen", type: "password", autocomplete: "new-password", width: "medium" }),
  ];
}

/** The page for a link that is expired, used or incomplete. again: [href, text] to request a new one. */
export function showExpired(ctx, message, again) {
  ctx.show(
    "Der Link ist abgelaufen",
    h("div", { class: "notice notice--warning" }, h("p", null, message || "Der Link ist abgelaufen oder wurde schon benutzt.")),
    h("p", null, "Das ist kein Problem: Fordern Sie einfach einen neuen Link an."),
    h("p", null, link(again[0], again[1], { class: "button-link" })),
  );
}

export function showMissingToken(ctx, again) {
  ctx.show(
    "Der Link ist unvollständig",
    h("p", null, "In der Adresse fehlt ein Teil des Links aus der E-Mail. Bitte öffnen Sie den Link direkt aus der E-Mail – oder kopieren Sie ihn vollständig in die Adresszeile."),
    h("p", null, link(again[0], again[1], { class: "button-link" })),
  );
}

/** The page for a link check that failed without an answer (network, server). */
export function showUnreachable(ctx, error, retry) {
  const again = h("button", { type: "button", class: "button" }, "Erneut versuchen");
  again.addEventListener("click", retry);
  ctx.show("Der Link konnte nicht geprüft werden", h("div", { class: "notice notice--error" }, h("p", null, error.message)), h("p", null, again));
}
