// refundwatch support pages: live at-risk list, ticking countdowns, timeline filters.
// No framework, no external script; the pages work without it (just not live).
(function () {
  "use strict";

  function timeLeft(seconds) {
    var prefix = seconds < 0 ? "overdue " : "";
    var left = Math.abs(Math.trunc(seconds));
    var d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600);
    var m = Math.floor((left % 3600) / 60), s = left % 60;
    var pad = function (n) { return n < 10 ? "0" + n : String(n); };
    if (d) return prefix + d + "d " + h + "h";
    if (h) return prefix + h + "h " + pad(m) + "m";
    if (m) return prefix + m + "m " + pad(s) + "s";
    return prefix + s + "s";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("td[data-deadline]").forEach(function (cell) {
      var seconds = (Date.parse(cell.dataset.deadline) - now) / 1000;
      cell.textContent = timeLeft(seconds);
      cell.classList.toggle("urgent", seconds < 600);
      cell.classList.toggle("soon", seconds >= 600 && seconds < 3600);
    });
  }

  function startRefresh(status) {
    var target = document.getElementById(status.dataset.refreshTarget);
    var url = status.dataset.refreshUrl;
    var box = status.parentElement;
    function refresh() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (response.status === 401) {
            box.classList.add("stale");
            status.textContent = (status.dataset.signedOut || "Signed out") + " · ";
            var again = document.createElement("a");
            again.href = "/support/login?next=/support";
            again.textContent = status.dataset.signIn || "sign in again";
            status.appendChild(again);
            clearInterval(timer);
            return null;
          }
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.text();
        })
        .then(function (html) {
          if (html === null) return;
          target.innerHTML = html;
          tick();
          box.classList.remove("stale");
          status.textContent = (status.dataset.live || "Live · updated") + " " + new Date().toISOString().slice(0, 19).replace("T", " ") + " UTC";
        })
        .catch(function () {
          box.classList.add("stale");
          status.textContent = status.dataset.stale || "Not updating: the server did not answer; retrying…";
        });
    }
    var timer = setInterval(refresh, 5000);
  }

  function startFilters(fieldset) {
    var list = document.getElementById(fieldset.dataset.filterTarget);
    fieldset.addEventListener("change", function () {
      var shown = {};
      fieldset.querySelectorAll("input[type=checkbox]").forEach(function (box) { shown[box.value] = box.checked; });
      list.querySelectorAll("li[data-source]").forEach(function (item) {
        var folded = item.hasAttribute("data-bookkeeping") && !shown.bookkeeping;
        item.hidden = !shown[item.dataset.source] || folded;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var status = document.querySelector("[data-refresh-url]");
    if (status) startRefresh(status);
    document.querySelectorAll("fieldset[data-filter-target]").forEach(startFilters);
    if (document.querySelector("td[data-deadline]")) setInterval(tick, 1000);
  });
})();
