/* The read detail: the live map's dialog (both images, the read and the vehicle), the list
 * of a read's fields that the search page's detail shows too (one home for it), and the small
 * DOM helpers both pages share. Everything is built with textContent: plate text and names
 * come from devices and operators.
 */
(function () {
  "use strict";

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function confidenceText(value) {
    return value === null || value === undefined ? "–" : `${Math.round(value * 100)}%`;
  }

  function timeText(iso) {
    return iso ? new Date(iso).toLocaleString() : "";
  }

  function vehicleText(event) {
    return [event.vehicle_color, event.vehicle_make, event.vehicle_model, event.vehicle_type]
      .filter(Boolean).join(" ");
  }

  /** A read's fields as a <dl>, the empty ones left out; `cameraName` names its camera. */
  function detailList(event, { cameraName }) {
    const fields = [
      ["Read as", event.plate_raw],
      ["Confidence", confidenceText(event.confidence)],
      ["Captured", timeText(event.captured_at)],
      ["Received", timeText(event.received_at)],
      ["Camera", cameraName(event)],
      ["Zone", event.zone_name],
      ["Vehicle", vehicleText(event)],
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
    return details;
  }

  /** Open the dialog on the read at `url`; `getJson` fetches, `cameraName` names its camera. */
  async function open(url, { getJson, cameraName }) {
    const dialog = document.getElementById("read-detail");
    const body = document.getElementById("read-detail-body");
    body.replaceChildren(element("p", null, "Loading…"));
    if (!dialog.open) dialog.showModal();
    let event;
    try {
      event = await getJson(url);
    } catch (error) {
      body.replaceChildren(element("p", null, `Could not load the read: ${error.message}`));
      return;
    }
    const title = element("h2", "plate", event.plate);
    const nodes = [title];
    for (const [field, label] of [["frame_image_url", "Full image"], ["plate_image_url", "Plate crop"]]) {
      if (event[field]) {
        const image = element("img");
        image.src = event[field];
        image.alt = label;
        image.className = field.replace(/_/g, "-");
        nodes.push(image);
      }
    }
    nodes.push(detailList(event, { cameraName }));
    body.replaceChildren(...nodes);
  }

  window.liveReadDetail = { open, element, confidenceText, timeText, vehicleText, detailList };
})();
