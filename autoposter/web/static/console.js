// autoposter's console: progressive enhancement only; every page works without it.
// A live length counter under each text being edited (the server counts exactly
// as the network does, and refuses a text that is too long).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("textarea[data-limit]").forEach(function (area) {
    var out = area.form && area.form.querySelector("output.live");
    if (!out) { return; }
    var limit = parseInt(area.dataset.limit, 10);
    var update = function () {
      var n = Array.from(area.value).length;
      out.textContent = isNaN(limit) ? String(n) : n + " / " + limit;
      out.classList.toggle("over", !isNaN(limit) && n > limit);
    };
    area.addEventListener("input", update);
    update();
  });
});
