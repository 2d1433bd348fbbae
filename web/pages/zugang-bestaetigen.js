// Link from the confirmation e-mail (/zugang/bestaetigen#token=…): set the password (first partner number)
// or confirm with the existing one (a further partner number) → POST /api/identity/access-requests/complete.
import * as api from "../api.js";
import { h, link } from "../dom.js";
import { field, form, onSubmit, passwordProblems, showErrors, submitButton } from "../forms.js";
import { accountField, inspectedLink, newPasswordFields, showExpired } from "../passwords.js";

const AGAIN = ["/zugang", "Zugang neu beantragen"];

export default async function render(ctx) {
  const opened = await inspectedLink(ctx, AGAIN, () => render(ctx));
  if (!opened) return;
  const { token, info } = opened;
  if (info.purpose === "reset") {
    ctx.navigate("/passwort-neu", { replace: true, state: { token } });
    return;
  }
  if (info.needs === "current_password") confirmWithPassword(ctx, token, info);
  else setPassword(ctx, token, info);
}

function onLinkError(ctx, element) {
  return (error) => {
    if (error.status === 410) {
      showExpired(ctx, error.message, AGAIN);
      return true;
    }
    if (error.status === 400) {
      showErrors(element, [{ field: "password", message: error.message }]);
      return true;
    }
    return false;
  };
}

function setPassword(ctx, token, info) {
  const element = form(
    null,
    accountField(info.email),
    ...newPasswordFields(),
    h("div", { class: "form__actions" }, submitButton("Passwort speichern")),
  );
  onSubmit(
    element,
    async (data) => {
      await api.completeAccess(token, data.password);
      history.replaceState(null, "", location.pathname);
      ctx.show(
        "Ihr Zugang ist eingerichtet",
        h("div", { class: "notice notice--success" }, h("p", null, "Ihre E-Mail-Adresse ist bestätigt und Ihr Passwort gespeichert.")),
        h("p", null, link("/anmelden", "Jetzt anmelden", { class: "button-link" })),
      );
    },
    { check: (data) => passwordProblems(data, "password", "password_repeat"), fallbackField: "password", onError: onLinkError(ctx, element) },
  );
  ctx.show(
    "Passwort vergeben",
    h("p", { class: "lead" }, "Fast geschafft: Vergeben Sie ein Passwort für Ihren Zugang."),
    element,
  );
}

function confirmWithPassword(ctx, token, info) {
  const element = form(
    null,
    accountField(info.email),
    field({ name: "password", label: "Ihr Passwort", type: "password", autocomplete: "current-password", width: "medium" }),
    h("div", { class: "form__actions" }, submitButton("Bestätigen")),
  );
  onSubmit(
    element,
    async (data) => {
      await api.completeAccess(token, data.password);
      history.replaceState(null, "", location.pathname);
      let signedIn = null;
      try {
        signedIn = await api.loadSession(); // the header lists the new partner number at once
      } catch {
        signedIn = null;
      }
      ctx.show(
        "Geschäftspartner-Nr. hinzugefügt",
        h("div", { class: "notice notice--success" }, h("p", null, "Die weitere Geschäftspartner-Nr. gehört jetzt zu Ihrem Zugang. Wir haben Ihnen dazu eine E-Mail geschickt.")),
        h("p", null, signedIn ? link("/konto", "Zu Ihrem Konto", { class: "button-link" }) : link("/anmelden", "Jetzt anmelden", { class: "button-link" })),
      );
    },
    { fallbackField: "password", onError: onLinkError(ctx, element) },
  );
  ctx.show(
    "Mit Ihrem Passwort bestätigen",
    h("p", { class: "lead" }, "Zu dieser E-Mail-Adresse gibt es schon einen Zugang. Bestätigen Sie mit Ihrem Passwort, dass die weitere Geschäftspartner-Nr. dazugehören soll."),
    element,
    h("p", null, link("/passwort-vergessen", "Passwort vergessen?")),
  );
}
