// approval-bot: live SMS encoding and segment count under each reply's edit box.
// A port of approval_bot/sms_text.count_segments; the GSM 03.38 alphabet comes from the
// server's own codec (the #gsm-alphabet data block), so both count with one table.
"use strict";

(function () {
  const GSM_SINGLE = 160, GSM_PART = 153, UCS2_SINGLE = 70, UCS2_PART = 67, WARN_ABOVE = 3;
  const data = document.getElementById("gsm-alphabet");
  if (!data) return;
  const alphabet = JSON.parse(data.textContent);
  const basic = new Set(Array.from(alphabet.basic.join("")));
  const extended = new Set(Array.from(alphabet.extended.join("")));

  // parts of `part` units each; a character (an escape or surrogate pair) is never split
  function packed(costs, part) {
    let count = 1, room = part;
    for (const cost of costs) {
      if (cost > room) { count += 1; room = part; }
      room -= cost;
    }
    return count;
  }

  function countSegments(text) {
    const chars = Array.from(text); // code points, as Python iterates a str
    let forcedBy = null;
    for (const ch of chars) {
      if (!basic.has(ch) && !extended.has(ch)) { forcedBy = ch; break; }
    }
    const gsm = forcedBy === null;
    const costs = chars.map(function (ch) {
      return gsm ? (extended.has(ch) ? 2 : 1) : (ch.codePointAt(0) > 0xffff ? 2 : 1);
    });
    const units = costs.reduce(function (a, b) { return a + b; }, 0);
    const single = gsm ? GSM_SINGLE : UCS2_SINGLE, part = gsm ? GSM_PART : UCS2_PART;
    return {
      encoding: gsm ? "GSM-7" : "UCS-2",
      segments: units <= single ? 1 : packed(costs, part),
      units: units,
      forced_by: forcedBy,
    };
  }
  window.countSegments = countSegments;

  function describe(count) {
    const plural = count.segments === 1 ? "" : "s";
    let words = count.encoding + " · " + count.segments + " segment" + plural;
    if (count.segments > WARN_ABOVE) {
      words += " — over " + WARN_ABOVE;
      if (count.forced_by !== null) words += "; UCS-2 because of “" + count.forced_by + "”";
    }
    return words;
  }

  function show(box) {
    const meter = box.parentElement.querySelector(".segment-meter");
    if (!meter) return;
    const count = countSegments(box.value);
    meter.textContent = describe(count); // text, never markup
    meter.classList.toggle("warn", count.segments > WARN_ABOVE);
    meter.hidden = false;
  }

  document.addEventListener("input", function (event) {
    if (event.target instanceof HTMLTextAreaElement && "segments" in event.target.dataset) {
      show(event.target);
    }
  });
  document.querySelectorAll("textarea[data-segments]").forEach(show);
  // cards the queue appends later are counted when first typed into, like any other
})();
