// Citizen panel. Touch, or one switch: Space moves the highlight to the next button, Enter
// selects it. With automatic scanning the highlight moves by itself and Space or Enter selects.
"use strict";
const SCAN_MS = Number(document.body.dataset.scanMs) || 1500;
const lang = document.body.dataset.lang;
const targets = [...document.querySelectorAll(".scan-target")];
const feedback = document.getElementById("feedback");
const stateBox = document.getElementById("state");
const pauseButton = document.getElementById("pause");
let highlighted = -1;
let autoTimer = null;

function highlight(index) {
  targets.forEach((t) => t.classList.remove("scanned"));
  highlighted = (index + targets.length) % targets.length;
  targets[highlighted].classList.add("scanned");
  targets[highlighted].focus();
}
function select() { if (highlighted >= 0) targets[highlighted].click(); }

document.addEventListener("keydown", (e) => {
  if (e.key === " ") { e.preventDefault(); if (autoTimer) select(); else highlight(highlighted + 1); }
  else if (e.key === "Enter") { e.preventDefault(); if (highlighted < 0) highlight(0); else select(); }
});
document.addEventListener("keyup", (e) => { if (e.key === " " || e.key === "Enter") e.preventDefault(); });

function setAutoScan(on) {
  clearInterval(autoTimer);
  autoTimer = on ? setInterval(() => highlight(highlighted + 1), SCAN_MS) : null;
  if (on) highlight(highlighted + 1);
}
const autoBox = document.getElementById("auto-scan");
autoBox.addEventListener("change", () => setAutoScan(autoBox.checked));
if (document.body.dataset.autoScan === "true") setAutoScan(true);

async function press(button) {
  const body = { command: button.dataset.command };
  if (button.dataset.bowl !== undefined) body.bowl = Number(button.dataset.bowl);
  try {
    const r = await fetch("/api/panel", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (r.status === 401) { notPaired(); return; }
    feedback.textContent = r.ok ? feedback.dataset.sent.replace("{what}", button.textContent.trim()) : feedback.dataset.refused;
  } catch {
    feedback.textContent = feedback.dataset.offline;
  }
  refresh();
}
targets.forEach((button, i) => button.addEventListener("click", () => { highlighted = i; press(button); }));

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
