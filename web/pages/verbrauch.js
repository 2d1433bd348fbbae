// Readings of the chosen partner number: chart (Tag/Woche/Monat/Jahr), previous-period comparison,
// table, completeness and quality, the time-variable grid fee (Modul 3, web/gridfees.js), billing periods and how
// far back values reach, register readings, CSV/XLSX download.
// Meter data wants a Bearer token from identity (api.js fetches and renews it).
// State in the address: ?ansicht=tag|woche|monat|jahr&datum=YYYY-MM-DD&woche=stunden|tage&vergleich=1

import { alertsPanel } from "../alerts.js";
import * as api from "../api.js";
import { barChart } from "../chart.js";
import { addDays, addMonths, berlinDay, compareDays, dayString, fmt, isoWeek, num, parseDay, today, weekday } from "../dates.js";
import { currentValuesPanel } from "../currentvalues.js";
import { h, notice, scrollBox } from "../dom.js";
import { gridFeePanel } from "../gridfees.js";
import { obisLabel, qualityLabel, RESOLUTION_NAMES, roleLabel } from "../labels.js";

const VIEWS = {
  tag: {
    label: "Tag",
    previousName: "Vortag",
    start: (day) => day,
    end: (start) => addDays(start, 1),
    shift: (start, n) => addDays(start, n),
    resolution: () => "15min",
    title: (start) => fmt.dayLong(start),
  },
  woche: {
    label: "Woche",
    previousName: "Vorwoche",
    start: (day) => addDays(day, -weekday(day)),
    end: (start) => addDays(start, 7),
    shift: (start, n) => addDays(start, 7 * n),
    resolution: (state) => (state.weekDays ? "day" : "hour"),
    title: (start) => `Woche vom ${fmt.dayMonth(start)} bis ${fmt.dayMedium(addDays(start, 6))} (KW ${isoWeek(start)})`,
  },
  monat: {
    label: "Monat",
    previousName: "Vormonat",
    start: (day) => ({ y: day.y, m: day.m, d: 1 }),
    end: (start) => addMonths(start, 1),
    shift: (start, n) => addMonths(start, n),
    resolution: () => "day",
    title: (start) => fmt.monthYear(start),
  },
  jahr: {
    label: "Jahr",
    previousName: "Vorjahr",
    start: (day) => ({ y: day.y, m: 1, d: 1 }),
    end: (start) => ({ y: start.y + 1, m: 1, d: 1 }),
    shift: (start, n) => ({ y: start.y + n, m: 1, d: 1 }),
    resolution: () => "month",
    title: (start) => `Jahr ${start.y}`,
  },
};


// ---------------------------------------------------------------- state in the address

function stateFrom(params) {
  const view = VIEWS[params.get("ansicht")] ? params.get("ansicht") : "monat";
  const day = parseDay(params.get("datum"));
  return {
    view,
    day: day || today(),
    dayGiven: Boolean(day),
    weekDays: params.get("woche") === "tage",
    compare: params.get("vergleich") === "1",
  };
}

function writeState(state) {
  const params = new URLSearchParams();
  params.set("ansicht", state.view);
  params.set("datum", dayString(state.day));
  if (state.view === "woche") params.set("woche", state.weekDays ? "tage" : "stunden");
  if (state.compare) params.set("vergleich", "1");
  history.replaceState(history.state, "", `${location.pathname}?${params}`);
}

function periodOf(state, shift = 0) {
  const spec = VIEWS[state.view];
  const start = spec.shift(spec.start(state.day), shift);
  return { start, end: spec.end(start), from: dayString(start), to: dayString(spec.end(start)), resolution: spec.resolution(state) };
}

// ---------------------------------------------------------------- rows → chart points

/** Not over yet (today, or later): no values expected so far, so nothing is flagged as missing. */
function isRunning(row, now) {
  return new Date(row.end) > now;
}

// 15-minute values come compact: one entry per day ({day, start, interval_minutes, kwh: [..], quality}), where
// quality is one code for the whole day when all its values share it, else one code per value.
// The page works on one row per quarter hour ({start, end, kwh, quality}), so they are unpacked here.
function rowsOf(answer, resolution) {
  const results = answer ? answer.results || [] : [];
  if (resolution !== "15min") return results;
  const rows = [];
  for (const day of results) {
    const first = Date.parse(day.start);
    const step = (day.interval_minutes || 15) * 60000;
    for (let i = 0; i < day.kwh.length; i += 1) {
      rows.push({
        start: new Date(first + i * step).toISOString(),
        end: new Date(first + (i + 1) * step).toISOString(),
        kwh: day.kwh[i],
        quality: typeof day.quality === "string" ? day.quality : day.quality[i],
      });
    }
  }
  return rows;
}

function pointOf(row, resolution, view, now) {
  const start = new Date(row.start);
  const day = berlinDay(start);
  const future = isRunning(row, now);
  let label;
  let tick = null;
  if (resolution === "15min") {
    label = `${fmt.time(row.start)}–${fmt.time(row.end)} Uhr`;
    const minutes = start.getUTCMinutes();
    const hour = fmt.hour(row.start);
    if (minutes === 0 && hour % 3 === 0) tick = fmt.time(row.start);
  } else if (resolution === "hour") {
    label = `${fmt.dayShort(day)}, ${fmt.time(row.start)}–${fmt.time(row.end)} Uhr`;
    if (fmt.hour(row.start) === 0) tick = fmt.dayShort(day);
  } else if (resolution === "day") {
    label = fmt.dayLong(day);
    tick = view === "woche" ? fmt.dayShort(day) : String(day.d);
  } else {
    label = fmt.monthYear(day);
    tick = fmt.monthShort(day);
  }
  const value = typeof row.kwh === "number" ? row.kwh : null;
  let substitute = false;
  let gap = null;
  if (resolution === "15min") {
    substitute = value !== null && row.quality !== "220";
    if (value === null && !future) gap = "missing";
  } else {
    substitute = value !== null && row.substitutes > 0;
    if (!future && row.expected > 0) gap = row.present === 0 ? "missing" : row.present < row.expected ? "incomplete" : null;
  }
  return { value, substitute, gap, label, tick, future };
}

function completeness(rows, resolution, now) {
  if (resolution === "15min") {
    const present = rows.filter((r) => typeof r.kwh === "number").length;
    const substitutes = rows.filter((r) => typeof r.kwh === "number" && r.quality !== "220").length;
    return { present, expected: rows.length, substitutes, running: rows.some((r) => isRunning(r, now)) };
  }
  return rows.reduce(
    (sum, r) => ({
      present: sum.present + (r.present || 0),
      expected: sum.expected + (r.expected || 0),
      substitutes: sum.substitutes + (r.substitutes || 0),
      running: sum.running || isRunning(r, now),
    }),
    { present: 0, expected: 0, substitutes: 0, running: false },
  );
}

function total(rows) {
  return rows.reduce((sum, r) => sum + (typeof r.kwh === "number" ? r.kwh : 0), 0);
}

function percentChange(now, before) {
  if (!(before > 0)) return "";
  const change = ((now - before) / before) * 100;
  if (Math.abs(change) < 0.05) return " (±0 %)";
  const sign = change > 0 ? "+" : change < 0 ? "−" : "±";
  return ` (${sign}${num.short(Math.abs(change))} %)`;
}

// ---------------------------------------------------------------- controls

/** A toggle button (aria-pressed); the check mark shows the pressed one without colour alone. */
function toggle(text, pressed) {
  return h("button", { type: "button", class: "toggle", "aria-pressed": String(pressed) }, h("span", { class: "toggle__mark", "aria-hidden": "true" }, "✓ "), text);
}

/** A date to jump to and "compare with the previous period"; show() mirrors the state. */
function dateAndComparison(state, onChange) {
  const dateInput = h("input", { type: "date", id: "f-datum", name: "datum", class: "field__input field__input--short" });
  const dateForm = h(
    "form",
    { class: "period__jump" },
    h("label", { for: "f-datum", class: "field__label" }, "Datum"),
    dateInput,
    h("button", { type: "submit", class: "button button--secondary button--small" }, "Anzeigen"),
  );
  dateForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const picked = parseDay(dateInput.value);
    if (picked) {
      state.day = picked;
      onChange();
    }
  });
  const compareBox = h("input", { type: "checkbox", id: "f-vergleich", class: "checkbox__input", checked: state.compare });
  compareBox.addEventListener("change", () => {
    state.compare = compareBox.checked;
    onChange();
  });
  const compare = h("div", { class: "checkbox" }, compareBox, h("label", { for: "f-vergleich", class: "checkbox__label" }, "Mit Vorperiode vergleichen"));
  return {
    element: h("div", { class: "controls__row" }, dateForm, compare),
    show() {
      dateInput.value = dayString(state.day);
      compareBox.checked = state.compare;
    },
  };
}

/**
 * View, week resolution, previous/next period, date and comparison: built once, so focus stays where it
 * is; onChange() after each change of state, show(period, title) mirrors the state.
 */
function periodControls(state, onChange) {
  const viewButtons = Object.entries(VIEWS).map(([key, spec]) => {
    const b = toggle(spec.label, state.view === key);
    b.addEventListener("click", () => {
      state.view = key;
      onChange();
    });
    return [key, b];
  });
  const weekButtons = [
    [false, "Stundenwerte"],
    [true, "Tageswerte"],
  ].map(([days, text]) => {
    const b = toggle(text, state.weekDays === days);
    b.addEventListener("click", () => {
      state.weekDays = days;
      onChange();
    });
    return [days, b];
  });
  const weekGroup = h("div", { class: "toggle-group", role: "group", "aria-label": "Auflösung der Woche" }, weekButtons.map(([, b]) => b));

  const move = (step) => {
    state.day = periodOf(state, step).start;
    onChange();
  };
  const previousButton = h("button", { type: "button", class: "button button--secondary" }, h("span", { "aria-hidden": "true" }, "‹"), "Vorheriger Zeitraum");
  const nextButton = h("button", { type: "button", class: "button button--secondary" }, "Nächster Zeitraum", h("span", { "aria-hidden": "true" }, "›"));
  previousButton.addEventListener("click", () => move(-1));
  nextButton.addEventListener("click", () => {
    if (nextButton.getAttribute("aria-disabled") === "true") return;
    move(1);
  });

  const periodTitle = h("h2", { class: "period__title", id: "zeitraum", "aria-live": "polite" });
  const dateRow = dateAndComparison(state, onChange);

  const element = h(
    "section",
    { class: "controls", "aria-label": "Zeitraum wählen" },
    h("div", { class: "toggle-group", role: "group", "aria-label": "Ansicht" }, viewButtons.map(([, b]) => b)),
    weekGroup,
    h("div", { class: "period" }, previousButton, periodTitle, nextButton),
    dateRow.element,
  );

  function show(period, title) {
    for (const [key, b] of viewButtons) b.setAttribute("aria-pressed", String(state.view === key));
    for (const [days, b] of weekButtons) b.setAttribute("aria-pressed", String(state.weekDays === days));
    weekGroup.hidden = state.view !== "woche";
    periodTitle.textContent = title;
    const atEnd = compareDays(period.end, addDays(today(), 1)) >= 0;
    nextButton.setAttribute("aria-disabled", String(atEnd));
    dateRow.show();
  }

  return { element, show };
}

// ---------------------------------------------------------------- readings: summary, chart, table

/**
 * What one load shows: the period (and its title), the rows of it and of the previous period (or null),
 * what is measured ("Verbrauch" | "Einspeisung") and the view.
 */
function readingsOf({ period, title, rows, beforeRows, previous, what, view }) {
  const now = new Date();
  return {
    period,
    title,
    rows,
    beforeRows,
    what,
    view,
    now,
    points: rows.map((r) => pointOf(r, period.resolution, view, now)),
    comparePoints: beforeRows ? beforeRows.map((r) => pointOf(r, period.resolution, view, now)) : null,
    compareName: previous ? `${VIEWS[view].previousName} (${VIEWS[view].title(previous.start)})` : "",
    sum: total(rows),
  };
}

/** "480 von 1.344 Werten (35,7 %)", and whether the period is still running. */
function completenessText(done) {
  return `${num.int(done.present)} von ${num.int(done.expected)} Werten` + (done.expected ? ` (${num.short((done.present / done.expected) * 100)} %)` : "") + (done.running ? " – der Zeitraum läuft noch" : "");
}

/** Sum, previous period, completeness and substitute values. */
function summary(readings) {
  const { rows, beforeRows, period, now, what, sum, compareName } = readings;
  const done = completeness(rows, period.resolution, now);
  return h(
    "dl",
    { class: "facts" },
    h("div", { class: "facts__item" }, h("dt", null, `${what} im Zeitraum`), h("dd", null, `${num.kwh(sum)} kWh`)),
    beforeRows
      ? h("div", { class: "facts__item" }, h("dt", null, compareName), h("dd", null, `${num.kwh(total(beforeRows))} kWh${percentChange(sum, total(beforeRows))}`))
      : null,
    h(
      "div",
      { class: "facts__item" },
      h("dt", null, "Vollständigkeit"),
      h("dd", { class: "completeness" }, completenessText(done)),
    ),
    h("div", { class: "facts__item" }, h("dt", null, "Ersatzwerte"), h("dd", null, done.substitutes ? `${num.int(done.substitutes)} (im Diagramm schraffiert)` : "keine")),
  );
}

function readingsCaption(readings) {
  return `${readings.what} in kWh, ${readings.title}, ${RESOLUTION_NAMES[readings.period.resolution]}`;
}

function chart(readings, width) {
  const { points, comparePoints, beforeRows, compareName, sum } = readings;
  return barChart({
    points,
    compare: comparePoints,
    title: readingsCaption(readings),
    description:
      `Balkendiagramm mit ${points.length} Balken. Summe ${num.kwh(sum)} kWh.` +
      (beforeRows ? ` Zum Vergleich: ${compareName} mit ${num.kwh(total(beforeRows))} kWh.` : "") +
      " Die Werte stehen auch in der Tabelle unter dem Diagramm.",
    seriesLabel: `${readings.what} ${readings.title}`,
    compareLabel: compareName,
    width,
  });
}

function valueTable(readings) {
  const { period, rows, beforeRows, compareName, points, what } = readings;
  const fine = period.resolution === "15min";
  const head = h(
    "tr",
    null,
    h("th", { scope: "col" }, fine ? "Uhrzeit" : "Zeitraum"),
    h("th", { scope: "col", class: "num" }, `${what} (kWh)`),
    beforeRows ? h("th", { scope: "col", class: "num" }, `${compareName} (kWh)`) : null,
    fine ? h("th", { scope: "col" }, "Qualität") : h("th", { scope: "col" }, "Werte vorhanden"),
    fine ? null : h("th", { scope: "col", class: "num" }, "Ersatzwerte"),
  );
  const body = rows.map((row, index) => {
    const point = points[index];
    const before = beforeRows ? beforeRows[index] : null;
    return h(
      "tr",
      { class: point.substitute || point.gap ? "row--flagged" : null },
      h("th", { scope: "row" }, point.label),
      h("td", { class: "num" }, num.kwh(row.kwh)),
      beforeRows ? h("td", { class: "num" }, before ? num.kwh(before.kwh) : "–") : null,
      fine
        ? h("td", null, point.future && point.value === null ? "noch nicht gemessen" : qualityLabel(row.quality))
        : h("td", null, point.future && !row.present ? "noch nicht gemessen" : `${num.int(row.present)} von ${num.int(row.expected)}`),
      fine ? null : h("td", { class: "num" }, num.int(row.substitutes || 0)),
    );
  });
  return h(
    "details",
    { class: "table-details" },
    h("summary", null, "Werte als Tabelle anzeigen"),
    scrollBox(readingsCaption(readings), h("table", { class: "table" }, h("caption", null, readingsCaption(readings)), h("thead", null, head), h("tbody", null, body))),
  );
}

/** The nodes of the results area: summary, then chart and table (or a note that there are no values). */
function readingsView(readings, width) {
  const facts = summary(readings);
  if (!readings.rows.some((r) => typeof r.kwh === "number")) {
    return [facts, notice("info", h("p", null, "Für diesen Zeitraum liegen keine Messwerte vor. Neue Werte kommen in der Regel am Folgetag."))];
  }
  return [facts, chart(readings, width), valueTable(readings)];
}

// ---------------------------------------------------------------- billing periods, and how far back values reach

/** "Werte liegen ab … vor": what meter data keeps (kept_since) and the partner's first day with a value. */
function reachSentence(answer) {
  const kept = fmt.dayNumeric(parseDay(answer.kept_since));
  const first = answer.first_day_with_data
    ? ` Der erste Messwert zu Ihrer Geschäftspartner-Nr. ist vom ${fmt.dayNumeric(parseDay(answer.first_day_with_data))}.`
    : " Zu Ihrer Geschäftspartner-Nr. liegen noch keine Messwerte vor.";
  return (
    `Ihre Werte reichen bis zum ${kept} zurück: Tages-, Wochen-, Monats- und Jahreswerte ebenso wie die 15-Minuten-Werte ` +
    "(vorgeschrieben sind 15-Minuten-Werte der letzten 24 Monate und Werte je Abrechnungszeitraum für drei Jahre). " +
    `Ältere Werte werden gelöscht.${first}`
  );
}

/** "01.03.2024 – 28.02.2025", and the days counted when fewer (first day kept, move-in or move-out, today). */
function billingPeriodCell(row) {
  const first = parseDay(row.first_day);
  const last = parseDay(row.last_day);
  const from = berlinDay(row.start);
  const until = berlinDay(new Date(Date.parse(row.end) - 1));
  const cut = compareDays(from, first) !== 0 || compareDays(until, last) !== 0;
  return [
    `${fmt.dayNumeric(first)} – ${fmt.dayNumeric(last)}`,
    cut ? h("span", { class: "hint" }, ` (Werte vom ${fmt.dayNumeric(from)} bis ${fmt.dayNumeric(until)})`) : null,
  ];
}

function billingTable(answer, what) {
  const calendar = answer.periods_from === "calendar_years";
  const caption = `${what} je Abrechnungszeitraum${calendar ? " (Kalenderjahre)" : ""}`;
  return scrollBox(
    caption,
    h(
      "table",
      { class: "table" },
      h("caption", null, caption),
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Zeitraum"), h("th", { scope: "col", class: "num" }, `${what} (kWh)`), h("th", { scope: "col" }, "Vollständigkeit"))),
      h(
        "tbody",
        null,
        answer.results.map((row) => {
          const done = { present: row.present, expected: row.expected, running: compareDays(parseDay(row.last_day), today()) >= 0 };
          return h(
            "tr",
            { class: row.present < row.expected && !done.running ? "row--flagged" : null },
            h("th", { scope: "row" }, billingPeriodCell(row)),
            h("td", { class: "num" }, num.kwh(row.kwh)),
            h("td", null, completenessText(done), row.substitutes ? `, davon ${num.int(row.substitutes)} Ersatzwerte` : ""),
          );
        }),
      ),
    ),
  );
}

/** The "Abrechnungszeiträume" panel: loaded once per page, it does not depend on the period chosen above. */
function billingPanel(partner, what) {
  const heading = h("h2", { id: "abrechnungszeitraeume" }, "Abrechnungszeiträume");
  const element = h("section", { class: "panel", "aria-labelledby": "abrechnungszeitraeume" }, heading);

  async function load(stillMine) {
    element.replaceChildren(heading, h("p", { class: "status-line" }, "Die Abrechnungszeiträume werden geladen …"));
    let answer;
    try {
      answer = await api.billingPeriods(partner);
    } catch (error) {
      if (stillMine()) element.replaceChildren(heading, notice("error", h("p", null, `Die Abrechnungszeiträume konnten nicht geladen werden. ${error.message}`)));
      return;
    }
    if (!stillMine()) return;
    const results = answer.results || [];
    element.replaceChildren(
      heading,
      h("p", { class: "reach" }, reachSentence(answer)),
      results.length ? billingTable(answer, what) : h("p", null, "Für die letzten drei Jahre liegt noch kein Abrechnungszeitraum vor."),
    );
  }

  return { element, load };
}

// ---------------------------------------------------------------- register readings

function registerTable(caption, rows) {
  return scrollBox(
    caption,
    h(
      "table",
      { class: "table" },
      h("caption", null, caption),
      h(
        "thead",
        null,
        h("tr", null, h("th", { scope: "col" }, "Zeitpunkt"), h("th", { scope: "col" }, "Zähler"), h("th", { scope: "col" }, "Zählwerk"), h("th", { scope: "col", class: "num" }, "Stand (kWh)"), h("th", { scope: "col" }, "Qualität")),
      ),
      h(
        "tbody",
        null,
        rows.map((r) =>
          h(
            "tr",
            { class: r.runs_backwards ? "row--flagged" : null },
            h("th", { scope: "row" }, `${fmt.dateTime(r.read_at)} Uhr`),
            h("td", null, r.meter_number),
            h("td", null, obisLabel(r.obis)),
            h("td", { class: "num" }, num.kwh(r.kwh)),
            h("td", null, qualityLabel(r.quality), r.runs_backwards ? " – kleiner als der vorige Stand, wird geprüft" : ""),
          ),
        ),
      ),
    ),
  );
}

/** The "Zählerstände" panel; load(period, title, stillMine) fills it with the readings of a period. */
function registerPanel(partner) {
  const heading = h("h2", { id: "zaehlerstaende" }, "Zählerstände");
  const element = h("section", { class: "panel", "aria-labelledby": "zaehlerstaende" }, heading);

  async function load(period, title, stillMine) {
    element.replaceChildren(heading, h("p", { class: "status-line" }, "Die Zählerstände werden geladen …"));
    let answer;
    try {
      answer = await api.registers(partner, period);
    } catch (error) {
      if (stillMine()) element.replaceChildren(heading, notice("error", h("p", null, `Die Zählerstände konnten nicht geladen werden. ${error.message}`)));
      return;
    }
    if (!stillMine()) return;
    const latest = answer.latest || [];
    const daily = answer.daily || [];
    if (!latest.length) {
      element.replaceChildren(heading, h("p", null, "Zu Ihrem Zähler liegen noch keine Zählerstände vor."));
      return;
    }
    element.replaceChildren(
      heading,
      registerTable("Aktuelle Zählerstände", latest),
      daily.length
        ? h("details", { class: "table-details" }, h("summary", null, "Zählerstände im gewählten Zeitraum anzeigen"), registerTable(`Zählerstände am Ende jedes Tages, ${title}`, daily))
        : h("p", null, "Im gewählten Zeitraum liegen keine Zählerstände vor."),
    );
  }

  return { element, load };
}

// ---------------------------------------------------------------- download

/** The "Herunterladen" panel: CSV and XLSX of currentPeriod(); setScope(text) says which period that is. */
function downloadPanel(partner, currentPeriod) {
  const status = h("div", { class: "status-line", role: "status" });
  const scope = h("p", { class: "hint" });
  const csvButton = h("button", { type: "button", class: "button button--secondary" }, "CSV herunterladen");
  const xlsxButton = h("button", { type: "button", class: "button button--secondary" }, "Excel (XLSX) herunterladen");
  const download = async (format) => {
    status.textContent = "Die Datei wird erstellt …";
    try {
      await api.downloadReadings(partner, { ...currentPeriod(), format });
      status.textContent = "Die Datei wurde heruntergeladen.";
    } catch (error) {
      status.textContent = `Das Herunterladen hat nicht geklappt. ${error.message}`;
    }
  };
  csvButton.addEventListener("click", () => download("csv-de"));
  xlsxButton.addEventListener("click", () => download("xlsx"));
  const element = h(
    "section",
    { class: "panel", "aria-labelledby": "herunterladen" },
    h("h2", { id: "herunterladen" }, "Herunterladen"),
    scope,
    h("div", { class: "button-row" }, csvButton, xlsxButton),
    h("p", { class: "hint" }, "CSV: Semikolon als Trennzeichen, Dezimalkomma, deutsche Ortszeit – passt für Excel und LibreOffice."),
    status,
  );
  return {
    element,
    setScope(text) {
      scope.textContent = text;
    },
  };
}

// ---------------------------------------------------------------- page

/**
 * Without a date in the address: start where the newest values are (the latest register reading).
 * False when the partner number is no longer the session's (409): the page has gone to /partner-waehlen.
 */
async function startAtNewestValues(ctx, partner, state) {
  try {
    const answer = await api.registers(partner, { from: dayString(today()), to: dayString(addDays(today(), 1)) });
    const newest = (answer.latest || []).map((r) => r.read_at).sort().pop();
    if (newest) {
      const day = berlinDay(new Date(new Date(newest).getTime() - 1)); // 00:00 reading closes the day before
      if (compareDays(day, today()) < 0) state.day = day;
    }
  } catch (error) {
    if (error.status === 409) {
      ctx.navigate("/partner-waehlen", { replace: true });
      return false;
    }
    // the readings below will report the problem
  }
  return true;
}

export default async function render(ctx) {
  const { partner_number: partner, role } = ctx.session();
  const what = role === "feed_in" ? "Einspeisung" : "Verbrauch";
  const state = stateFrom(ctx.params);
  let loadCounter = 0;

  const controls = periodControls(state, update);
  const results = h("section", { class: "results", "aria-labelledby": "zeitraum" });
  const registers = registerPanel(partner);
  const billing = billingPanel(partner, what);
  const gridFees = role === "consumption" ? gridFeePanel(partner) : null; // Modul 3 applies to consumption only
  const downloads = downloadPanel(partner, () => periodOf(state));
  // Current values on request: once they have arrived, today's values are shown (web/currentvalues.js).
  const showToday = () => {
    Object.assign(state, { view: "tag", day: today() });
    update();
  };
  const current = currentValuesPanel(partner, showToday, () => ctx.isCurrent());
  const alerts = alertsPanel(partner, role); // web/alerts.js ([10 of 11] §2)
  ctx.show(
    role === "feed_in" ? "Ihre Einspeisung" : "Ihr Verbrauch",
    h("p", { class: "lead" }, `Geschäftspartner-Nr. ${partner} · ${roleLabel(role)}`),
    current.element,
    controls.element,
    results,
    gridFees?.element,
    billing.element,
    registers.element,
    downloads.element,
    alerts.element,
  );

  if (!state.dayGiven && !(await startAtNewestValues(ctx, partner, state))) return;
  if (!ctx.isCurrent()) return;
  update();
  billing.load(() => ctx.isCurrent());
  alerts.load(() => ctx.isCurrent());

  function update() {
    writeState(state);
    const period = periodOf(state);
    const title = VIEWS[state.view].title(period.start);
    controls.show(period, title);
    downloads.setScope(`Zeitraum: ${title}, ${RESOLUTION_NAMES[period.resolution]}.`);
    load(period, title);
  }

  async function load(period, title) {
    loadCounter += 1;
    const mine = loadCounter;
    const stillMine = () => mine === loadCounter && ctx.isCurrent();
    results.setAttribute("aria-busy", "true");
    results.replaceChildren(h("p", { class: "status-line" }, "Die Werte werden geladen …"));
    gridFees?.load(period, stillMine);
    const previous = state.compare ? periodOf(state, -1) : null;
    let current;
    let before = null;
    try {
      [current, before] = await Promise.all([api.intervals(partner, period), previous ? api.intervals(partner, previous) : Promise.resolve(null)]);
    } catch (error) {
      if (!stillMine()) return;
      if (error.status === 409) {
        ctx.navigate("/partner-waehlen", { replace: true });
        return;
      }
      results.removeAttribute("aria-busy");
      const retry = h("button", { type: "button", class: "button button--secondary" }, "Erneut versuchen");
      retry.addEventListener("click", () => load(period, title));
      results.replaceChildren(notice("error", h("p", null, `Die Messwerte konnten nicht geladen werden. ${error.message}`), retry));
      return;
    }
    if (!stillMine()) return;
    results.removeAttribute("aria-busy");
    const rows = rowsOf(current, period.resolution);
    const beforeRows = before ? rowsOf(before, previous.resolution) : null;
    const readings = readingsOf({ period, title, rows, beforeRows, previous, what, view: state.view });
    results.replaceChildren(...readingsView(readings, results.clientWidth - 18)); // frame border and padding
    registers.load(period, title, stillMine);
  }
}
