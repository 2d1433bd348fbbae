// The "Aktuelle Werte" panel of the readings page (§61(2) MsbG: consumption information on request): the button
// "Aktuelle Werte abrufen" asks the metering point operator for the meter's values since the last delivery; the
// panel follows the request by its event stream (polling its state where the stream is not available) and, once
// the values have arrived, lets the page show them without a reload. It says how fresh the values are
// ("Stand: 14:30 Uhr", the newest register reading) and, when no answer came in time, says so plainly.

import * as api from "./api.js";
import { addDays, berlinDay, dayString, fmt, today } from "./dates.js";
import { h, notice } from "./dom.js";

const POLL_MS = 3000; // the fallback's pace when the event stream is not available

function freshnessText(readAt) {
  const at = new Date(readAt);
  const sameDay = dayString(berlinDay(at)) === dayString(today());
  return sameDay ? `Stand: ${fmt.time(at)} Uhr` : `Stand: ${fmt.dateTime(at)} Uhr`;
}

async function newestReading(partner) {
  const day = today();
  const answer = await api.registers(partner, { from: dayString(day), to: dayString(addDays(day, 1)) });
  return (answer.latest || []).map((r) => r.read_at).sort().pop() || null;
}

/** Follows a request until it is over (answered or timed out): the stream first, polling its state if need be. */
async function follow(partner, request, onState, isCurrent) {
  try {
    return await api.followCurrentValuesRequest(partner, request.id, onState);
  } catch (error) {
    if (error instanceof api.ApiError && error.status === 404) throw error;
  }
  let state = request;
  while (state.state === "open" && isCurrent()) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    state = await api.currentValuesRequest(partner, request.id);
    onState(state);
  }
  return state;
}

/**
 * The panel. `onArrived()` is called when the values have arrived (the page loads today's values again);
 * `isCurrent()` is false once the customer has left the page.
 */
export function currentValuesPanel(partner, onArrived, isCurrent) {
  const heading = h("h2", { id: "aktuelle-werte" }, "Aktuelle Werte");
  const freshness = h("p", { class: "lead", "data-testid": "freshness" });
  const status = h("div", { class: "status-line", role: "status", "aria-live": "polite" });
  const button = h("button", { type: "button", class: "button button--secondary" }, "Aktuelle Werte abrufen");
  const element = h(
    "section",
    { class: "panel", "aria-labelledby": "aktuelle-werte" },
    heading,
    freshness,
    h("p", { class: "hint" }, "Ihr Messstellenbetreiber schickt die Werte seit der letzten Übermittlung, meist innerhalb einer Minute."),
    h("div", { class: "button-row" }, button),
    status,
  );

  async function showFreshness() {
    try {
      const newest = await newestReading(partner);
      freshness.textContent = newest ? freshnessText(newest) : "Noch keine Werte von heute.";
    } catch {
      freshness.textContent = "";
    }
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    status.replaceChildren(h("p", null, "Die aktuellen Werte werden angefordert …"));
    try {
      const request = await api.requestCurrentValues(partner);
      status.replaceChildren(h("p", null, "Angefordert. Die Werte werden übertragen …"));
      const done = await follow(partner, request, () => {}, isCurrent);
      if (!isCurrent()) return;
      if (done.state === "answered") {
        status.replaceChildren(notice("success", h("p", null, "Die aktuellen Werte sind da.")));
        await showFreshness();
        onArrived();
      } else {
        status.replaceChildren(notice("warning", h("p", null, done.message || "Die Werte sind nicht rechtzeitig gekommen. Bitte versuchen Sie es später noch einmal.")));
      }
    } catch (error) {
      if (isCurrent()) status.replaceChildren(notice("error", h("p", null, error.message)));
    } finally {
      button.disabled = false;
    }
  });

  showFreshness();
  return { element };
}
