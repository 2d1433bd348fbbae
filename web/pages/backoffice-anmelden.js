// Back-office login: the staff token is checked against the API and kept in sessionStorage only.
import * as api from "../api.js";
import { LOGIN } from "../backoffice.js";
import { h, link, notice } from "../dom.js";
import { field, form, onSubmit, showErrors, submitButton } from "../forms.js";

function target(ctx) {
  const next = ctx.params.get("weiter") || "";
  return next.startsWith("/backoffice") && !next.startsWith(LOGIN) ? next : "/backoffice";
}

export default function render(ctx) {
  if (api.staffToken()) {
    const logout = h("button", { type: "button", class: "button button--secondary" }, "Abmelden");
    logout.addEventListener("click", () => {
      api.setStaffToken(null);
      ctx.navigate(`${LOGIN}?abgemeldet=1`, { replace: true });
    });
    ctx.show("Back-Office: angemeldet", h("p", null, "Sie sind im Back-Office angemeldet. ", link("/backoffice", "Zur Übersicht")), logout);
    return;
  }
  const element = form(
    null,
    field({
      name: "token",
      label: "Mitarbeiter-Token",
      type: "password",
      autocomplete: "off",
      spellcheck: "false",
      width: "medium",
      hint: "Den Token bekommen Sie von der IT. Er bleibt nur in diesem Browserfenster, bis Sie sich abmelden.",
    }),
    h("div", { class: "form__actions" }, submitButton("Anmelden")),
  );
  onSubmit(
    element,
    async (data) => {
      await api.checkStaffToken(data.token);
      api.setStaffToken(data.token);
      ctx.navigate(target(ctx), { replace: true });
    },
    {
      onError: (error) => {
        if (error.status !== 401 && error.status !== 403) return false;
        showErrors(element, [{ field: "token", message: "Dieser Mitarbeiter-Token ist ungültig." }], "Anmeldung nicht möglich");
        return true;
      },
    },
  );
  let info = null;
  if (ctx.params.get("abgemeldet")) info = notice("success", h("p", null, "Sie sind vom Back-Office abgemeldet."));
  else if (ctx.params.get("abgelaufen")) info = notice("warning", h("p", null, "Ihr Mitarbeiter-Token wurde nicht angenommen. Bitte melden Sie sich neu an."));
  ctx.show("Back-Office: Anmelden", info, h("p", { class: "lead" }, "Für Mitarbeiterinnen und Mitarbeiter des Netzbetreibers."), element);
}
