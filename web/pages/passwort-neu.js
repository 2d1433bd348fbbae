// Link from the reset e-mail (/passwort-neu#token=…) → POST /api/identity/password-resets/complete.
import * as api from "../api.js";
import { h, link } from "../dom.js";
import { form, onSubmit, passwordProblems, submitButton } from "../forms.js";
import { accountField, inspectedLink, newPasswordFields, showExpired } from "../passwords.js";

const AGAIN = ["/passwort-vergessen", "Neuen Link anfordern"];

export default async function render(ctx) {
  const opened = await inspectedLink(ctx, AGAIN, () => render(ctx));
  if (!opened) return;
  const { token, info } = opened;
  if (info.purpose !== "reset") {
    ctx.navigate("/zugang/bestaetigen", { replace: true, state: { token } });
    return;
  }
  const element = form(
    null,
    accountField(info.email),
    ...newPasswordFields(),
    h("div", { class: "form__actions" }, submitButton("Passwort speichern")),
  );
  onSubmit(
    element,
    async (data) => {
      await api.completeReset(token, data.password);
      history.replaceState(null, "", location.pathname);
      api.setSession(null); // a reset ends every session
      ctx.show(
        "Ihr Passwort ist geändert",
        h("div", { class: "notice notice--success" }, h("p", null, "Ihr neues Passwort ist gespeichert. Aus Sicherheitsgründen sind Sie überall abgemeldet.")),
        h("p", null, link("/anmelden", "Jetzt anmelden", { class: "button-link" })),
      );
    },
    {
      check: (data) => passwordProblems(data, "password", "password_repeat"),
      fallbackField: "password",
      onError: (error) => {
        if (error.status !== 410) return false;
        showExpired(ctx, error.message, AGAIN);
        return true;
      },
    },
  );
  ctx.show("Neues Passwort vergeben", h("p", { class: "lead" }, "Vergeben Sie ein neues Passwort für Ihren Zugang."), element);
}
