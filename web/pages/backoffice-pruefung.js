// Back-office review: requests in_review with their reason; approve with a master-data record (partners
// chosen by checkbox) or reject with a reason.
import * as api from "../api.js";
import { customerName, dateTime, placeOf, requireStaff, staffBar, streetOf } from "../backoffice.js";
import { h, notice, uniqueId } from "../dom.js";
import { clearErrors, form, showApiError, showErrors, showMessage } from "../forms.js";
import { roleLabel } from "../labels.js";

/** A labelled input with an id unique on the page (several requests, one form each). */
function input(name, text, { value, hint, multiline = false } = {}) {
  const id = uniqueId(`bo-${name}`);
  const hintId = hint ? `${id}-hint` : null;
  const control = h(multiline ? "textarea" : "input", {
    id,
    name,
    type: multiline ? null : "text",
    rows: multiline ? 2 : null,
    class: ["field__input", "field__input--medium"],
    required: true,
    autocomplete: "off",
    "aria-describedby": hintId,
    dataset: { label: text },
  });
  if (value) control.value = value;
  return h(
    "div",
    { class: "field" },
    h("div", { class: "field__labelline" }, h("label", { class: "field__label", for: id }, text), h("span", { class: "field__req" }, " (Pflichtfeld)")),
    hint ? h("p", { class: "field__hint", id: hintId }, hint) : null,
    control,
  );
}

async function guarded(ctx, formElement, action) {
  if (formElement.getAttribute("aria-busy") === "true") return;
  formElement.setAttribute("aria-busy", "true");
  try {
    await action();
  } catch (error) {
    if (!ctx.isCurrent()) return;
    if (error instanceof api.ApiError) showApiError(formElement, error); // 422: the server's message at each field
    else {
      console.error(error);
      showMessage(formElement, "Das hat leider nicht geklappt. Bitte laden Sie die Seite neu.");
    }
  } finally {
    formElement.removeAttribute("aria-busy");
  }
}

function partnersList(record) {
  const groupId = uniqueId("bo-partner");
  return h(
    "fieldset",
    { class: "fieldset", "aria-describedby": `${groupId}-hint` },
    h("legend", { class: "fieldset__legend" }, `Geschäftspartner zur Zählernummer ${record.meter_number}`),
    h(
      "p",
      { class: "field__hint", id: `${groupId}-hint` },
      `Anschlussobjekt: ${streetOf(record.connection_address)}, ${placeOf(record.connection_address)}. Angehakte Partner bekommen ihre Nummer im Brief.`,
    ),
    record.partners.map((p, i) => {
      const id = `${groupId}-${i}`;
      return h(
        "div",
        { class: "checkbox" },
        h("input", { id, type: "checkbox", name: "partner_numbers", value: p.partner_number, class: "checkbox__input", checked: true }),
        h(
          "label",
          { class: "checkbox__label", for: id },
          `${p.partner_number} – ${roleLabel(p.role)} – ${p.name}, ${streetOf(p.postal_address)}, ${placeOf(p.postal_address)}`,
        ),
      );
    }),
  );
}

function approveForm(ctx, request, done) {
  const meter = input("meter_number", "Zählernummer laut Stammdaten", {
    value: request.meter_number,
    hint: "Die Zählernummer des Stammdatensatzes, zu dem der Antrag gehört.",
  });
  const meterInput = meter.querySelector("input");
  const partners = h("div", { class: "backoffice-partners", "aria-live": "polite" });
  let loaded = null; // the master-data record shown, or null
  const show = h("button", { type: "button", class: "button button--secondary" }, "Stammdaten anzeigen");
  const element = form(
    { "aria-label": `Freigeben: ${customerName(request.customer)}` },
    meter,
    h("div", { class: "form__actions" }, show),
    partners,
    h("div", { class: "form__actions" }, h("button", { type: "submit", class: "button" }, "Freigeben")),
  );
  const load = async () => {
    const number = meterInput.value.trim();
    if (!number) {
      showErrors(element, [{ field: "meter_number", message: "Bitte geben Sie die Zählernummer laut Stammdaten an." }]);
      return null;
    }
    clearErrors(element);
    let record;
    try {
      record = await api.meterPoint(number);
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 404) {
        loaded = null;
        partners.replaceChildren();
        showErrors(element, [{ field: "meter_number", message: error.message }]);
        return null;
      }
      throw error;
    }
    loaded = record;
    partners.replaceChildren(partnersList(record));
    return record;
  };
  show.addEventListener("click", () => guarded(ctx, element, load));
  meterInput.addEventListener("input", () => {
    loaded = null;
    partners.replaceChildren();
  });
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(ctx, element, async () => {
      if (!loaded) {
        if (!(await load())) return;
        showMessage(element, "Bitte prüfen Sie die Stammdaten und die angehakten Geschäftspartner, dann wählen Sie noch einmal „Freigeben“.");
        return;
      }
      const chosen = [...element.querySelectorAll("input[name=partner_numbers]:checked")].map((c) => c.value);
      if (!chosen.length) {
        showMessage(element, "Bitte haken Sie mindestens einen Geschäftspartner an.");
        return;
      }
      await api.approveRequest(request.request_id, loaded.meter_number, chosen);
      done(`Der Antrag von ${customerName(request.customer)} ist freigegeben. Der Brief geht in Auftrag.`);
    });
  });
  return element;
}

function rejectForm(ctx, request, done) {
  const element = form(
    { "aria-label": `Ablehnen: ${customerName(request.customer)}` },
    input("reason", "Grund", { multiline: true, hint: "Mindestens 3 Zeichen. Der Grund steht im Antrag." }),
    h("div", { class: "form__actions" }, h("button", { type: "submit", class: "button button--danger" }, "Ablehnen")),
  );
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(ctx, element, async () => {
      const reason = element.elements.namedItem("reason").value.trim();
      if (reason.length < 3) {
        showErrors(element, [{ field: "reason", message: "Bitte geben Sie einen Grund an (mindestens 3 Zeichen)." }]);
        return;
      }
      await api.rejectRequest(request.request_id, reason);
      done(`Der Antrag von ${customerName(request.customer)} ist abgelehnt.`);
    });
  });
  return element;
}

function card(ctx, request, done) {
  const headingId = uniqueId("bo-antrag");
  const c = request.customer || {};
  return h(
    "article",
    { class: "panel backoffice-request", "aria-labelledby": headingId, dataset: { request: request.request_id } },
    h("h2", { id: headingId }, `${customerName(c)} – Zähler ${request.meter_number}`),
    h(
      "dl",
      { class: "backoffice-facts" },
      h("dt", null, "Grund der Prüfung"),
      h("dd", null, request.note || "–"),
      h("dt", null, "Eingegangen"),
      h("dd", null, dateTime(request.created_at)),
      h("dt", null, "Postanschrift laut Antrag"),
      h("dd", null, `${streetOf(c.postal_address)}, ${placeOf(c.postal_address)}`),
      c.connection_address ? h("dt", null, "Anschlussobjekt laut Antrag") : null,
      c.connection_address ? h("dd", null, `${streetOf(c.connection_address)}, ${placeOf(c.connection_address)}`) : null,
    ),
    h("h3", null, "Freigeben"),
    approveForm(ctx, request, done),
    h("h3", null, "Ablehnen"),
    rejectForm(ctx, request, done),
  );
}

export default async function render(ctx, message = null) {
  if (!(await requireStaff(ctx))) return;
  const requests = await api.staffRequests({ status: "in_review" });
  if (!ctx.isCurrent()) return;
  const done = (text) => {
    ctx.announce(text);
    render(ctx, text);
  };
  ctx.show(
    "Prüfung",
    staffBar(ctx),
    message ? notice("success", h("p", null, message)) : null,
    h("p", { class: "lead" }, `${requests.length} ${requests.length === 1 ? "Antrag wartet" : "Anträge warten"} auf Prüfung.`),
    ...(requests.length ? requests.map((r) => card(ctx, r, done)) : [notice("info", h("p", null, "Zurzeit ist kein Antrag in Prüfung."))]),
  );
}
