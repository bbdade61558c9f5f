/* The search page: GET /api/events/ with the form's filters, a page at a time.
 *
 * The page's state is its query string, in the API's own terms (the filters, `ordering`,
 * `cursor`): a search can be shared as a link, the back button returns to the page before,
 * and the Export CSV link is the same query with format=csv. The form is drawn from the
 * filters the API declares (the page's config), so a new filter appears here by itself.
 * Everything shown is built with textContent: plate text comes from devices.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("search-config").textContent);
  const PAGE_SIZE = 50;

  const form = document.getElementById("search");
  const filters = document.getElementById("filters");
  const more = document.getElementById("more-filters");
  const rows = document.querySelector("#results tbody");
  const empty = document.getElementById("results-empty");
  const status = document.getElementById("status");
  const exportLink = document.getElementById("export");
  const previous = document.getElementById("previous");
  const next = document.getElementById("next");
  const state = { events: new Map(), loading: null };
  window.searchPage = state; // for the console and the browser test

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  async function getJson(url) {
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    await refusal(response);
    return response.json();
  }

  /** Throws the API's error (its fields and messages) for an answer that is not a success. */
  async function refusal(response) {
    if (response.status === 401) {
      window.location.href = `/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
      throw new Error("signed out");
    }
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try {
        const body = await response.json();
        const fields = Object.entries(body.errors || {}).map(
          ([field, messages]) => `${field}: ${[].concat(messages).join(" ")}`,
        );
        message = fields.length ? fields.join("; ") : body.detail || message;
      } catch (error) { /* not JSON: keep the status */ }
      throw new Error(message);
    }
  }

  /** Export CSV: fetched first, so a refusal (more reads than an export holds, too many
   * exports) is said here rather than by a page of JSON in place of the search; the file
   * is then saved under the name the API gave it. */
  async function exportDownload(clicked) {
    if (clicked.ctrlKey || clicked.metaKey || clicked.shiftKey) return; // a new tab: as is
    clicked.preventDefault();
    status.classList.remove("error");
    status.textContent = "Exporting…";
    try {
      const response = await fetch(exportLink.href, { credentials: "same-origin" });
      await refusal(response);
      const named = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
      const saved = element("a");
      saved.href = URL.createObjectURL(await response.blob());
      saved.download = named ? named[1] : "plate-events.csv";
      document.body.appendChild(saved);
      saved.click();
      saved.remove();
      setTimeout(() => URL.revokeObjectURL(saved.href), 60000);
      status.textContent = "Exported.";
    } catch (error) {
      status.classList.add("error");
      status.textContent = `The export failed: ${error.message}`;
    }
  }

  async function getAll(url) {
    const items = [];
    for (let page = 0; url && page < 20; page += 1) {
      const body = await getJson(url);
      items.push(...(body.results || body));
      url = body.next || null;
    }
    return items;
  }

  // --- The form, from the API's filters ----------------------------------------------------
  function localInputValue(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    return local.toISOString().slice(0, 16);
  }

  function buildInput(field) {
    let input;
    if (field.kind === "choice" || field.kind === "boolean" || field.kind in config.api) {
      input = element("select");
      input.appendChild(new Option("Any", ""));
      const choices = field.kind === "boolean" ? [["true", "Yes"], ["false", "No"]] : field.choices || [];
      for (const [value, text] of choices) input.appendChild(new Option(text, value));
    } else {
      input = element("input");
      input.type = { time: "datetime-local", number: "number" }[field.kind] || "search";
      if (field.kind === "number") input.step = "any";
      input.autocomplete = "off";
    }
    input.name = field.name;
    input.id = `filter-${field.name}`;
    input.dataset.kind = field.kind;
    return input;
  }

  function buildForm() {
    for (const field of config.filters) {
      if (form.elements[field.name]) continue; // drawn by the template (the plate search)
      const label = element("label", null, field.caption);
      if (field.hint) label.title = field.hint;
      label.appendChild(buildInput(field));
      filters.appendChild(label);
    }
    const ordering = buildInput({ name: "ordering", kind: "choice" });
    ordering.replaceChildren(new Option("Newest first", ""), new Option("Oldest first", "captured_at"));
    const label = element("label", null, "Order");
    label.appendChild(ordering);
    filters.appendChild(label);
  }

  async function listOf(kind) {
    if (!form.querySelector(`select[data-kind="${kind}"]`)) return [];
    try {
      return await getAll(`${config.api[kind]}?page_size=500`);
    } catch (error) {
      return []; // the filter still works from the URL; the list is a convenience
    }
  }

  /** The camera and zone lists, from the API (the live map's sources). */
  async function fillLists() {
    const cameras = await listOf("cameras");
    const cameraNames = new Map(cameras.map((camera) => [camera.id, camera.name]));
    const zones = await listOf("zones");
    const options = {
      cameras: cameras.map((camera) => [camera.slug, camera.name]),
      zones: zones.map((zone) => [String(zone.id), `${cameraNames.get(zone.camera) || zone.camera} · ${zone.name}`]),
    };
    const query = new URLSearchParams(location.search);
    for (const [kind, choices] of Object.entries(options)) {
      for (const select of form.querySelectorAll(`select[data-kind="${kind}"]`)) {
        const wanted = query.get(select.name) || "";
        select.replaceChildren(new Option("Any", ""), ...choices.map(([value, text]) => new Option(text, value)));
        if (wanted && !choices.some(([value]) => value === wanted)) {
          select.appendChild(new Option(wanted, wanted)); // an id or slug typed into the URL
        }
        select.value = wanted;
      }
    }
  }

  /** The API query of the form's values (empty fields left out; times as ISO 8601). */
  function formQuery() {
    const query = new URLSearchParams();
    for (const input of form.elements) {
      if (!input.name || !input.value.trim()) continue;
      const value = input.dataset.kind === "time" ? new Date(input.value).toISOString() : input.value.trim();
      query.set(input.name, value);
    }
    return query;
  }

  function formFill(query) {
    for (const input of form.elements) {
      if (!input.name) continue;
      const value = query.get(input.name) || "";
      if (input.tagName === "SELECT" && value && ![...input.options].some((o) => o.value === value)) {
        input.appendChild(new Option(value, value));
      }
      input.value = input.dataset.kind === "time" && value ? localInputValue(value) : value;
    }
    const filtered = [...filters.querySelectorAll("[name]")].some((input) => input.value);
    if (filtered) more.open = true;
  }

  // --- Results -----------------------------------------------------------------------------
  function timeText(iso) {
    return iso ? new Date(iso).toLocaleString() : "";
  }

  function confidenceText(value) {
    return value === null || value === undefined ? "–" : `${Math.round(value * 100)}%`;
  }

  function vehicleText(event) {
    return [event.vehicle_color, event.vehicle_make, event.vehicle_model, event.vehicle_type]
      .filter(Boolean).join(" ");
  }

  function image(url, alt, className) {
    if (!url) return element("span", "no-image", "");
    const node = element("img", className);
    node.src = url;
    node.alt = alt;
    node.loading = "lazy";
    return node;
  }

  function buildRow(event) {
    const row = element("tr");
    row.tabIndex = 0;
    row.dataset.id = event.id;
    row.dataset.plate = event.plate;
    const cells = [
      image(event.plate_image_url, `Plate ${event.plate}`, "thumb"),
      element("span", "plate", event.plate),
      element("time", null, timeText(event.captured_at)),
      event.camera_name || event.camera_slug,
      event.zone_name || "",
      vehicleText(event),
      event.direction === "unknown" ? "" : event.direction,
      confidenceText(event.confidence),
    ];
    cells.forEach((content, index) => {
      const cell = element("td", index === 7 ? "confidence" : null);
      if (content instanceof Node) cell.appendChild(content);
      else cell.textContent = content;
      row.appendChild(cell);
    });
    row.addEventListener("click", () => openDetail(event.id));
    row.addEventListener("keydown", (key) => { if (key.key === "Enter") openDetail(event.id); });
    return row;
  }

  /** A page link of the API (next or previous) as a link of this page: its cursor. */
  function pageLink(link, apiUrl) {
    link.hidden = !apiUrl;
    if (!apiUrl) return;
    const query = new URLSearchParams(location.search);
    query.set("cursor", new URL(apiUrl, location.href).searchParams.get("cursor"));
    link.href = `?${query}`;
  }

  function exportHref(query) {
    const exported = new URLSearchParams(query);
    exported.delete("cursor");
    exported.delete("page_size");
    exported.set("format", "csv");
    return `${config.api.events}?${exported}`;
  }

  async function load() {
    const query = new URLSearchParams(location.search);
    formFill(query);
    exportLink.href = exportHref(query);
    const api = new URLSearchParams(query);
    if (!api.has("page_size")) api.set("page_size", String(PAGE_SIZE)); // a link may set it
    const loading = Symbol("load");
    state.loading = loading;
    status.classList.remove("error");
    status.textContent = "Searching…";
    let body;
    try {
      body = await getJson(`${config.api.events}?${api}`);
    } catch (error) {
      if (state.loading !== loading) return;
      status.classList.add("error");
      status.textContent = `The search failed: ${error.message}`;
      rows.replaceChildren();
      empty.hidden = true;
      pageLink(previous, null);
      pageLink(next, null);
      return;
    }
    if (state.loading !== loading) return; // a newer search answered first
    state.events = new Map(body.results.map((event) => [event.id, event]));
    rows.replaceChildren(...body.results.map(buildRow));
    empty.hidden = body.results.length > 0;
    const count = body.results.length;
    const more = body.next ? " (more on the next page)" : "";
    status.textContent = count ? `${count} read${count === 1 ? "" : "s"} on this page${more}.` : "";
    pageLink(previous, body.previous);
    pageLink(next, body.next);
    document.dispatchEvent(new CustomEvent("search:loaded"));
  }

  function navigate(search) {
    if (search === location.search) return load();
    history.pushState(null, "", `${location.pathname}${search}`);
    return load();
  }

  // --- Detail ------------------------------------------------------------------------------
  function openDetail(id) {
    const event = state.events.get(id);
    if (!event) return;
    const dialog = document.getElementById("event-detail");
    const body = document.getElementById("event-detail-body");
    const images = element("div", "images");
    for (const [field, caption] of [["plate_image_url", "Plate crop"], ["frame_image_url", "Full frame"]]) {
      const figure = element("figure");
      figure.appendChild(image(event[field], caption, field.replace(/_/g, "-")));
      figure.appendChild(element("figcaption", null, event[field] ? caption : `${caption}: none stored`));
      images.appendChild(figure);
    }
    const fields = [
      ["Read as", event.plate_raw],
      ["Confidence", confidenceText(event.confidence)],
      ["Captured", timeText(event.captured_at)],
      ["Received", timeText(event.received_at)],
      ["Camera", event.camera_name || event.camera_slug],
      ["Zone", event.zone_name],
      ["Make", event.vehicle_make],
      ["Model", event.vehicle_model],
      ["Colour", event.vehicle_color],
      ["Type", event.vehicle_type],
      ["Direction", event.direction],
      ["Speed", event.speed_kmh === null || event.speed_kmh === undefined ? "" : `${event.speed_kmh} km/h`],
      ["Country / region", [event.country, event.region].filter(Boolean).join(" / ")],
      ["Source", event.source],
      ["Event id", event.id],
    ];
    const details = element("dl");
    for (const [label, value] of fields) {
      if (value === "" || value === null || value === undefined) continue;
      details.appendChild(element("dt", null, label));
      details.appendChild(element("dd", null, String(value)));
    }
    body.replaceChildren(element("h2", "plate", event.plate), images, details);
    if (!dialog.open) dialog.showModal();
  }

  // --- Wiring ------------------------------------------------------------------------------
  form.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const query = formQuery(); // a new search starts on its first page
    navigate(query.toString() ? `?${query}` : "");
  });
  document.getElementById("clear").addEventListener("click", () => {
    form.reset();
    for (const input of form.elements) if (input.name) input.value = "";
    navigate("");
  });
  for (const link of [previous, next]) {
    link.addEventListener("click", (clicked) => {
      if (clicked.ctrlKey || clicked.metaKey || clicked.shiftKey) return; // a new tab: as is
      clicked.preventDefault();
      navigate(new URL(link.href).search);
    });
  }
  window.addEventListener("popstate", load);
  exportLink.addEventListener("click", exportDownload);

  exportLink.title = `The same search as a CSV file: every page, at most ${config.exportMaxRows} reads`;
  buildForm();
  formFill(new URLSearchParams(location.search));
  fillLists();
  load();
})();
