// approval-bot: keyboard shortcuts and live updates for the queue. Hand-written, no build.
// Live updates poll /queue/updates every few seconds (short polling, no server push).
"use strict";

// the menu's counts (Queue 3, Needs reply 1, Attention 2), on every signed-in page
(function () {
  const COUNTS_MS = 5000;
  if (document.body.dataset.counts !== "1") return;

  function show(counts) {
    for (const name of Object.keys(counts)) {
      const n = counts[name];
      document.querySelectorAll('[data-count="' + name + '"]').forEach(function (badge) {
        badge.textContent = n > 999 ? "999+" : String(n);
        badge.hidden = n === 0;
      });
    }
  }

  async function refresh() {
    try {
      const response = await fetch("/fragments/menu-counts", {
        headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      if (response.status === 401) return;
      if (response.ok) show(await response.json());
    } catch (error) {
      // offline for a moment: the counts stay as they were and are asked for again
    }
    window.setTimeout(refresh, COUNTS_MS);
  }

  window.setTimeout(refresh, COUNTS_MS);
})();

(function () {
  const POLL_MS = 3000;
  const body = document.body;
  if (body.dataset.live !== "queue") return;

  const cardsBox = document.getElementById("cards");
  const note = document.getElementById("live-note");
  const count = document.getElementById("pending-count");
  const dialog = document.getElementById("shortcuts");
  let current = null;

  function cards() {
    return Array.from(cardsBox.querySelectorAll("article.card:not(.decided)"));
  }

  function select(card) {
    if (current) current.classList.remove("current");
    current = card;
    if (card) {
      card.classList.add("current");
      card.focus({ preventScroll: true });
      card.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    const list = cards();
    if (!list.length) return;
    const at = list.indexOf(current);
    const next = at < 0 ? 0 : Math.min(list.length - 1, Math.max(0, at + step));
    select(list[next]);
  }

  function openAndFocus(card, detailsClass, selector) {
    const details = card.querySelector("details." + detailsClass);
    if (!details) return;
    details.open = true;
    const field = details.querySelector(selector);
    if (field) field.focus();
  }

  // claims: opening a card's edit box (or `c`) claims the draft for a few minutes, so
  // other reviewers see who is editing it; typing renews the claim once a minute
  const RENEW_MS = 60000;
  const claimedAt = new Map();

  function showClaim(card, claim) {
    const line = card.querySelector(".claim-line");
    if (!line) return;
    if (!claim) { line.hidden = true; return; }
    line.querySelector(".claim-text").textContent = claim.text; // text, never markup
    line.querySelector(".release-claim-form").hidden = !claim.mine;
    line.querySelector(".take-claim-form").hidden = claim.mine;
    line.hidden = false;
  }

  async function claim(card) {
    claimedAt.set(card.dataset.id, Date.now());
    try {
      const response = await fetch("/drafts/" + encodeURIComponent(card.dataset.id) + "/claim", {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRF-Token": body.dataset.csrf },
        credentials: "same-origin",
      });
      const data = await response.json();
      if (data.claim) showClaim(card, data.claim);
    } catch (error) {
      claimedAt.delete(card.dataset.id); // asked again at the next keystroke
    }
  }

  cardsBox.addEventListener("toggle", function (event) {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement)) return;
    const card = details.closest("article.card");
    // the reviewer opened or closed a box of this card: it may grow or shrink again
    if (!card.classList.contains("decided")) releaseSize(card);
    if (details.classList.contains("edit") && details.open) claim(card);
  }, true);

  cardsBox.addEventListener("input", function (event) {
    const card = event.target instanceof Element ? event.target.closest("article.card") : null;
    if (!card || !event.target.closest("details.edit")) return;
    if (Date.now() - (claimedAt.get(card.dataset.id) || 0) > RENEW_MS) claim(card);
  });

  // the bottom bar's Edit and Reject open the card's own form and put the cursor in it
  cardsBox.addEventListener("click", function (event) {
    const button = event.target instanceof Element ? event.target.closest("button[data-open]") : null;
    if (!button) return;
    const card = button.closest("article.card");
    select(card);
    openAndFocus(card, button.dataset.open, button.dataset.open === "edit" ? "textarea" : "input[name=reason]");
  });

  document.getElementById("shortcuts-toggle").addEventListener("click", function () {
    dialog.open ? dialog.close() : dialog.showModal();
  });

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ||
      target instanceof HTMLSelectElement;
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "?") { dialog.open ? dialog.close() : dialog.showModal(); return; }
    if (event.key === "j") { move(1); return; }
    if (event.key === "k") { move(-1); return; }
    const card = current || cards()[0];
    if (!card) return;
    if (event.key === "a") {
      event.preventDefault();
      card.querySelector("form.approve-form").requestSubmit();
    } else if (event.key === "e") {
      event.preventDefault();
      select(card);
      openAndFocus(card, "edit", "textarea");
    } else if (event.key === "c") {
      event.preventDefault();
      select(card);
      claim(card);
    } else if (event.key === "r") {
      event.preventDefault();
      select(card);
      openAndFocus(card, "reject", "input[name=reason]");
    }
  });

  // nothing a live update does moves a card under the reviewer's thumb: new replies go at
  // the end, the note above the cards keeps its one line, and a card an update changes
  // keeps its height (its bar stays at its bottom; what no longer fits scrolls inside it)
  function holdSize(card, height) {
    card.style.height = height;
    card.classList.add("held-size");
  }

  function keepSize(card) {
    if (!card.classList.contains("held-size")) holdSize(card, card.getBoundingClientRect().height + "px");
  }

  function releaseSize(card) {
    card.style.height = "";
    card.classList.remove("held-size");
  }

  function bump(step) {
    if (count) count.textContent = String(Math.max(0, Number(count.textContent) + step));
  }

  function markDecided(item) {
    const card = document.getElementById("card-" + item.id);
    if (!card || card.classList.contains("decided")) return;
    keepSize(card);
    card.classList.add("decided");
    card.querySelector(".actions").remove();
    card.querySelector(".claim-line").hidden = true;
    card.querySelectorAll("form").forEach(function (form) { form.remove(); });
    // the outcome takes the place of the buttons: under the thumb is what happened
    const outcome = card.querySelector(".outcome");
    outcome.textContent = item.text; // text, never markup
    outcome.hidden = false;
    card.querySelector(".card-bar").replaceChildren(outcome);
    if (current === card) select(null);
    bump(-1);
  }

  // a decided card stays in its place while the reviewer looks; it goes when the page is
  // loaded again (each decision reloads it) or once the reviewer leaves it for another app
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "hidden") return;
    cardsBox.querySelectorAll("article.card.decided").forEach(function (card) { card.remove(); });
  });

  async function appendCard(id) {
    const shown = document.getElementById("card-" + id);
    if (shown && !shown.classList.contains("decided")) return;
    const response = await fetch("/fragments/cards/" + encodeURIComponent(id), {
      headers: { Accept: "text/html" }, credentials: "same-origin",
    });
    if (!response.ok) return;
    // the fragment is rendered by the server with every value escaped
    const holder = document.createElement("div");
    holder.innerHTML = await response.text();
    const card = holder.querySelector("article.card");
    if (!card) return;
    const left = document.getElementById(card.id);
    if (left && !left.classList.contains("decided")) return;
    if (left) {
      // a reply back in the queue (a resume, the sending gate) takes its decided card's
      // place and height
      holdSize(card, left.style.height);
      left.replaceWith(card);
    } else {
      cardsBox.appendChild(card);
      const empty = document.getElementById("empty");
      if (empty) empty.remove();
    }
    bump(1);
  }

  // replies that arrive after this cursor are new; on the last page they are appended,
  // on an earlier page (the queue is oldest first) they are only counted
  let newest = cardsBox.dataset.newest || "0|0";
  const lastPage = cardsBox.dataset.lastPage === "1";
  let waiting = 0;

  async function poll() {
    const ids = cards().map(function (c) { return c.dataset.id; }).slice(0, 100);
    const query = new URLSearchParams({ ids: ids.join(","), after: newest });
    try {
      const response = await fetch("/queue/updates?" + query.toString(), {
        headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      if (response.status === 401) { note.textContent = "Signed out — reload to sign in again."; return; }
      if (response.ok) {
        const data = await response.json();
        data.decided.forEach(markDecided);
        ids.forEach(function (id) {
          const card = document.getElementById("card-" + id);
          if (!card || card.classList.contains("decided")) return;
          const claim = data.claims[id];
          const line = card.querySelector(".claim-line");
          const shown = line.hidden ? null : line.querySelector(".claim-text").textContent;
          if (shown === (claim ? claim.text : null)) return;
          keepSize(card);
          showClaim(card, claim);
        });
        if (data.arrived.length) {
          newest = data.newest;
          if (lastPage) {
            for (const id of data.arrived) await appendCard(id);
          } else {
            waiting += data.arrived.length;
            bump(data.arrived.length);
          }
          const n = lastPage ? data.arrived.length : waiting;
          note.textContent = n + " new repl" + (n === 1 ? "y" : "ies") +
            (lastPage ? ", added at the end." : ", at the end of the queue.");
        }
      }
    } catch (error) {
      note.textContent = "Connection lost; retrying…";
    }
    window.setTimeout(poll, POLL_MS);
  }

  window.setTimeout(poll, POLL_MS);
})();
