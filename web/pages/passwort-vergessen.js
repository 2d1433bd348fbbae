// "Passwort vergessen": ask for a reset link → POST /api/identity/password-resets (same answer for every e-mail).
import * as api from "../api.js";
import { h, link } from "../dom.js";
import { field, form, onSubmit, submitButton } from "../forms.js";

export default function render(ctx) {
  const element = form(
    null,
    field({ name: "email", label: "E-Mail", type: "email", autocomplete: "email", hint: "Die E-Mail-Adresse, mit der Sie sich anmelden.", spellcheck: "false" }),
    h("div", { class: "form__actions" }, submitButton("Link anfordern")),
  );
  onSubmit(element, async (data) => {
    const answer = await api.requestReset(data.email);
    ctx.show(
      "Bitte prüfen Sie Ihr Postfach",
      h("div", { class: "notice notice--success" }, h("p", null, answer?.message || "Wenn zu dieser E-Mail-Adresse ein Zugang besteht, erhalten Sie in wenigen Minuten eine E-Mail mit einem Link zum Zurücksetzen.")),
      h("p", null, "Der Link gilt eine Stunde und nur einmal. Schauen Sie bitte auch im Spam-Ordner nach."),
      h("p", null, link("/anmelden", "Zur Anmeldung")),
    );
  });
  ctx.show(
    "Passwort vergessen",
    h("p", { class: "lead" }, "Kein Problem. Wir schicken Ihnen einen Link, mit dem Sie ein neues Passwort vergeben."),
    element,
    h("p", null, link("/anmelden", "Zurück zur Anmeldung")),
  );
}
