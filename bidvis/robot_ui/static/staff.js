// Staff set-up page. Hold-to-move: while a jog button is held, a heartbeat goes to the robot
// every 50 ms; the robot moves only while heartbeats arrive and stops when they stop.
"use strict";
const HEARTBEAT_MS = 50;
const owner = sessionStorage.getItem("bidvis-owner") || (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + "-" + Math.random().toString(16).slice(2));
sessionStorage.setItem("bidvis-owner", owner);
const $ = (sel) => document.querySelector(sel);
const T = document.body.dataset;  // the page's words for what this script says (texts.py)

function say(text) { $("#message").textContent = text || ""; $("#error").textContent = ""; }
function fail(text) { $("#error").textContent = text; }
// The session ended (idle, logged out elsewhere, password changed): say so; STOP stays.
function loggedOut() { $("#idle-text").textContent = T.idle; $("#idle").hidden = false; }

async function call(method, url, body) {
  let response;
  try {
    response = await fetch(url, { method, headers: { "Content-Type": "application/json" },
                                  body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    fail(T.offline + ": " + err.message);
    return null;
  }
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) { loggedOut(); return null; }
  if (!response.ok) {
    let detail = data.text || data.detail;  // text: the robot's message in the page's language
    if (Array.isArray(detail)) detail = detail.map((d) => d.loc.slice(1).join(".") + ": " + d.msg).join("; ");
    fail((response.status === 409 ? T.refused : T.error) + ": " + (detail || response.statusText));
    return null;
  }
  if (data.text || data.message) say(data.text || data.message);
  return data;
}

// --- STOP: always visible, works for everyone ---
$("#stop").addEventListener("click", () => { stopHold(); call("POST", "/api/stop"); });
document.addEventListener("keydown", (e) => { if (e.key === "Escape") { stopHold(); call("POST", "/api/stop"); } });

// --- hold to move ---
let holding = null;
let presses = Number(sessionStorage.getItem("bidvis-presses") || 0);
function beat() {
  if (!holding) return;
  const { joint, direction, button, press } = holding;
  fetch("/api/jog/hold", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ owner, joint, direction, press }) })
    .then(async (r) => {
      if (!r.ok && holding && holding.button === button) {
        const data = await r.json().catch(() => ({}));
        stopHold();
        fail(T.refused + ": " + (data.text || (typeof data.detail === "string" ? data.detail : r.statusText)));
      }
    })
    .catch(() => { stopHold(); fail(T.offlineStops); });
}
function startHold(button) {
  if (holding) return;
  presses += 1;
  sessionStorage.setItem("bidvis-presses", String(presses));
  holding = { joint: Number(button.dataset.joint), direction: Number(button.dataset.direction), button,
              press: presses, timer: setInterval(beat, HEARTBEAT_MS) };
  button.classList.add("active");
  say("");
  beat();
}
function stopHold() {
  if (!holding) return;
  clearInterval(holding.timer);
  holding.button.classList.remove("active");
  const press = holding.press;
  holding = null;
  fetch("/api/jog/release", { method: "POST", keepalive: true, headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ owner, press }) }).catch(() => {});
}
document.querySelectorAll(".hold").forEach((button) => {
  button.addEventListener("pointerdown", (e) => { button.setPointerCapture(e.pointerId); startHold(button); });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) button.addEventListener(type, stopHold);
  button.addEventListener("keydown", (e) => { if ((e.key === " " || e.key === "Enter") && !e.repeat) { e.preventDefault(); startHold(button); } });
  button.addEventListener("keyup", (e) => { if (e.key === " " || e.key === "Enter") stopHold(); });
  button.addEventListener("blur", stopHold);
  button.addEventListener("contextmenu", (e) => e.preventDefault());
});
window.addEventListener("blur", stopHold);
document.addEventListener("visibilitychange", () => { if (document.hidden) stopHold(); });

// --- connect and scan ---
$("#scan").addEventListener("click", async () => {
  const data = await call("POST", "/api/scan?all_rates=" + $("#scan-all").checked);
  if (!data) return;
  const body = $("#scan-table tbody");
  body.replaceChildren(...data.servos.map((s) => {
    const row = document.createElement("tr");
    for (const v of [s.baudrate, s.id, s.model_name + " (" + s.model_number + ")", s.firmware_version, s.hardware_errors.join(", ") || "none"]) {
      const cell = document.createElement("td"); cell.textContent = v; row.append(cell);
    }
    return row;
  }));
});
$("#connect").addEventListener("click", () => call("POST", "/api/connect"));
$("#disconnect").addEventListener("click", () => call("POST", "/api/disconnect", { owner }));
$("#clear-stop").addEventListener("click", () => call("POST", "/api/meal/clear-stop"));
$("#go-ready").addEventListener("click", () => call("POST", "/api/move/ready", { owner }));
$("#park").addEventListener("click", () => call("POST", "/api/move/park", { owner }));

// --- teach ---
async function refreshAfter(promise) { const data = await promise; if (data) refresh(); return data; }
$("#teach-ready").addEventListener("click", () => refreshAfter(call("POST", "/api/calibration/ready")));
document.querySelectorAll(".teach-waypoint").forEach((b) => b.addEventListener("click", async () => {
  const data = await refreshAfter(call("POST", `/api/calibration/bowls/${b.dataset.bowl}/waypoints`));
  if (data && Number(b.dataset.bowl) >= document.querySelectorAll("#bowls li").length) location.reload();  // a new bowl
}));
document.querySelectorAll(".clear-bowl").forEach((b) => b.addEventListener("click",
  () => refreshAfter(call("POST", `/api/calibration/bowls/${b.dataset.bowl}/clear`))));
document.querySelectorAll(".test-bite").forEach((b) => b.addEventListener("click",
  () => call("POST", "/api/test-bite", { owner, bowl: Number(b.dataset.bowl) })));

// --- forms ---
const numbers = (form) => Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, v === "" ? null : Number(v)]));
$("#spoon-form").addEventListener("submit", (e) => { e.preventDefault(); call("PUT", "/api/calibration/spoon", numbers(e.target)); });
function boardForm(id, prefix) {
  $(id).addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = await call("POST", `/api/${prefix}/start`, numbers(e.target));
    if (data) $(`#${prefix.replace("-", "")}-guidance`).textContent = data.guidance_text;
  });
  $(`#${prefix.replace("-", "")}-capture`).addEventListener("click", async () => {
    const data = await call("POST", `/api/${prefix}/capture`);
    if (data) $(`#${prefix.replace("-", "")}-guidance`).textContent = data.views_text + " " + data.guidance_text;
    if (data && !data.accepted) fail(data.text || data.message);
  });
  $(`#${prefix.replace("-", "")}-solve`).addEventListener("click", () => call("POST", `/api/${prefix}/solve`));
}
boardForm("#camera-form", "camera");
boardForm("#handeye-form", "hand-eye");
$("#profile-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const values = {};
  for (const [key, raw] of new FormData(e.target)) {
    const value = key === "trigger_kind" ? raw : (raw === "" ? null : Number(raw));
    if (key.includes(".")) { const [outer, inner] = key.split("."); (values[outer] ||= {})[inner] = value; }
    else values[key] = value;
  }
  call("PUT", "/api/profile", { values });
});

$("#fov-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const fov = form.get("fov_deg");
  call("POST", "/api/camera/field-of-view", { fov_deg: fov === "" ? null : Number(fov), kind: form.get("kind") });
});
$("#face-override-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const value = form.get("face_scale");
  const data = await call("POST", "/api/profile/face-size/override",
                          { face_scale: value === "" ? null : Number(value), reason: form.get("reason") });
  if (data) $("#face-scale").textContent = value === "" ? $("#face-scale").dataset.none : Number(value).toFixed(2);
});
$("#face-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const data = await call("POST", "/api/profile/face-size", numbers(e.target));
  if (data) $("#face-scale").textContent = data.face_scale.toFixed(2);
});

// --- panels: pair with a one-time code, revoke ---
function showPanels(panels) {
  const list = $("#panels");
  if (!panels.length) { const li = document.createElement("li"); li.textContent = T.noPanels; list.replaceChildren(li); return; }
  list.replaceChildren(...panels.map((p) => {
    const li = document.createElement("li");
    const text = document.createElement("span");
    const when = p.active ? T.paired.replace("{at}", p.paired_at).replace("{by}", p.paired_by)
                          : T.revoked.replace("{at}", p.revoked_at).replace("{by}", p.revoked_by);
    text.textContent = `${p.name} (${p.panel_id}): ${when}`;
    li.append(text);
    if (p.active) {
      const button = document.createElement("button");
      button.type = "button"; button.className = "revoke"; button.dataset.panel = p.panel_id; button.textContent = T.revoke;
      li.append(" ", button);
    }
    return li;
  }));
}
async function reloadPanels() { const data = await call("GET", "/api/panels"); if (data) showPanels(data.panels); }
$("#panels").addEventListener("click", async (e) => {
  const id = e.target.dataset && e.target.dataset.panel;
  if (!id) return;
  if (await call("POST", `/api/panels/${encodeURIComponent(id)}/revoke`)) reloadPanels();
});
$("#pairing-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const data = await call("POST", "/api/panels/pairing-code", { name: new FormData(e.target).get("name") });
  if (!data) return;
  $("#pairing-code").textContent = data.code;
  $("#pairing-qr").src = data.qr_svg;
  $("#pairing-link").textContent = data.link;
  $("#pairing").hidden = false;
  setTimeout(() => { $("#pairing").hidden = true; reloadPanels(); }, data.expires_in_s * 1000);
});

// --- live status ---
async function refresh() {
  let data;
  try {
    const r = await fetch("/api/status");
    if (r.status === 401) { loggedOut(); return; }
    data = await r.json();
  } catch { return; }
  const arm = data.arm;
  $("#st-mode").textContent = arm ? arm.mode_text + (arm.fault_text ? ": " + arm.fault_text : "") : (data.meal.running ? data.meal.state_text : $("#st-mode").dataset.none);
  $("#st-joints").textContent = arm && arm.q_deg.length ? arm.q_deg.join(", ") : "-";
  $("#st-spoon").textContent = arm && arm.spoon_xyz_m.length ? arm.spoon_xyz_m.join(", ") : "-";
  $("#st-temps").textContent = arm && arm.temperature_c.length ? arm.temperature_c.join(", ") : "-";
  $("#st-jog").textContent = arm && arm.jog_operator ? arm.jog_operator : $("#st-jog").dataset.none;
  $("#st-meal").textContent = data.meal.running ? data.meal.state_text : (data.meal.result_text || $("#st-meal").dataset.none);
  data.calibration.bowls.forEach((bowl, i) => {
    const count = document.querySelector(`#bowl-${i}-label .count`);
    if (count) count.textContent = bowl.waypoints_text;
  });
}
setInterval(refresh, 500);
refresh();
