// Back-office login: e-mail, password and the code of the authenticator app (TOTP). The session is a cookie of
// identity (__Host-plusportal-staff-session); the pages fetch short-lived staff tokens from it (api.js).
import * as api from "../api.js";
import { LOGIN } from "../backoffice.js";
import { h, link, notice } from "../dom.js";
import { field, form, onSubmit, showErrors, submitButton } from "../forms.js";

function target(ctx) {
  const next = ctx.params.get("weiter") || "";
  return next.startsWith("/backoffice") && !next.startsWith(LOGIN) ? next : "/backoffice";
}

export default async function render(ctx) {
  const signedIn = api.staffSession() || (await api.loadStaffSession());
  if (!ctx.isCurrent()) return;
  if (signedIn) {
    const logout = h("button", { type: "button", class: "button button--secondary" }, "Abmelden");
    logout.addEventListener("click", async () => {
      await api.staffLogout();
      ctx.navigate(`${LOGIN}?abgemeldet=1`, { replace: true });
    });
    ctx.show(
      "Back-Office: angemeldet",
      h("p", null, `Sie sind als ${signedIn.name} (${signedIn.role_label}) angemeldet. `, link("/backoffice", "Zur Übersicht")),
      logout,
    );
    return;
  }
  const element = form(
    null,
    field({ name: "email", label: "E-Mail-Adresse", type: "email", autocomplete: "username", width: "medium" }),
    field({ name: "password", label: "Passwort", type: "password", autocomplete: "current-password", width: "medium" }),
    field({
      name: "code",
      label: "Code aus der Authenticator-App",
      inputmode: "numeric",
      autocomplete: "one-time-code",
      maxlength: 20,
      width: "medium",
      hint: "Sechs Ziffern, sie wechseln alle 30 Sekunden. Ohne Ihr Telefon: einer Ihrer Wiederherstellungscodes.",
    }),
    h("div", { class: "form__actions" }, submitButton("Anmelden")),
  );
  onSubmit(
    element,
    async (data) => {
      await api.staffLogin(data.email, data.password, data.code);
      ctx.navigate(target(ctx), { replace: true });
    },
    {
      onError: (error) => {
        if (error.status !== 401) return false;
        showErrors(element, [{ field: "code", message: "E-Mail-Adresse, Passwort oder Code stimmt nicht." }], "Anmeldung nicht möglich");
        return true;
      },
    },
  );
  let info = null;
  if (ctx.params.get("abgemeldet")) info = notice("success", h("p", null, "Sie sind vom Back-Office abgemeldet."));
  else if (ctx.params.get("abgelaufen")) info = notice("warning", h("p", null, "Ihre Anmeldung ist abgelaufen. Bitte melden Sie sich neu an."));
  ctx.show(
    "Back-Office: Anmelden",
    info,
    h("p", { class: "lead" }, "Für Mitarbeiterinnen und Mitarbeiter des Netzbetreibers. Ihren Zugang richtet Ihre Administration ein."),
    element,
  );
}
