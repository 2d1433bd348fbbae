// Form building blocks: visible labels, hints, required marks in text, errors next to the field
// (aria-invalid + aria-describedby) and an error summary (role="alert") that receives focus.

import { ApiError } from "./api.js";
import { h } from "./dom.js";

/** The id of the input for an API field name ("postal_address.postcode" → "f-postal_address-postcode"). */
export function idFor(name) {
  return `f-${name.replace(/[^A-Za-z0-9_-]/g, "-")}`;
}

function labelFor(id, label, required, readonly, hiddenSuffix) {
  // "(Pflichtfeld)" is visible text next to the label, not part of it: the field's name stays the plain
  // label ("Vorname"), and assistive technology says "required" from the input's required attribute.
  // "(freiwillig)" has no such attribute, so it is part of the label ("Telefon (freiwillig)").
  const suffix = hiddenSuffix ? h("span", { class: "visually-hidden" }, hiddenSuffix) : null;
  const optional = !required && !readonly ? h("span", { class: "field__opt" }, " (freiwillig)") : null;
  return h(
    "div",
    { class: "field__labelline" },
    h("label", { class: "field__label", for: id }, label, suffix, optional),
    required && !readonly ? h("span", { class: "field__req" }, " (Pflichtfeld)") : null,
  );
}

/**
 * A labelled input. options: name (the API field), label, type, required, autocomplete, hint,
 * inputmode, value, maxlength, width ("short" | "medium"), readonly, hiddenSuffix (label text for
 * screen readers only, e.g. " des Anschlussobjekts" where the fieldset legend says it visually).
 */
export function field(options) {
  const {
    name,
    label,
    type = "text",
    required = true,
    autocomplete,
    hint,
    inputmode,
    value,
    maxlength,
    width,
    readonly,
    spellcheck,
    hiddenSuffix,
  } = options;
  const id = idFor(name);
  const hintId = hint ? `${id}-hint` : null;
  const input = h("input", {
    id,
    name,
    type,
    class: ["field__input", width && `field__input--${width}`],
    autocomplete,
    inputmode,
    maxlength,
    required: required && !readonly,
    readonly,
    spellcheck,
    "aria-describedby": hintId,
    dataset: { label: hiddenSuffix ? label + hiddenSuffix : label },
  });
  if (value !== undefined && value !== null) input.value = value;
  return h(
    "div",
    { class: ["field", width && `field--${width}`] },
    labelFor(id, label, required, readonly, hiddenSuffix),
    hint ? h("p", { class: "field__hint", id: hintId }, hint) : null,
    input,
  );
}

/** A checkbox with its label to the right. onChange(checked) is called on every change. */
export function checkbox({ name, label, hint, checked = false, onChange }) {
  const id = idFor(name);
  const hintId = hint ? `${id}-hint` : null;
  const input = h("input", {
    id,
    name,
    type: "checkbox",
    class: "checkbox__input",
    checked,
    "aria-describedby": hintId,
    dataset: { label },
  });
  if (onChange) input.addEventListener("change", () => onChange(input.checked));
  return h(
    "div",
    { class: "checkbox" },
    input,
    h("label", { class: "checkbox__label", for: id }, label),
    hint ? h("p", { class: "field__hint checkbox__hint", id: hintId }, hint) : null,
  );
}

/** A group of fields with a visible legend. */
export function fieldset(legend, ...children) {
  return h("fieldset", { class: "fieldset" }, h("legend", { class: "fieldset__legend" }, legend), ...children);
}

export function button(text, props = {}) {
  return h("button", { type: "button", class: "button", ...props }, text);
}

export function submitButton(text) {
  return h("button", { type: "submit", class: "button" }, text);
}

/** A form with room for the error summary at the top; validation is ours (novalidate). */
export function form(props, ...children) {
  return h("form", { class: "form", novalidate: true, ...props }, h("div", { class: "form__summary" }), ...children);
}

// ---------------------------------------------------------------- errors

function isShown(element) {
  return !element.closest("[hidden]");
}

function inputFor(formElement, name) {
  const found = formElement.elements.namedItem(name);
  if (found instanceof HTMLElement && isShown(found)) return found;
  // "postal_address" (the whole object) → its first field
  const nested = [...formElement.elements].find((el) => el.name && el.name.startsWith(`${name}.`) && isShown(el));
  return nested || null;
}

function labelText(input) {
  return input.dataset.label || input.name;
}

export function clearErrors(formElement) {
  formElement.querySelector(".form__summary")?.replaceChildren();
  for (const message of formElement.querySelectorAll(".field__error")) message.remove();
  for (const input of formElement.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    const ids = (input.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && !x.endsWith("-error"));
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
    else input.removeAttribute("aria-describedby");
  }
  for (const wrapper of formElement.querySelectorAll(".field--error, .checkbox--error")) {
    wrapper.classList.remove("field--error", "checkbox--error");
  }
}

function markInvalid(input, message) {
  const errorId = `${input.id}-error`;
  if (document.getElementById(errorId)) return; // first message per field is enough
  const text = h("p", { class: "field__error", id: errorId }, h("span", { class: "visually-hidden" }, "Fehler: "), message);
  const wrapper = input.closest(".field, .checkbox");
  if (wrapper) {
    wrapper.classList.add(wrapper.classList.contains("checkbox") ? "checkbox--error" : "field--error");
    if (wrapper.classList.contains("checkbox")) wrapper.append(text);
    else input.before(text);
  } else {
    input.after(text);
  }
  input.setAttribute("aria-invalid", "true");
  const ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  input.setAttribute("aria-describedby", [...ids, errorId].join(" "));
}

// Server messages that come in English from libraries get a German text by field kind.
function germanMessage(input, error) {
  const english = /^[\x20-\x7e]+$/.test(error.message || "") && !/[äöüß]/i.test(error.message);
  if (input && input.type === "email" && (english || error.type === "value_error")) {
    return "Bitte geben Sie eine gültige E-Mail-Adresse an, z. B. name@beispiel.de.";
  }
  if (english && error.type === "missing") return "Pflichtfeld: bitte ausfüllen.";
  return error.message || "Bitte prüfen Sie diese Angabe.";
}

/**
 * Shows errors: next to each named field and in a summary that is announced and focused.
 * errors: [{field, message, type?}]; title: the summary's heading.
 */
export function showErrors(formElement, errors, title = "Bitte prüfen Sie Ihre Angaben") {
  clearErrors(formElement);
  const items = [];
  for (const error of errors) {
    const input = error.field ? inputFor(formElement, error.field) : null;
    const message = germanMessage(input, error);
    if (input) {
      markInvalid(input, message);
      const named = message.includes(labelText(input)) ? message : `${labelText(input)}: ${message}`;
      const jump = h("a", { href: `#${input.id}` }, named);
      jump.addEventListener("click", (event) => {
        event.preventDefault();
        input.focus();
      });
      items.push(h("li", null, jump));
    } else {
      items.push(h("li", null, message));
    }
  }
  const summary = h(
    "div",
    { class: "error-summary", role: "alert", tabindex: "-1" },
    h("h2", { class: "error-summary__title" }, title),
    items.length ? h("ul", { class: "error-summary__list" }, items) : null,
  );
  formElement.querySelector(".form__summary").replaceChildren(summary);
  summary.focus();
}

/** A single message in the summary (no field), e.g. wrong login, too many attempts, no connection. */
export function showMessage(formElement, title, ...extra) {
  clearErrors(formElement);
  const summary = h(
    "div",
    { class: "error-summary", role: "alert", tabindex: "-1" },
    h("h2", { class: "error-summary__title" }, title),
    ...extra,
  );
  formElement.querySelector(".form__summary").replaceChildren(summary);
  summary.focus();
}

/**
 * An ApiError on a form: 422 → the server's message at each field it names (a 422 without field list
 * goes to fallbackField, or the summary); everything else → the summary.
 */
export function showApiError(formElement, error, fallbackField = null) {
  if (error.status === 422) {
    const errors = error.errors.length ? error.errors : [{ field: fallbackField || null, message: error.message }];
    showErrors(formElement, errors);
  } else {
    showMessage(formElement, error.message);
  }
}

// ---------------------------------------------------------------- client-side checks

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** The values of the form's shown fields as {name: value} (checkboxes: boolean). */
export function values(formElement) {
  const result = {};
  for (const element of formElement.elements) {
    if (!element.name || !isShown(element)) continue;
    if (element.type === "checkbox") result[element.name] = element.checked;
    else if (element.type === "radio") {
      if (element.checked) result[element.name] = element.value; // a group: the chosen one's value
    }
    else if (element.type === "password") result[element.name] = element.value; // never changed
    else result[element.name] = element.value.trim();
  }
  return result;
}

/** Missing required fields and malformed e-mail addresses, as errors in the API's shape. */
export function basicProblems(formElement) {
  const problems = [];
  for (const element of formElement.elements) {
    if (!element.name || !isShown(element) || element.type === "checkbox" || element.readOnly) continue;
    const value = element.value.trim();
    if (element.required && !value) {
      problems.push({ field: element.name, message: `Bitte geben Sie „${labelText(element)}“ an.` });
    } else if (value && element.type === "email" && !EMAIL.test(value)) {
      problems.push({
        field: element.name,
        message: "Bitte geben Sie eine gültige E-Mail-Adresse an, z. B. name@beispiel.de.",
      });
    }
  }
  return problems;
}

/**
 * Wires a form: on submit, clear errors, run checks (basic + extra), then call submit(values).
 * API errors: 422 → at the fields (a 422 without field list goes to fallbackField);
 * everything else → the summary, unless onError(error) returns true (handled).
 */
export function onSubmit(formElement, submit, { check, fallbackField, onError } = {}) {
  let busy = false;
  formElement.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    const data = values(formElement);
    const problems = [...basicProblems(formElement), ...(check ? check(data) : [])];
    if (problems.length) {
      showErrors(formElement, problems);
      return;
    }
    clearErrors(formElement);
    busy = true;
    const buttons = [...formElement.querySelectorAll("button[type=submit]")];
    for (const b of buttons) b.setAttribute("aria-disabled", "true");
    formElement.setAttribute("aria-busy", "true");
    try {
      await submit(data);
    } catch (error) {
      if (!(error instanceof ApiError)) {
        console.error(error);
        showMessage(formElement, "Das hat leider nicht geklappt. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.");
      } else if (onError && onError(error)) {
        // handled by the page
      } else {
        showApiError(formElement, error, fallbackField);
      }
    } finally {
      busy = false;
      for (const b of buttons) b.removeAttribute("aria-disabled");
      formElement.removeAttribute("aria-busy");
    }
  });
}

/** Checks for a new password typed twice (12–128 characters, both the same). */
export function passwordProblems(data, name, repeatName) {
  const problems = [];
  const password = data[name] || "";
  if (password && [...password].length < 12) {
    problems.push({ field: name, message: "Das Passwort ist zu kurz: bitte mindestens 12 Zeichen." });
  } else if ([...password].length > 128) {
    problems.push({ field: name, message: "Das Passwort ist zu lang: höchstens 128 Zeichen." });
  }
  if (password && data[repeatName] !== undefined && data[repeatName] && data[repeatName] !== password) {
    problems.push({ field: repeatName, message: "Die beiden Passwörter stimmen nicht überein." });
  }
  return problems;
}
