// Citizen panel. The highlighted button is always the focused one, and the panel acts on exactly
// that button, by keyboard, switch and touch alike: Tab (or an arrow key) moves to the next
// button, Enter or Space presses it (the browser's own button behaviour, so nothing else is
// pressed). A two-switch interface sends Tab and Enter. With automatic scanning the focus moves
// by itself and one switch (Enter or Space) presses the button that is highlighted.
"use strict";
const SCAN_MS = Number(document.body.dataset.scanMs) || 1500;
const lang = document.body.dataset.lang;
const targets = [...document.querySelectorAll(".scan-target")];
const feedback = document.getElementById("feedback");
const stateBox = document.getElementById("state");
const pauseButton = document.getElementById("pause");
const autoBox = document.getElementById("auto-scan");
let autoTimer = null;

function focusedIndex() { return targets.indexOf(document.activeElement); }
function step(by) {
  const at = focusedIndex();
  targets[((at < 0 ? (by > 0 ? -1 : 0) : at) + by + targets.length) % targets.length].focus();
}

// Arrow keys move between the buttons too (Tab already does, natively).
document.getElementById("buttons").addEventListener("keydown", (e) => {
  if (e.key === "ArrowRight" || e.key === "ArrowDown") { e.preventDefault(); step(1); }
  else if (e.key === "ArrowLeft" || e.key === "ArrowUp") { e.preventDefault(); step(-1); }
});

// Automatic scanning: the focus moves on every SCAN_MS. It waits while someone has moved the
// focus to another control (the checkbox, the language link), so that control can be used.
function scanTick() {
  const outside = document.activeElement !== document.body && focusedIndex() < 0;
  if (!outside) step(1);
}
function setAutoScan(on) {
  clearInterval(autoTimer);
  autoTimer = on ? setInterval(scanTick, SCAN_MS) : null;
  if (on && focusedIndex() < 0) targets[0].focus();
}
autoBox.addEventListener("change", () => setAutoScan(autoBox.checked));
// A press restarts the dwell, so the button just pressed stays highlighted for a full period.
targets.forEach((t) => t.addEventListener("focus", () => { if (autoTimer) setAutoScan(true); }));
if (document.body.dataset.autoScan === "true") setAutoScan(true);

async function press(button) {
  const body = { command: button.dataset.command };
  if (button.dataset.bowl !== undefined) body.bowl = Number(button.dataset.bowl);
  try {
    const r = await fetch("/api/panel?lang=" + lang, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (r.status === 401) { notPaired(); return; }
    feedback.textContent = r.ok ? feedback.dataset.sent.replace("{what}", button.textContent.trim()) : await refusal(r);
  } catch {
    feedback.textContent = feedback.dataset.offline;
  }
  refresh();
}
targets.forEach((button) => button.addEventListener("click", () => press(button)));

// A refused press: the panel's own words, then why, in the panel's language (the answer's `text`;
// its English is for logs and scripts).
async function refusal(r) {
  const data = await r.json().catch(() => ({}));
  const why = typeof data.text === "string" ? data.text.trim() : "";
  return why ? `${feedback.dataset.refused}. ${why.charAt(0).toUpperCase()}${why.slice(1)}` : feedback.dataset.refused;
}

// The panel was revoked (or the robot forgot it): say so, then go to the pairing page.
function notPaired() {
  feedback.textContent = feedback.dataset.notPaired;
  setTimeout(() => location.assign("/pair?lang=" + lang), 3000);
}

async function refresh() {
  try {
    const r = await fetch("/api/panel/status?lang=" + lang);
    if (r.status === 401) { notPaired(); return; }
    const data = await r.json();
    stateBox.textContent = data.words;
    stateBox.className = "state tone-" + data.tone;
    pauseButton.dataset.command = data.paused ? "resume" : "pause";
    pauseButton.textContent = data.paused ? pauseButton.dataset.resume : pauseButton.dataset.pause;
  } catch {
    stateBox.textContent = feedback.dataset.offline;
    stateBox.className = "state tone-stopped";
  }
}
setInterval(refresh, 1000);
