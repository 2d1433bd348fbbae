// Set-up link of a new (or reset) staff member (/backoffice/einrichten#token=…): the authenticator app's secret,
// a password and the first code → POST /api/identity/staff/setup/complete; then the recovery codes, shown once.
import * as api from "../api.js";
import { LOGIN } from "../backoffice.js";
import { h, link, notice } from "../dom.js";
import { field, form, onSubmit, showErrors, submitButton } from "../forms.js";

function tokenOf() {
  return new URLSearchParams(location.hash.slice(1)).get("token") || "";
}

export default async function render(ctx) {
  const token = tokenOf();
  let info;
  try {
    info = await api.inspectStaffSetup(token);
  } catch (error) {
    if (!ctx.isCurrent()) return;
    if (error.status !== 410 && error.status !== 422) throw error;
    ctx.show("Back-Office: Zugang einrichten", notice("warning", h("p", null, error.status === 410 ? error.message : "Dieser Link ist unvollständig. Bitte öffnen Sie ihn direkt aus der E-Mail.")));
    return;
  }
  if (!ctx.isCurrent()) return;
  const element = form(
    null,
    h("p", null, `Zugang für ${info.name} (${info.email}), ${info.role_label}.`),
    h("p", null, "1. Tragen Sie in Ihrer Authenticator-App diesen Schlüssel ein (Typ: zeitbasiert, 6 Ziffern, 30 Sekunden):"),
    h("p", null, h("code", { class: "setup-secret" }, info.totp_secret), " · ", h("a", { href: info.otpauth_uri }, "In der App öffnen")),
    field({ name: "password", label: "2. Passwort (mindestens 12 Zeichen)", type: "password", autocomplete: "new-password", width: "medium" }),
    field({ name: "code", label: "3. Aktueller Code aus der App", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 10, width: "medium" }),
    h("div", { class: "form__actions" }, submitButton("Zugang einrichten")),
  );
  onSubmit(
    element,
    async (data) => {
      const done = await api.completeStaffSetup(token, data.password, data.code);
      history.replaceState(null, "", location.pathname); // the link is used: out of the address bar
      ctx.show(
        "Back-Office: Zugang eingerichtet",
        notice("success", h("p", null, "Ihr Zugang ist eingerichtet.")),
        h("p", null, "Ihre Wiederherstellungscodes – jeder gilt einmal, falls Sie Ihr Telefon nicht zur Hand haben. Bitte sicher aufbewahren:"),
        h("ul", { class: "recovery-codes" }, done.recovery_codes.map((code) => h("li", null, h("code", null, code)))),
        h("p", null, link(LOGIN, "Zur Anmeldung")),
      );
    },
    {
      onError: (error) => {
        if (error.status !== 422) return false;
        const fieldName = error.message.includes("Code") ? "code" : "password";
        showErrors(element, [{ field: fieldName, message: error.message }]);
        return true;
      },
    },
  );
  ctx.show("Back-Office: Zugang einrichten", element);
}
