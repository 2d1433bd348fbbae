// Login → POST /api/identity/sessions; several partner numbers → /partner-waehlen.
import * as api from "../api.js";
import { h, link, notice } from "../dom.js";
import { field, form, onSubmit, showMessage, submitButton } from "../forms.js";

/** Only paths of this portal (no "//host", no scheme) are followed after login. */
function nextPath(params) {
  const next = params.get("weiter") || "";
  return /^\/(?!\/)[^\\]*$/.test(next) && !next.startsWith("/anmelden") ? next : "/verbrauch";
}

export default function render(ctx) {
  const next = nextPath(ctx.params);
  const element = form(
    null,
    field({ name: "email", label: "E-Mail", type: "email", autocomplete: "username", spellcheck: "false" }),
    field({ name: "password", label: "Passwort", type: "password", autocomplete: "current-password", width: "medium" }),
    h("div", { class: "form__actions" }, submitButton("Anmelden")),
  );
  onSubmit(
    element,
    async (data) => {
      const view = await api.login(data.email, data.password);
      if (view.choose_partner || !view.partner_number) {
        ctx.navigate(`/partner-waehlen?weiter=${encodeURIComponent(next)}`, { replace: true });
      } else {
        ctx.navigate(next, { replace: true });
      }
    },
    {
      onError: (error) => {
        if (error.status === 401) {
          showMessage(element, error.message, h("p", null, link("/passwort-vergessen", "Passwort vergessen?")));
          return true;
        }
        if (error.status === 429) {
          showMessage(element, error.message, h("p", null, link("/passwort-vergessen", "Passwort jetzt zurücksetzen")));
          return true;
        }
        return false;
      },
    },
  );

  let info = null;
  if (ctx.params.get("abgemeldet")) info = notice("success", h("p", null, "Sie haben sich abgemeldet. Bis bald!"));
  else if (ctx.params.get("abgelaufen")) info = notice("info", h("p", null, "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich neu an."));
  else if (ctx.params.get("weiter")) info = notice("info", h("p", null, "Bitte melden Sie sich an, um diese Seite zu sehen."));

  if (ctx.session()) {
    ctx.show(
      "Anmelden",
      notice("info", h("p", null, `Sie sind schon angemeldet als ${ctx.session().email}.`)),
      h("p", null, link("/verbrauch", "Zu Ihren Messwerten")),
    );
    return;
  }
  ctx.show(
    "Anmelden",
    info,
    element,
    h(
      "ul",
      { class: "link-list" },
      h("li", null, link("/passwort-vergessen", "Passwort vergessen?")),
      h("li", null, "Noch keinen Zugang? ", link("/zugang", "Zugang beantragen")),
    ),
  );
}
