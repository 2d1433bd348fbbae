// "Persönliche Zugangsschlüssel" on the account page ([11 of 11] §1): the customer makes read-only keys for the
// chosen partner number (for a home-automation system or an energy manager), sees each one's secret once, with a
// copy button, lists them (name, start, made, valid until, last used) and revokes them. Meter data keeps only a
// hash of each key (services/meterdata/token_api.py); the README's "Persönliche Schnittstelle" shows the calls.

import * as api from "./api.js";
import { addDays, berlinDay, dayString, fmt, today } from "./dates.js";
import { h, notice } from "./dom.js";
import { field, form, onSubmit, submitButton } from "./forms.js";

const MAX_DAYS = 366; // services.meterdata.token_domain.MAX_VALID_DAYS
const DEFAULT_DAYS = 365;

function dateField(name, label, hint, value, min, max) {
  const wrapper = field({ name, label, type: "date", hint, value, width: "medium" });
  const input = wrapper.querySelector("input");
  input.min = min;
  input.max = max;
  return wrapper;
}

function secretNotice(ctx, made) {
  const secret = h("input", {
    type: "text",
    class: "field__input token-secret",
    readonly: true,
    value: made.token,
    "aria-label": `Neuer Zugangsschlüssel »${made.name}«`,
    spellcheck: "false",
  });
  const copied = h("p", { role: "status", class: "status-line" });
  const copy = h("button", { type: "button", class: "button button--secondary button--small" }, "Kopieren");
  copy.addEventListener("click", async () => {
    secret.select();
    try {
      await navigator.clipboard.writeText(made.token);
      copied.textContent = "Der Zugangsschlüssel ist in der Zwischenablage.";
    } catch {
      copied.textContent = "Bitte markieren und kopieren Sie den Zugangsschlüssel selbst (Strg+C).";
    }
    ctx.announce(copied.textContent);
  });
  const box = notice(
    "warning",
    h("p", null, h("strong", null, `Ihr neuer Zugangsschlüssel »${made.name}«`)),
    h("p", null, "Sie sehen ihn nur jetzt, danach nie wieder. Kopieren Sie ihn in Ihre Anwendung (z. B. Ihre Heimautomation). Wer ihn kennt, kann die Messwerte dieser Geschäftspartner-Nr. lesen – geben Sie ihn nicht weiter."),
    h("p", null, secret, " ", copy),
  );
  return [box, copied]; // the copy's status outside the notice: no live region inside another
}

function tokenTable(items, revoke) {
  if (!items.length) return h("p", null, "Sie haben noch keinen Zugangsschlüssel angelegt.");
  return h(
    "table",
    { class: "table" },
    h("caption", { class: "visually-hidden" }, "Ihre Zugangsschlüssel"),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col" }, "Beginnt mit"),
        h("th", { scope: "col" }, "Angelegt"),
        h("th", { scope: "col" }, "Gültig bis"),
        h("th", { scope: "col" }, "Zuletzt benutzt"),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Aktion")),
      ),
    ),
    h(
      "tbody",
      null,
      items.map((item) => {
        const button = h("button", { type: "button", class: "button button--danger button--small" }, "Widerrufen");
        button.setAttribute("aria-label", `Zugangsschlüssel »${item.name}« widerrufen`);
        button.addEventListener("click", () => revoke(item, button));
        const lastDay = addDays(berlinDay(item.expires_at), -1);
        return h(
          "tr",
          null,
          h("th", { scope: "row" }, item.name),
          h("td", null, h("code", null, `${item.prefix}…`)),
          h("td", null, fmt.dateTime(item.created_at)),
          h("td", null, item.expired ? `abgelaufen (${fmt.dayNumeric(lastDay)})` : fmt.dayNumeric(lastDay)),
          h("td", null, item.last_used_at ? fmt.dateTime(item.last_used_at) : "noch nie"),
          h("td", null, button),
        );
      }),
    ),
  );
}

/** The section for the account page; ``partnerNumber``: the chosen one (null: none chosen yet). */
export function tokensSection(ctx, partnerNumber) {
  const heading = h("h2", { id: "konto-schluessel" }, "Persönliche Zugangsschlüssel");
  const section = h("section", { class: "panel", "aria-labelledby": "konto-schluessel" }, heading);
  if (!partnerNumber) {
    section.append(h("p", null, "Bitte wählen Sie zuerst eine Geschäftspartner-Nr. – ein Zugangsschlüssel gilt für genau eine."));
    return section;
  }
  const first = addDays(today(), 1);
  const defaultExpiry = dayString(addDays(today(), DEFAULT_DAYS));
  const element = form(
    null,
    field({ name: "name", label: "Name", hint: "Wofür Sie ihn nutzen, z. B. »Heimautomation«", maxlength: 60, width: "medium" }),
    dateField("expires_on", "Gültig bis einschließlich", "Höchstens ein Jahr; danach legen Sie einen neuen an.", defaultExpiry, dayString(first), dayString(addDays(today(), MAX_DAYS))),
    h("div", { class: "form__actions" }, submitButton("Zugangsschlüssel anlegen")),
  );
  const fresh = h("div");
  const list = h("div");
  const status = h("p", { role: "status", class: "status-line" });

  async function load() {
    const items = await api.personalTokens(partnerNumber);
    if (ctx.isCurrent()) list.replaceChildren(tokenTable(items, revoke));
  }

  async function revoke(item, button) {
    button.setAttribute("aria-disabled", "true");
    try {
      await api.revokePersonalToken(partnerNumber, item.id);
      status.textContent = `Der Zugangsschlüssel »${item.name}« ist widerrufen und funktioniert ab sofort nicht mehr.`;
      ctx.announce(status.textContent);
    } catch (error) {
      status.replaceChildren(notice("error", h("p", null, error.message)));
    }
    await load().catch(() => {});
  }

  onSubmit(
    element,
    async (data) => {
      const made = await api.createPersonalToken(partnerNumber, { name: data.name, expires_on: data.expires_on });
      element.reset();
      element.elements.expires_on.value = defaultExpiry;
      fresh.replaceChildren(...secretNotice(ctx, made));
      ctx.announce(`Ihr Zugangsschlüssel »${made.name}« ist angelegt. Sie sehen ihn nur jetzt.`);
      await load();
    },
    { fallbackField: "name" },
  );
  load().catch(() => {
    list.replaceChildren(h("p", null, "Die Liste der Zugangsschlüssel konnte nicht geladen werden. Bitte laden Sie die Seite neu."));
  });
  section.append(
    h("p", null, `Damit liest eine Anwendung Ihrer Wahl (z. B. Heimautomation oder Energiemanager) die Messwerte der Geschäftspartner-Nr. ${partnerNumber} – nur lesen, nichts ändern. Wie das geht, steht in der Entwicklerdokumentation der Schnittstelle.`),
    fresh,
    element,
    h("h3", null, "Ihre Zugangsschlüssel"),
    list,
    status,
  );
  return section;
}
