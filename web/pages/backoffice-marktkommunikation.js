// Back-office (admins and clerks): the MSCONS files received from market partners — who sent them, what was
// accepted and refused and why, the answers sent (CONTRL, APERAK) — and processing one again once the cause of
// its refusals is fixed (master data for its location arrived, say). The reasons come from meter data, in German.
import * as api from "../api.js";
import { dateTime, requireStaff, staffBar, table } from "../backoffice.js";
import { h, notice } from "../dom.js";

/** "2" of "<interchange reference>/2": the message's reference within its file. */
function messageOf(name) {
  return name.slice(name.lastIndexOf("/") + 1);
}

function cellList(items) {
  return h("ul", { class: "cell-list" }, items.map((item) => h("li", null, item)));
}

function cellLines(lines) {
  return h("div", null, lines.map((line) => h("p", { class: "cell-line" }, line)));
}

function refusal(refused) {
  return `Nachricht ${refused.message}: ${refused.aperak_code} – ${refused.reason} (Segment ${refused.segment})`;
}

function messages(entry) {
  if (entry.syntax_error) {
    const why = entry.syntax_reason ? `${entry.syntax_reason} – Fehlercode ${entry.syntax_error}` : `Fehlercode ${entry.syntax_error}`;
    return h("div", null, h("p", { class: "cell-line" }, "Ganze Datei abgelehnt (Syntaxfehler)"), h("p", { class: "hint" }, why));
  }
  return h(
    "div",
    null,
    h("p", { class: "cell-line" }, `${entry.messages_accepted} angenommen, ${entry.messages_refused} abgelehnt`),
    entry.refused.length ? cellList(entry.refused.map(refusal)) : null,
    entry.reprocessed ? h("p", { class: "hint" }, `${entry.reprocessed}× erneut verarbeitet`) : null,
  );
}

function answer(sent) {
  const text =
    sent.kind === "CONTRL"
      ? `CONTRL: ${sent.accepted ? "angenommen" : "abgelehnt"}`
      : `APERAK zu Nachricht ${sent.messages.map(messageOf).join(", ")}`;
  return `${text}, ${dateTime(sent.at)}`;
}

/** What the reprocess did, in a sentence or two for the clerk. */
function outcomeText(reference, outcome) {
  const stored = [];
  if (outcome.stored_days) stored.push(`${outcome.stored_days} ${outcome.stored_days === 1 ? "Tag" : "Tage"} Lastgang`);
  if (outcome.stored_registers) stored.push(`${outcome.stored_registers} ${outcome.stored_registers === 1 ? "Zählerstand" : "Zählerstände"}`);
  const parts = [`Übertragungsdatei ${reference}: ${outcome.message}`];
  if (stored.length) parts.push(`Gespeichert: ${stored.join(" und ")}.`);
  const still = outcome.interchange.refused;
  if (still.length) parts.push(`Grund: ${still.map(refusal).join("; ")}.`);
  return parts.join(" ");
}

export default async function render(ctx, outcome = null) {
  if (!(await requireStaff(ctx))) return;
  const entries = await api.interchanges();
  if (!ctx.isCurrent()) return;
  const status = h("div", { role: "status" });
  const rows = entries.map((entry) => {
    let action = "–";
    if (entry.reprocessable) {
      action = h("button", { type: "button", class: "button button--small" }, "Erneut verarbeiten", h("span", { class: "visually-hidden" }, `: Referenz ${entry.reference}`));
      action.addEventListener("click", async () => {
        if (action.getAttribute("aria-disabled") === "true") return;
        action.setAttribute("aria-disabled", "true");
        try {
          const done = await api.reprocessInterchange(entry.id);
          render(ctx, { kind: done.interchange.refused.length ? "warning" : "success", text: outcomeText(entry.reference, done) });
        } catch (error) {
          action.removeAttribute("aria-disabled");
          // 409 (nothing to do, or rejected for syntax) and 404 come with the reason in German.
          if (ctx.isCurrent()) status.replaceChildren(notice("error", h("p", null, `Übertragungsdatei ${entry.reference}: ${error.message}`)));
        }
      });
    }
    return [
      dateTime(entry.received_at),
      cellLines([
        `Absender (Marktpartner-ID): ${entry.sender || "–"}`,
        `Referenz: ${entry.reference || "–"}`,
        `Prüfidentifikator: ${entry.pruefidentifikatoren.join(", ") || "–"}`,
      ]),
      messages(entry),
      entry.answers.length ? cellList(entry.answers.map(answer)) : "–",
      action,
    ];
  });
  ctx.show(
    "Marktkommunikation",
    staffBar(ctx),
    outcome ? notice(outcome.kind, h("p", null, outcome.text)) : null,
    status,
    h(
      "p",
      { class: "lead" },
      "Empfangene Übertragungsdateien mit Messwerten (MSCONS), neueste zuerst, und die Antworten an den Absender: " +
        "CONTRL bestätigt oder lehnt die Datei ab, APERAK nennt abgelehnte Nachrichten. Ist die Ursache einer Ablehnung " +
        "behoben (zum Beispiel Stammdaten zur Lokation eingetroffen), verarbeiten Sie die Datei erneut; bereits " +
        "Übernommenes zählt nicht doppelt.",
    ),
    rows.length
      ? table(
          "Empfangene Übertragungsdateien",
          ["Empfangen am", "Übertragungsdatei", "Nachrichten", "Antworten", "Aktion"],
          rows,
        )
      : notice("info", h("p", null, "Noch keine Übertragungsdateien empfangen.")),
  );
}
