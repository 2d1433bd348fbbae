// Account: linked partner numbers, add one, signed-in devices, personal keys, grants to third parties, change
// password, download my data, delete my login.
import * as api from "../api.js";
import { h, link, notice } from "../dom.js";
import { field, form, onSubmit, passwordProblems, showErrors, submitButton } from "../forms.js";
import { partnerStatus, roleLabel } from "../labels.js";
import { PASSWORD_HINT } from "../passwords.js";
import { grantsSection } from "../grants.js";
import { tokensSection } from "../tokens.js";

function partnersSection(view) {
  return h(
    "section",
    { class: "panel", "aria-labelledby": "konto-partner" },
    h("h2", { id: "konto-partner" }, "Ihre Geschäftspartner-Nummern"),
    h(
      "table",
      { class: "table" },
      h("caption", { class: "visually-hidden" }, "Geschäftspartner-Nummern Ihres Zugangs"),
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Geschäftspartner-Nr."), h("th", { scope: "col" }, "Art"), h("th", { scope: "col" }, "Stand"), h("th", { scope: "col" }, "Gerade gewählt"))),
      h(
        "tbody",
        null,
        view.partners.map((p) =>
          h("tr", null, h("th", { scope: "row" }, p.partner_number), h("td", null, roleLabel(p.role)), h("td", null, partnerStatus(p)), h("td", null, p.partner_number === view.partner_number ? "ja" : "nein")),
        ),
      ),
    ),
    view.partners.some((p) => p.moved_out)
      ? h("p", { class: "hint" }, "Nach einem Auszug sehen Sie Ihre Messwerte bis zum letzten Tag Ihres Vertrags – die Tage danach gehören nicht mehr zu Ihrer Geschäftspartner-Nr.")
      : null,
    h("p", null, link("/zugang", "Geschäftspartner-Nr. hinzufügen")),
    h("p", { class: "hint" }, "Sie haben einen weiteren Brief mit einer Geschäftspartner-Nr. bekommen, zum Beispiel für Ihre Solaranlage? Beantragen Sie den Zugang mit derselben E-Mail-Adresse und bestätigen Sie mit Ihrem Passwort."),
  );
}

function passwordSection(ctx) {
  const element = form(
    null,
    field({ name: "current_password", label: "Bisheriges Passwort", type: "password", autocomplete: "current-password", width: "medium" }),
    field({ name: "new_password", label: "Neues Passwort", type: "password", autocomplete: "new-password", hint: PASSWORD_HINT, width: "medium" }),
    field({ name: "new_password_repeat", label: "Neues Passwort wiederholen", type: "password", autocomplete: "new-password", width: "medium" }),
    h("div", { class: "form__actions" }, submitButton("Passwort ändern")),
  );
  const result = h("div");
  onSubmit(
    element,
    async (data) => {
      await api.changePassword(data.current_password, data.new_password);
      element.reset();
      result.replaceChildren(notice("success", h("p", null, "Ihr Passwort ist geändert. Andere Anmeldungen (zum Beispiel auf anderen Geräten) sind beendet.")));
      ctx.announce("Ihr Passwort ist geändert.");
    },
    {
      check: (data) => passwordProblems(data, "new_password", "new_password_repeat"),
      fallbackField: "new_password",
      onError: (error) => {
        if (error.status !== 400) return false;
        showErrors(element, [{ field: "current_password", message: error.message }]);
        return true;
      },
    },
  );
  return h("section", { class: "panel", "aria-labelledby": "konto-passwort" }, h("h2", { id: "konto-passwort" }, "Passwort ändern"), result, element);
}

function exportSection(ctx) {
  const status = h("div", { role: "status", class: "status-line" });
  const download = h("button", { type: "button", class: "button button--secondary" }, "Meine Daten herunterladen");
  download.addEventListener("click", async () => {
    status.textContent = "";
    try {
      await api.downloadAccountData();
      status.textContent = "Die Datei mit Ihren Daten wurde heruntergeladen.";
    } catch (error) {
      if (ctx.isCurrent()) status.replaceChildren(notice("error", h("p", null, error.message)));
    }
  });
  return h(
    "section",
    { class: "panel", "aria-labelledby": "konto-export" },
    h("h2", { id: "konto-export" }, "Meine Daten herunterladen"),
    h("p", null, "Sie bekommen alle Daten, die wir zu Ihrem Zugang speichern, als Datei (JSON) – so wie es die Datenschutz-Grundverordnung vorsieht."),
    download,
    status,
  );
}

function deleteSection(ctx) {
  const element = form(
    null,
    field({ name: "password", label: "Ihr Passwort zur Bestätigung", type: "password", autocomplete: "current-password", width: "medium" }),
    h("div", { class: "form__actions" }, h("button", { type: "submit", class: "button button--danger" }, "Zugang löschen")),
  );
  onSubmit(
    element,
    async (data) => {
      await api.deleteAccount(data.password);
      ctx.show(
        "Ihr Zugang ist gelöscht",
        notice("success", h("p", null, "Ihr Zugang zum Kundenportal ist gelöscht und Sie sind abgemeldet.")),
        h("p", null, "Ihre Messwerte und Ihre Geschäftspartner-Nr. bleiben bei uns als Netzbetreiber erhalten. Sie können jederzeit wieder einen Zugang beantragen."),
        h("p", null, link("/", "Zur Startseite")),
      );
    },
    {
      fallbackField: "password",
      onError: (error) => {
        if (error.status !== 400) return false;
        showErrors(element, [{ field: "password", message: error.message }]);
        return true;
      },
    },
  );
  return h(
    "section",
    { class: "panel panel--danger", "aria-labelledby": "konto-loeschen" },
    h("h2", { id: "konto-loeschen" }, "Zugang löschen"),
    h("p", null, "Damit löschen Sie Ihre Anmeldung (E-Mail-Adresse und Passwort) bei diesem Kundenportal. Das lässt sich nicht rückgängig machen."),
    element,
  );
}

function when(iso) {
  return new Date(iso).toLocaleString("de-DE", { dateStyle: "medium", timeStyle: "short" });
}

function sessionsSection() {
  const body = h("tbody");
  const status = h("p", { role: "status" });
  const table = h(
    "table",
    null,
    h("caption", null, "Wo Sie gerade angemeldet sind"),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, "Gerät / Browser"), h("th", { scope: "col" }, "Angemeldet seit"), h("th", { scope: "col" }, "Zuletzt aktiv"))),
    body,
  );
  async function load() {
    const sessions = await api.accountSessions();
    body.replaceChildren(
      ...sessions.map((item) =>
        h("tr", null, h("td", null, (item.user_agent || "unbekannt").slice(0, 80), item.current ? " (dieses Gerät)" : ""), h("td", null, when(item.created_at)), h("td", null, when(item.last_seen_at))),
      ),
    );
  }
  const button = h("button", { type: "button", class: "button button--secondary" }, "Auf allen anderen Geräten abmelden");
  button.addEventListener("click", async () => {
    await api.endOtherSessions();
    status.textContent = "Alle anderen Anmeldungen wurden beendet.";
    await load();
  });
  load().catch(() => {
    status.textContent = "Die Liste der Anmeldungen konnte nicht geladen werden. Bitte laden Sie die Seite neu.";
  });
  return h(
    "section",
    { class: "panel", "aria-labelledby": "konto-geraete" },
    h("h2", { id: "konto-geraete" }, "Angemeldete Geräte"),
    table,
    button,
    status,
  );
}

export default function render(ctx) {
  const view = ctx.session();
  ctx.show(
    "Ihr Konto",
    h("p", { class: "lead" }, "Angemeldet mit der E-Mail-Adresse ", h("strong", null, view.email), "."),
    partnersSection(view),
    sessionsSection(),
    tokensSection(ctx, view.partner_number),
    grantsSection(ctx, view.partner_number),
    passwordSection(ctx),
    exportSection(ctx),
    deleteSection(ctx),
  );
}
