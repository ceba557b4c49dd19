// Pairing page: the tablet sends the one-time code staff were shown; once paired, the robot keeps
// the panel's credential in an HttpOnly cookie and the panel opens. A QR code's link carries the
// code after '#', which never reaches any server.
"use strict";
const form = document.getElementById("pair-form");
const input = document.getElementById("code");
const feedback = document.getElementById("feedback");
if (location.hash.length > 1) input.value = decodeURIComponent(location.hash.slice(1));

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const r = await fetch("/api/pair", { method: "POST", headers: { "Content-Type": "application/json" },
                                        body: JSON.stringify({ code: input.value }) });
    if (!r.ok) { feedback.textContent = form.dataset.wrong; return; }
    feedback.textContent = form.dataset.done;
    history.replaceState(null, "", location.pathname + location.search);  // forget the code
    location.assign("/panel?lang=" + document.body.dataset.lang);
  } catch {
    feedback.textContent = form.dataset.offline;
  }
});
