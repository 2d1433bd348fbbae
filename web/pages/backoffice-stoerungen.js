// Back-office (admins): messages a service could not process (dead letters) — why, and replay once fixed.
import * as api from "../api.js";
import { dateTime, requireStaff, staffBar, table } from "../backoffice.js";
import { h, notice } from "../dom.js";

const SERVICE = { onboarding: "Antragseingang", letters: "Briefe", identity: "Zugang", meterdata: "Messwerte" };

export default async function render(ctx, message = null) {
  if (!(await requireStaff(ctx))) return;
  const lists = await Promise.all(
    api.DEAD_LETTER_SERVICES.map((service) =>
      api.deadLetters(service).then(
        (entries) => ({ service, entries }),
        (error) => ({ service, entries: [], error }),
      ),
    ),
  );
  if (!ctx.isCurrent()) return;
  const refused = lists.find((list) => list.error?.status === 403);
  if (refused) {
    // The service's 403 text is generic; say plainly who may see this page.
    ctx.show("Störungen", staffBar(ctx), notice("info", h("p", null, "Störungen sehen nur Administratorinnen und Administratoren Ihres Netzbetreibers. Bitte wenden Sie sich an Ihre Administration.")));
    return;
  }
  const status = h("div", { role: "status" });
  const rows = lists.flatMap(({ service, entries }) =>
    entries.map((entry) => {
      const replay = h("button", { type: "button", class: "button button--small" }, "Erneut verarbeiten", h("span", { class: "visually-hidden" }, `: Nr. ${entry.id}`));
      replay.addEventListener("click", async () => {
        if (replay.getAttribute("aria-disabled") === "true") return;
        replay.setAttribute("aria-disabled", "true");
        try {
          const outcome = await api.replayDeadLetter(service, entry.id);
          render(ctx, outcome.handled ? "Die Nachricht wurde erneut verarbeitet." : `Die Nachricht ist erneut fehlgeschlagen. Grund: ${outcome.reason}`);
        } catch (error) {
          replay.removeAttribute("aria-disabled");
          if (ctx.isCurrent()) status.replaceChildren(notice("error", h("p", null, error.message)));
        }
      });
      return [
        SERVICE[service],
        entry.event_type || "–",
        entry.reason,
        `${entry.failures}×, zuletzt ${dateTime(entry.last_dead_lettered_at)}`,
        entry.replayed_at ? `${dateTime(entry.replayed_at)} (${entry.replayed_by})` : "–",
        replay,
      ];
    }),
  );
  const failed = lists.filter((list) => list.error);
  ctx.show(
    "Störungen",
    staffBar(ctx),
    message ? notice("info", h("p", null, message)) : null,
    status,
    failed.length
      ? notice("warning", h("p", null, `Nicht erreichbar: ${failed.map((list) => SERVICE[list.service]).join(", ")}. Bitte später erneut laden.`))
      : null,
    h("p", { class: "lead" }, "Nachrichten, die ein Dienst nicht verarbeiten konnte. Ist die Ursache behoben, verarbeiten Sie sie erneut; bereits Verarbeitetes zählt nicht doppelt."),
    rows.length
      ? table("Nicht verarbeitete Nachrichten", ["Dienst", "Art", "Grund", "Fehlgeschlagen", "Erneut verarbeitet", "Aktion"], rows)
      : notice("info", h("p", null, "Keine Störungen.")),
  );
}
