// approval-bot: the sandbox phone simulator keeps its phone view current by polling.
// Hand-written, no build; every text is set with textContent, never as markup.
"use strict";

(function () {
  const POLL_MS = 1500;
  const list = document.getElementById("phone-texts");
  if (!list) return;
  const note = document.getElementById("phone-note");
  const number = list.dataset.number;

  function render(texts) {
    const items = texts.map(function (t) {
      const li = document.createElement("li");
      li.className = "text " + (t.direction === "in" ? "in" : "out");
      const body = document.createElement("bdi");
      body.className = "body";
      body.textContent = t.body;
      const time = document.createElement("time");
      time.textContent = t.timestamp.slice(0, 19).replace("T", " ");
      li.append(body, time);
      return li;
    });
    list.replaceChildren.apply(list, items);
  }

  // what the view shows: redrawn only when the newest text or the count changes
  function fingerprint(texts) {
    const last = texts[texts.length - 1];
    return texts.length + "|" + (last ? last.timestamp + "|" + last.direction : "");
  }

  let seen = null;

  async function poll() {
    try {
      const response = await fetch("/simulator/texts?number=" + encodeURIComponent(number), {
        headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      if (response.status === 401) { note.textContent = "Signed out — reload to sign in again."; return; }
      if (response.ok) {
        const data = await response.json();
        const now = fingerprint(data.texts);
        if (now !== seen) {
          render(data.texts);
          if (list.lastElementChild) list.lastElementChild.scrollIntoView({ block: "nearest" });
        }
        seen = now;
      }
    } catch (error) {
      note.textContent = "Connection lost; retrying…";
    }
    window.setTimeout(poll, POLL_MS);
  }

  window.setTimeout(poll, POLL_MS);
})();
