// Request form for the Geschäftspartner-Nr. Netz → POST /api/onboarding/requests → confirmation page.
import * as api from "../api.js";
import { h, link } from "../dom.js";
import { checkbox, field, fieldset, form, onSubmit, submitButton } from "../forms.js";

function address(prefix, hiddenSuffix) {
  return [
    h(
      "div",
      { class: "field-row" },
      field({ name: `${prefix}.street`, label: "Straße", hiddenSuffix, autocomplete: prefix === "postal_address" ? "address-line1" : "off", width: "medium" }),
      field({ name: `${prefix}.house_number`, label: "Hausnummer", hiddenSuffix, width: "short", autocomplete: "off" }),
    ),
    h(
      "div",
      { class: "field-row" },
      field({
        name: `${prefix}.postcode`,
        label: "PLZ", hiddenSuffix,
        inputmode: "numeric",
        maxlength: 5,
        width: "short",
        autocomplete: prefix === "postal_address" ? "postal-code" : "off",
      }),
      field({ name: `${prefix}.city`, label: "Ort", hiddenSuffix, autocomplete: prefix === "postal_address" ? "address-level2" : "off", width: "medium" }),
    ),
  ];
}

function addressOf(data, prefix) {
  return {
    street: data[`${prefix}.street`],
    house_number: data[`${prefix}.house_number`],
    postcode: data[`${prefix}.postcode`],
    city: data[`${prefix}.city`],
  };
}

function postcodeProblems(data) {
  const problems = [];
  for (const prefix of ["postal_address", "connection_address"]) {
    const value = data[`${prefix}.postcode`];
    if (value && !/^\d{5}$/.test(value)) problems.push({ field: `${prefix}.postcode`, message: "Die Postleitzahl hat 5 Ziffern." });
  }
  return problems;
}

export default function render(ctx) {
  const submissionId = crypto.randomUUID(); // once per form load: a repeated submit is the same request
  const connection = h("div", { class: "reveal", id: "anschlussobjekt", hidden: true }, fieldset("Anschlussobjekt (wo der Zähler eingebaut ist)", ...address("connection_address", " des Anschlussobjekts")));

  const honeypot = h(
    "div",
    { class: "hp", "aria-hidden": "true" },
    h("label", { for: "f-website" }, "Website (bitte leer lassen)"),
    h("input", { id: "f-website", name: "website", type: "text", tabindex: "-1", autocomplete: "off" }),
  );

  const element = form(
    null,
    h("p", { class: "form__intro" }, "Felder mit „Pflichtfeld“ brauchen wir, um Sie in unseren Daten zu finden. Angaben mit „freiwillig“ können Sie weglassen."),
    fieldset(
      "Ihr Name",
      h("div", { class: "field-row" }, field({ name: "first_name", label: "Vorname", autocomplete: "given-name", width: "medium" }), field({ name: "last_name", label: "Nachname", autocomplete: "family-name", width: "medium" })),
    ),
    fieldset("Ihre Postanschrift", ...address("postal_address", "")),
    checkbox({
      name: "connection_differs",
      label: "Anschlussobjekt weicht ab",
      hint: "Ankreuzen, wenn der Zähler an einer anderen Adresse eingebaut ist als Ihre Postanschrift (z. B. Ferienhaus, vermietete Wohnung).",
      onChange: (checked) => {
        connection.hidden = !checked;
      },
    }),
    connection,
    fieldset(
      "Ihr Zähler",
      field({
        name: "meter_number",
        label: "Zählernummer",
        hint: "Steht auf dem Zähler und auf Ihrer Stromrechnung, z. B. 1EMH 0005 9390 68. Leerzeichen sind erlaubt.",
        autocomplete: "off",
        spellcheck: "false",
        width: "medium",
      }),
    ),
    fieldset(
      "So erreichen wir Sie",
      field({ name: "email", label: "E-Mail", type: "email", autocomplete: "email", hint: "An diese Adresse schicken wir eine Kopie Ihrer Anfrage.", spellcheck: "false" }),
      field({ name: "phone", label: "Telefon", type: "tel", autocomplete: "tel", required: false, hint: "Nur für Rückfragen." }),
    ),
    honeypot,
    h("p", { class: "form__note" }, "Ihre Geschäftspartner-Nr. Netz schicken wir Ihnen per Post an die Anschrift, die bei uns hinterlegt ist."),
    h("div", { class: "form__actions" }, submitButton("Absenden")),
  );

  onSubmit(
    element,
    async (data) => {
      const differs = data.connection_differs === true;
      const answer = await api.submitRequest({
        submission_id: submissionId,
        first_name: data.first_name,
        last_name: data.last_name,
        postal_address: addressOf(data, "postal_address"),
        connection_address: differs ? addressOf(data, "connection_address") : null,
        meter_number: data.meter_number,
        email: data.email,
        phone: data.phone ? data.phone : null,
        website: element.elements.namedItem("website").value,
      });
      ctx.navigate("/antrag/gesendet", { state: { message: answer?.message || null } });
    },
    { check: postcodeProblems },
  );

  ctx.show(
    "Geschäftspartner-Nr. anfordern",
    h("p", { class: "lead" }, "Damit wir Ihnen Ihre Geschäftspartner-Nr. Netz schicken können, brauchen wir ein paar Angaben zu Ihnen und Ihrem Zähler."),
    element,
    h("p", null, "Sie haben den Brief schon? ", link("/zugang", "Dann beantragen Sie hier Ihren Zugang.")),
  );
}
