// Back-office: returned or failed letters (tasks) — mark them done once handled.
import * as api from "../api.js";
import { dateTime, requireStaff, staffBar, table } from "../backoffice.js";
import { h, notice } from "../dom.js";
import { LETTER_STATUS, label } from "../labels.js";

const KIND = { returned: "Brief zurück", failed: "Versand fehlgeschlagen" };

export default async function render(ctx, message = null) {
  if (!(await requireStaff(ctx))) return;
  const [tasks, letters] = await Promise.all([api.letterTasks(), api.letterJobs()]);
  if (!ctx.isCurrent()) return;
  const byId = new Map(letters.map((l) => [l.letter_id, l]));
  const status = h("div", { role: "status" });
  const rows = tasks.map((t) => {
    const letter = byId.get(t.letter_id);
    const reference = letter ? letter.reference : t.letter_id;
    const done = h("button", { type: "button", class: "button button--small" }, "Erledigt", h("span", { class: "visually-hidden" }, `: ${reference}`));
    done.addEventListener("click", async () => {
      if (done.getAttribute("aria-disabled") === "true") return;
      done.setAttribute("aria-disabled", "true");
      try {
        await api.resolveTask(t.task_id);
        ctx.announce(`Aufgabe zu ${reference} erledigt.`);
        render(ctx, `Die Aufgabe zu ${reference} ist erledigt.`);
      } catch (error) {
        done.removeAttribute("aria-disabled");
        if (ctx.isCurrent()) status.replaceChildren(notice("error", h("p", null, error.message)));
      }
    });
    return [
      reference,
      letter?.recipient ? `${letter.recipient.name}, ${letter.recipient.postcode} ${letter.recipient.city}` : "–",
      label(KIND, t.kind),
      t.reason,
      letter ? label(LETTER_STATUS, letter.status) : "–",
      dateTime(t.created_at),
      done,
    ];
  });
  ctx.show(
    "Rückläufer",
    staffBar(ctx),
    message ? notice("success", h("p", null, message)) : null,
    status,
    h("p", { class: "lead" }, `${tasks.length} offene ${tasks.length === 1 ? "Aufgabe" : "Aufgaben"}.`),
    tasks.length
      ? table("Offene Aufgaben zu Briefen", ["Referenz", "Empfänger", "Art", "Grund", "Briefstatus", "Gemeldet", "Aktion"], rows)
      : notice("info", h("p", null, "Keine offenen Rückläufer.")),
  );
}
