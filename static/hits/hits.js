/* The hits page: GET /api/hits/ with the form's filters (open hits by default, newest first),
 * and, for operators, POST /api/hits/{id}/acknowledge/.
 *
 * The page's state is its query string in the API's terms (status, watchlist, category,
 * camera, captured_after/before, plate, page), so a view can be shared and the back button
 * works; `?id=<hit id>` shows that one hit (the live map links there). A status left out of
 * the URL means open; `status=any` shows every status. The API decides what each user sees
 * (a covert list's hits only its owners and admins) and who may acknowledge; the page only
 * hides the controls from viewers. Everything shown is built with textContent: plates come
 * from devices, descriptions and notes from operators.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("hits-config").textContent);
  const PAGE_SIZE = 50;
  const DEFAULT_STATUS = "open";
  const OUTCOMES = [["accepted", "Accepted"], ["rejected", "Rejected"], ["no_action", "No action"]];

  const form = document.getElementById("filters");
  const list = document.getElementById("hits");
  const empty = document.getElementById("hits-empty");
  const status = document.getElementById("status");
  const oneHit = document.getElementById("one-hit");
  const previous = document.getElementById("previous");
  const next = document.getElementById("next");
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  const state = { hits: new Map(), reasons: [], loading: null };
  window.hitsPage = state; // for the console and the browser test

  const { element, timeText } = window.liveReadDetail; // static/live/read_detail.js
  const statusLabels = new Map(config.statuses);
  const categoryLabels = new Map(config.categories);

  // --- The API -----------------------------------------------------------------------------
  /** The API's answer, or an Error carrying its message (`status` set) for a refusal. */
  async function request(url, options = {}) {
    const response = await fetch(url, {
      credentials: "same-origin",
      ...options,
      headers: { Accept: "application/json", ...(options.headers || {}) },
    });
    if (response.status === 401) {
      window.location.href = `/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
      throw new Error("signed out");
    }
    let body = null;
    try { body = await response.json(); } catch (error) { /* not JSON */ }
    if (!response.ok) {
      const fields = Object.entries((body && body.errors) || {}).map(
        ([field, messages]) => `${field}: ${[].concat(messages).join(" ")}`,
      );
      const error = new Error(fields.length ? fields.join("; ") : (body && body.detail) || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  async function getAll(url) {
    const items = [];
    for (let page = 0; url && page < 20; page += 1) {
      const body = await request(url);
      items.push(...(body.results || body));
      url = body.next || null;
    }
    return items;
  }

  // --- The form ----------------------------------------------------------------------------
  function options(select, choices, first) {
    const wanted = select.value;
    select.replaceChildren(...(first ? [new Option(first, "")] : []),
      ...choices.map(([value, text]) => new Option(text, value)));
    select.value = wanted;
  }

  function buildForm() {
    options(form.elements.status, [...config.statuses, ["any", "Any"]]);
    options(form.elements.category, config.categories, "Any");
  }

  /** The lists and cameras to choose from (a value typed into the URL is kept as it is). */
  async function fillLists() {
    const sources = [["watchlist", config.api.watchlists], ["camera", config.api.cameras]];
    for (const [name, url] of sources) {
      let items = [];
      try { items = await getAll(`${url}?page_size=500`); } catch (error) { continue; }
      const select = form.elements[name];
      const wanted = new URLSearchParams(location.search).get(name) || "";
      options(select, items.map((item) => [String(item.id), item.name]), "Any");
      if (wanted && ![...select.options].some((o) => o.value === wanted)) select.appendChild(new Option(wanted, wanted));
      select.value = wanted;
    }
  }

  function localInputValue(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  }

  function formFill(query) {
    for (const input of form.elements) {
      if (!input.name) continue;
      let value = query.get(input.name) || "";
      if (input.name === "status") value = value || DEFAULT_STATUS;
      if (input.tagName === "SELECT" && value && ![...input.options].some((o) => o.value === value)) {
        input.appendChild(new Option(value, value));
      }
      input.value = input.dataset.kind === "time" && value ? localInputValue(value) : value;
    }
  }

  /** The page's query of the form: empty fields and the default status left out. */
  function formQuery() {
    const query = new URLSearchParams();
    for (const input of form.elements) {
      const value = input.name ? input.value.trim() : "";
      if (!value || (input.name === "status" && value === DEFAULT_STATUS)) continue;
      query.set(input.name, input.dataset.kind === "time" ? new Date(value).toISOString() : value);
    }
    return query;
  }

  /** The API's query of the page's: the default status filled in, `any` left out. */
  function apiQuery(query) {
    const api = new URLSearchParams(query);
    const wanted = api.get("status") || DEFAULT_STATUS;
    if (wanted === "any") api.delete("status"); else api.set("status", wanted);
    if (!api.has("page_size")) api.set("page_size", String(PAGE_SIZE));
    return api;
  }

  // --- A hit -------------------------------------------------------------------------------
  function field(details, label, value) {
    if (value === "" || value === null || value === undefined) return;
    details.appendChild(element("dt", null, label));
    const dd = element("dd");
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = String(value);
    details.appendChild(dd);
  }

  function reasonLabel(code) {
    const found = state.reasons.find((reason) => reason.code === code);
    return found ? found.label : code;
  }

  /** Why it matched: the entry's plate against the read's, the candidate, the edits. */
  function why(hit) {
    const snap = hit.snapshot || {};
    const details = element("dl", "why");
    const entry = snap.entry;
    field(details, "Listed plate", entry ? element("span", "plate", entry.plate) : "Not listed (allow list)");
    field(details, "Read as", element("span", "plate", snap.read_plate || hit.plate));
    if (snap.matched_plate && snap.matched_plate !== snap.read_plate) {
      field(details, snap.candidate ? "Matched candidate" : "Matched", element("span", "plate", snap.matched_plate));
    } else if (snap.candidate) {
      field(details, "Matched", "an OCR candidate");
    }
    if (snap.cost) field(details, "Extra edits", snap.cost);
    if (snap.substituted && snap.substituted.length) {
      field(details, "Characters (listed → read)", snap.substituted.map(([listed, read]) => `${listed} → ${read}`).join(", "));
    }
    if (entry) {
      field(details, "Description", entry.description);
      field(details, "Reference", entry.reference);
      field(details, "Vehicle", [entry.colour, entry.make, entry.country].filter(Boolean).join(" · "));
    }
    field(details, "Camera", hit.camera_name);
    field(details, "Captured", timeText(hit.captured_at));
    return details;
  }

  function acknowledgement(hit) {
    const details = element("dl", "acknowledged");
    if (hit.status === "open") return details;
    const who = hit.acknowledged_by || "a deleted user";
    field(details, statusLabels.get(hit.status) || hit.status, `by ${who}, ${timeText(hit.acknowledged_at)}`);
    if (hit.reason) field(details, "Reason", reasonLabel(hit.reason));
    field(details, "Note", hit.note);
    return details;
  }

  function thumbnail(hit) {
    const box = element("div", "hit-image");
    if (hit.plate_image_url) {
      const image = element("img", "thumb");
      image.src = hit.plate_image_url;
      image.alt = `Plate crop of the read ${hit.plate}`;
      image.loading = "lazy";
      box.appendChild(image);
    } else {
      box.appendChild(element("span", "no-image", ""));
    }
    if (hit.event && config.canViewReads) {
      const open = element("button", "link", "The read");
      open.type = "button";
      open.addEventListener("click", () => window.liveReadDetail.open(`${config.api.events}${hit.event}/`, {
        getJson: request, cameraName: (read) => read.camera_name || read.camera_slug,
      }));
      box.appendChild(open);
    } else if (!hit.event) {
      box.appendChild(element("small", null, "Read deleted"));
    }
    return box;
  }

  function controls(hit) {
    const ack = element("form", "ack");
    ack.setAttribute("aria-label", `Acknowledge the hit ${hit.plate}`);
    const outcomes = element("fieldset", "outcomes");
    outcomes.appendChild(element("legend", null, "Outcome"));
    OUTCOMES.forEach(([value, text], index) => {
      const label = element("label");
      const radio = element("input");
      radio.type = "radio";
      radio.name = "outcome";
      radio.value = value;
      radio.required = true;
      if (index === 0) radio.checked = true;
      label.append(radio, ` ${text}`);
      outcomes.appendChild(label);
    });
    const reasonBox = element("label", "reason", "Reason ");
    const reason = element("select");
    reason.name = "reason";
    const prompt = state.reasons.length ? "Choose a reason…" : "No reasons yet (the admin keeps them)";
    reason.append(new Option(prompt, ""), ...state.reasons.map((r) => new Option(r.label, r.code)));
    reasonBox.appendChild(reason);
    const noteBox = element("label", "note", "Note ");
    const note = element("textarea");
    note.name = "note";
    note.rows = 2;
    note.maxLength = 2000;
    noteBox.appendChild(note);
    const submit = element("button", "primary", "Acknowledge");
    submit.type = "submit";
    const problem = element("p", "error ack-error");
    problem.setAttribute("role", "alert");
    const sync = () => {
      const rejected = ack.elements.outcome.value === "rejected";
      reasonBox.hidden = !rejected;
      reason.required = rejected;
    };
    ack.append(outcomes, reasonBox, noteBox, submit, problem);
    outcomes.addEventListener("change", sync);
    sync();
    ack.addEventListener("submit", (submitted) => {
      submitted.preventDefault();
      acknowledge(hit, ack, problem);
    });
    return ack;
  }

  function buildHit(hit, notice) {
    const item = element("li", `hit panel status-${hit.status}`);
    item.dataset.id = hit.id;
    item.tabIndex = -1;
    const colour = ((hit.snapshot || {}).watchlist || {}).colour || "";
    if (/^#[0-9a-fA-F]{6}$/.test(colour)) item.style.setProperty("--list-colour", colour);
    const header = element("header", "hit-head");
    const link = element("a", "plate", hit.plate);
    link.href = `?id=${encodeURIComponent(hit.id)}`;
    link.title = "This hit alone (a link to share)";
    header.append(
      element("span", "list-chip", hit.watchlist_name),
      link,
      element("span", "category", categoryLabels.get(hit.category) || hit.category || ""),
      element("time", null, timeText(hit.captured_at)),
      element("span", `state state-${hit.status}`, statusLabels.get(hit.status) || hit.status),
    );
    const body = element("div", "hit-body");
    body.append(thumbnail(hit), why(hit), acknowledgement(hit));
    item.append(header, body);
    if (notice) item.appendChild(element("p", "notice", notice));
    if (config.canAcknowledge && hit.status === "open") item.appendChild(controls(hit));
    return item;
  }

  function replaceHit(hit, notice) {
    state.hits.set(hit.id, hit);
    const old = list.querySelector(`li[data-id="${CSS.escape(hit.id)}"]`);
    const fresh = buildHit(hit, notice);
    if (old) old.replaceWith(fresh); else list.appendChild(fresh);
    return fresh;
  }

  async function acknowledge(hit, ack, problem) {
    const outcome = ack.elements.outcome.value;
    const body = { outcome, note: ack.elements.note.value };
    if (outcome === "rejected") body.reason = ack.elements.reason.value;
    const submit = ack.querySelector("button[type=submit]");
    submit.disabled = true;
    problem.textContent = "";
    try {
      const done = await request(`${config.api.hits}${encodeURIComponent(hit.id)}/acknowledge/`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify(body),
      });
      status.classList.remove("error");
      status.textContent = `Hit ${done.plate} on ${done.watchlist_name}: ${statusLabels.get(done.status)}.`;
      if (new URLSearchParams(location.search).has("id")) replaceHit(done).focus();
      else await load({ keepStatus: true });
    } catch (error) {
      if (error.status === 409) {
        let fresh = hit;
        try { fresh = await request(`${config.api.hits}${encodeURIComponent(hit.id)}/`); } catch (ignored) { /* as it was */ }
        replaceHit(fresh, error.message).focus();
        return;
      }
      problem.textContent = `Not acknowledged: ${error.message}`;
      submit.disabled = false;
    }
  }

  // --- The list ----------------------------------------------------------------------------
  function pageLink(link, apiUrl) {
    link.hidden = !apiUrl;
    if (!apiUrl) return;
    const query = new URLSearchParams(location.search);
    const page = new URL(apiUrl, location.href).searchParams.get("page");
    if (page && page !== "1") query.set("page", page); else query.delete("page");
    link.href = `?${query}`;
  }

  function show(hits) {
    state.hits = new Map(hits.map((hit) => [hit.id, hit]));
    list.replaceChildren(...hits.map((hit) => buildHit(hit)));
    empty.hidden = hits.length > 0;
  }

  async function load({ keepStatus = false } = {}) {
    const query = new URLSearchParams(location.search);
    formFill(query);
    const id = query.get("id");
    oneHit.hidden = !id;
    form.hidden = Boolean(id);
    const loading = Symbol("load");
    state.loading = loading;
    if (!keepStatus) {
      status.classList.remove("error");
      status.textContent = "Loading…";
    }
    let hits;
    let more = null;
    try {
      if (id) {
        hits = [await request(`${config.api.hits}${encodeURIComponent(id)}/`)];
      } else {
        const body = await request(`${config.api.hits}?${apiQuery(query)}`);
        hits = body.results;
        more = body;
      }
    } catch (error) {
      if (state.loading !== loading) return;
      status.classList.add("error");
      status.textContent = id && error.status === 404 ? "No such hit (or not yours to see)." : `The hits could not be loaded: ${error.message}`;
      show([]);
      empty.hidden = true;
      pageLink(previous, null);
      pageLink(next, null);
      return;
    }
    if (state.loading !== loading) return; // a newer load answered first
    show(hits);
    pageLink(previous, more && more.previous);
    pageLink(next, more && more.next);
    if (!keepStatus) {
      const count = more ? more.count : hits.length;
      status.textContent = id ? "" : `${count} hit${count === 1 ? "" : "s"}.`;
    }
    document.dispatchEvent(new CustomEvent("hits:loaded"));
  }

  function navigate(search) {
    if (search !== location.search) history.pushState(null, "", `${location.pathname}${search}`);
    return load();
  }

  // --- Wiring ------------------------------------------------------------------------------
  form.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const query = formQuery(); // a new filter starts on its first page
    navigate(query.toString() ? `?${query}` : "");
  });
  document.getElementById("clear").addEventListener("click", () => {
    for (const input of form.elements) if (input.name) input.value = "";
    navigate("");
  });
  for (const link of [previous, next, document.getElementById("back-to-queue")]) {
    link.addEventListener("click", (clicked) => {
      if (clicked.ctrlKey || clicked.metaKey || clicked.shiftKey) return; // a new tab: as is
      clicked.preventDefault();
      navigate(new URL(link.href).search);
    });
  }
  list.addEventListener("click", (clicked) => {
    const link = clicked.target.closest("a.plate");
    if (!link || clicked.ctrlKey || clicked.metaKey || clicked.shiftKey) return;
    clicked.preventDefault();
    navigate(new URL(link.href).search);
  });
  window.addEventListener("popstate", () => load());

  async function start() {
    buildForm();
    formFill(new URLSearchParams(location.search));
    // Their labels name the reasons of rejected hits, and fill the operators' select.
    try { state.reasons = await request(config.api.rejectReasons); } catch (error) { state.reasons = []; }
    fillLists();
    await load();
  }
  start();
})();
